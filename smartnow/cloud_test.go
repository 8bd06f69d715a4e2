package smartnow

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// cloud is a loopback SmartNow for the client's own tests: login and
// refresh hand out JWT-shaped tokens with an exp claim, revenue
// transactions and logs are kept by remote (409 for one already there),
// a document with a negative price or PLU 999 is refused with 422. sim/smartnow is
// the full emulator; this one only has to behave like the reference on the
// resources the client uses.
type cloud struct {
	t   testing.TB
	srv *httptest.Server
	now func() time.Time

	mu       sync.Mutex
	life     time.Duration
	tokens   map[string]time.Time // access token → expiry
	refresh  map[string]bool
	logins   int
	refreshs int
	revenue  map[uint64]RevenueTransaction
	logs     map[uint64]Log
	posts    int
	redeemed map[string]Order
	demands  map[string]int64
	n        int
	fail     int // answer this many data requests with 503
}

func newCloud(t testing.TB, now func() time.Time) *cloud {
	c := &cloud{t: t, now: now, life: 10 * time.Minute, tokens: map[string]time.Time{}, refresh: map[string]bool{},
		revenue: map[uint64]RevenueTransaction{}, logs: map[uint64]Log{}, redeemed: map[string]Order{}, demands: map[string]int64{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cloud) issue() Tokens {
	c.n++
	exp := c.now().Add(c.life)
	claims, _ := json.Marshal(map[string]int64{"exp": exp.Unix()})
	acc := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(claims) + fmt.Sprintf(".sig%d", c.n)
	ref := fmt.Sprintf("refresh-%d", c.n)
	c.tokens[acc], c.refresh[ref] = exp, true
	return Tokens{Access: acc, Refresh: ref}
}

func (c *cloud) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch r.URL.Path {
	case "/auth/login":
		var in struct{ Username, Password string }
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Username != "wall" || in.Password != "secret" {
			reply(http.StatusUnauthorized, map[string]string{"message": "invalid credentials"})
			return
		}
		c.logins++
		reply(http.StatusOK, c.issue())
		return
	case "/auth/refresh":
		var in struct {
			Refresh string `json:"refresh_token"`
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil || !c.refresh[in.Refresh] {
			reply(http.StatusUnauthorized, map[string]string{"message": "invalid refresh token"})
			return
		}
		delete(c.refresh, in.Refresh)
		c.refreshs++
		reply(http.StatusOK, c.issue())
		return
	}
	exp, ok := c.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !ok || !c.now().Before(exp) {
		reply(http.StatusUnauthorized, map[string]string{"message": "token expired"})
		return
	}
	if c.fail > 0 {
		c.fail--
		reply(http.StatusServiceUnavailable, map[string]string{"message": "maintenance"})
		return
	}
	c.posts++
	switch r.URL.Path {
	case "/revenuetransaction":
		var rt RevenueTransaction
		if err := json.NewDecoder(r.Body).Decode(&rt); err != nil || rt.Price < 0 || len(rt.PaymentTransactions) == 0 || rt.InternalRef == "999" {
			reply(http.StatusUnprocessableEntity, map[string]string{"message": "invalid revenue transaction"})
			return
		}
		if _, dup := c.revenue[rt.Remote]; dup {
			reply(http.StatusConflict, map[string]string{"message": "duplicate remote"})
			return
		}
		c.revenue[rt.Remote] = rt
		reply(http.StatusCreated, map[string]int{"id": len(c.revenue)})
	case "/log":
		var lg Log
		if err := json.NewDecoder(r.Body).Decode(&lg); err != nil || lg.Code == "" {
			reply(http.StatusBadRequest, map[string]string{"message": "invalid log"})
			return
		}
		if _, dup := c.logs[lg.Remote]; dup {
			reply(http.StatusConflict, map[string]string{"message": "duplicate remote"})
			return
		}
		c.logs[lg.Remote] = lg
		reply(http.StatusCreated, map[string]int{"id": len(c.logs)})
	default:
		rest, voucher := strings.CutPrefix(r.URL.Path, "/voucher/")
		code, redeem := strings.CutSuffix(rest, "/redeem")
		if !voucher || !redeem {
			reply(http.StatusNotFound, map[string]string{"message": "no such resource"})
			return
		}
		var in struct {
			DeviceID string `json:"deviceId"`
			Order    Order  `json:"order"`
			Demand   *struct {
				Amount int64 `json:"amount"`
			} `json:"demand"`
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.DeviceID == "" || in.Order.ID == "" {
			reply(http.StatusBadRequest, map[string]string{"message": "invalid redeem"})
			return
		}
		if _, dup := c.redeemed[in.Order.ID]; dup {
			reply(http.StatusOK, Redemption{Code: code, Redeemed: false, Reason: "already redeemed"})
			return
		}
		c.redeemed[in.Order.ID] = in.Order
		if in.Demand != nil {
			c.demands[in.Order.ID] = in.Demand.Amount
		}
		reply(http.StatusOK, Redemption{Code: code, Redeemed: true})
	}
}

// revoke makes every token the cloud gave out invalid (a server restart).
func (c *cloud) revoke() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens, c.refresh = map[string]time.Time{}, map[string]bool{}
}

func (c *cloud) counts() (logins, refreshs, revenue, logs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logins, c.refreshs, len(c.revenue), len(c.logs)
}
