package clientcontrol_test

import (
	"encoding/json"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/testwait"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/clientcontrol"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/ttg"
)

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestUnauthenticatedCallsPourNothing is the free pint: a remote login
// with credit -1 (bill pay) and its purchase, sent by anyone on the
// network straight to the tap, must neither hold nor open a line.
func TestUnauthenticatedCallsPourNothing(t *testing.T) {
	r := newRig(t)
	evil := mustJSON(login(2, small, -1, 1, "EVIL"))
	pay := mustJSON(ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: "EVIL", PaymentID: "free"})
	cases := []struct {
		name    string
		headers map[string]string
	}{
		{"no credentials", nil},
		{"wrong token", map[string]string{"Authorization": "Bearer " + ctlToken + "x"}},
		{"token without scheme", map[string]string{"Authorization": ctlToken}},
		{"basic scheme", map[string]string{"Authorization": "Basic " + ctlToken}},
		{"X-API-Key is not for control", map[string]string{"X-API-Key": ctlToken}},
		{"forwarded-for the server", map[string]string{"X-Forwarded-For": "127.0.0.1"}},
	}
	for _, c := range cases {
		for call, body := range map[string]string{"remoteLogin": evil, "remoteLoginPurchase": pay,
			"restartClientApplication": `{"deviceID": 1001}`, "setBacklightBrightness": `{"brightness": 0}`} {
			req, _ := http.NewRequest("POST", r.ctl.URL+"/"+call, strings.NewReader(body))
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			json.NewDecoder(res.Body).Decode(&m)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || code(m) != ttg.RLUnexpected || res.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s, %s: %d %v", c.name, call, res.StatusCode, m)
			}
		}
	}
	r.wall.Board.Line(2).Pour([]sim.Point{{T: 0, MLs: 50}, {T: 10 * time.Second, MLs: 50}})
	r.run(5 * time.Second)
	if r.wall.Board.Line(2).Truth().ValveOpen {
		t.Fatal("the valve opened for an unauthenticated caller")
	}
	r.wall.Board.Line(2).ReleaseHandle()
	if r.restarts.Load() != 0 || r.agent.Backlight() == 0 {
		t.Fatal("an unauthenticated call acted")
	}
	// The line was never held: the server's own login gets it.
	if c := code(r.call("remoteLogin", login(2, small, 1000, 1, "REAL"))); c != 0 {
		t.Fatalf("the server's login after the attempts: %d", c)
	}
}

// TestForwardedForDoesNotPassTheAllowList: with an allow-list naming the
// TTG server, a caller elsewhere claiming the server's address in a
// forwarding header is still refused, and pours nothing.
func TestForwardedForDoesNotPassTheAllowList(t *testing.T) {
	r := newRig(t)
	const server = "192.0.2.1" // the TTG server; the test's caller is 127.0.0.1
	srv, err := clientcontrol.Serve("127.0.0.1:0", clientcontrol.Options{Agent: r.agent, DeviceID: 1001,
		Access: clientcontrol.Access{Allow: []netip.Prefix{netip.MustParsePrefix(server + "/32")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	evil := mustJSON(login(2, small, -1, 1, "EVIL"))
	pay := mustJSON(ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: "EVIL", PaymentID: "free"})
	for _, h := range []map[string]string{
		{"X-Forwarded-For": server},
		{"X-Forwarded-For": server + ", 127.0.0.1"},
		{"X-Real-IP": server},
		{"Forwarded": "for=" + server},
		{"X-Forwarded-For": server, "Authorization": "Bearer " + ctlToken},
	} {
		for _, call := range []struct{ name, body string }{{"remoteLogin", evil}, {"remoteLoginPurchase", pay}} {
			req, _ := http.NewRequest("POST", srv.URL+"/"+call.name, strings.NewReader(call.body))
			for k, v := range h {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			json.NewDecoder(res.Body).Decode(&m)
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden || code(m) != ttg.RLUnexpected {
				t.Errorf("%v, %s: %d %v", h, call.name, res.StatusCode, m)
			}
		}
	}
	r.wall.Board.Line(2).Pour([]sim.Point{{T: 0, MLs: 50}, {T: 10 * time.Second, MLs: 50}})
	r.run(5 * time.Second)
	if r.wall.Board.Line(2).Truth().ValveOpen {
		t.Fatal("the valve opened for a forwarded-for caller")
	}
	r.wall.Board.Line(2).ReleaseHandle()
	if c := code(r.call("remoteLogin", login(2, small, 1000, 1, "REAL"))); c != 0 {
		t.Fatalf("the line was held by a refused caller: %d", c)
	}
}

// TestAllowList admits the TTG server's address only, and the server
// tells its caller when the tap refuses it.
func TestAllowList(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct {
		allow string
		code  int
	}{{"192.0.2.1/32", ttg.RLUnexpected}, {"127.0.0.1/32", 0}} {
		srv, err := clientcontrol.Serve("127.0.0.1:0", clientcontrol.Options{Agent: r.agent, DeviceID: 1001,
			Access: clientcontrol.Access{Allow: []netip.Prefix{netip.MustParsePrefix(c.allow)}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.up.Server.RegisterClient(1001, srv.URL, ""); err != nil {
			t.Fatal(err)
		}
		res := r.call("getdevicestatus", ttg.DeviceRequest{DeviceID: 1001})
		srv.Close()
		if code(res) != c.code {
			t.Fatalf("allow %s: %v", c.allow, res)
		}
		if c.code != 0 && !strings.Contains(res["errorDescriptionAPI"].(string), "403 Forbidden") {
			t.Fatalf("allow %s: the server does not say the tap refused it: %v", c.allow, res)
		}
	}
}

// TestServerWithWrongToken: a server registered with a stale token is
// refused and says so.
func TestServerWithWrongToken(t *testing.T) {
	r := newRig(t)
	if err := r.up.Server.RegisterClient(1001, r.ctl.URL, "stale-token-0123456789"); err != nil {
		t.Fatal(err)
	}
	res := r.call("remoteLogin", login(2, small, 1000, 1, "T-1"))
	if code(res) != ttg.RLUnexpected || !strings.Contains(res["errorDescriptionAPI"].(string), "401 Unauthorized") {
		t.Fatalf("stale token: %v", res)
	}
}

// TestRestartIsRateLimited: one restart per interval, counted from the
// start, so that no caller can keep the wall restarting.
func TestRestartIsRateLimited(t *testing.T) {
	r := newRig(t)
	refused := func(when string) {
		t.Helper()
		status, m := r.direct("restartClientApplication", `{"deviceID": 1001}`, "Bearer "+ctlToken)
		if status != http.StatusTooManyRequests || code(m) != ttg.RLWorkflow || !strings.Contains(m["errorDescriptionClient"].(string), "at most one per 10s") {
			t.Fatalf("%s: %d %v", when, status, m)
		}
	}
	refused("right after the start")
	if c := code(r.call("restartClientApplication", ttg.DeviceRequest{DeviceID: 1001})); c != ttg.RLWorkflow {
		t.Fatalf("through the server right after the start: %d", c)
	}
	r.run(restartEvery)
	if c := code(r.call("restartClientApplication", ttg.DeviceRequest{DeviceID: 1001})); c != 0 {
		t.Fatalf("after the interval: %d", c)
	}
	for i := 0; i < 5; i++ {
		refused("again at once")
	}
	testwait.Until(t, 5*time.Second, "a restart is requested", func() bool { return r.restarts.Load() != 0 })
	if n := r.restarts.Load(); n != 1 {
		t.Fatalf("%d restarts, want 1", n)
	}
	for found := false; !found; {
		select {
		case ev := <-r.events:
			found = ev.Type == device.EventRestartRefused
		case <-time.After(5 * time.Second):
			t.Fatal("no restart_refused event")
		}
	}
}

// TestRetryAfter says when the next restart is allowed.
func TestRetryAfter(t *testing.T) {
	r := newRig(t)
	r.run(3 * time.Second)
	req, _ := http.NewRequest("POST", r.ctl.URL+"/restartClientApplication", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+ctlToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Retry-After"); got != "7" {
		t.Fatalf("Retry-After %q, want 7", got)
	}
}

// TestHugeBody is refused before it is read whole.
func TestHugeBody(t *testing.T) {
	r := newRig(t)
	body := `{"cardId": "` + strings.Repeat("1", clientcontrol.MaxBody) + `"}`
	status, m := r.direct("remoteLogin", body, "Bearer "+ctlToken)
	if status != http.StatusRequestEntityTooLarge || code(m) != ttg.RLInvalidJSON {
		t.Fatalf("%d bytes: %d %v", len(body), status, m)
	}
}

// TestServeRefusesExposed: no listener reachable from the network unless
// something authenticates its callers: a real token (the same check as
// control.token's validation) or a narrow allow-list.
func TestServeRefusesExposed(t *testing.T) {
	r := newRig(t)
	narrow := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	cases := []struct {
		name, listen string
		access       clientcontrol.Access
		want         string // "" starts
	}{
		{"nothing on 0.0.0.0", "0.0.0.0:0", clientcontrol.Access{}, "control.token"},
		{"nothing on a port only", ":0", clientcontrol.Access{}, "control.token"},
		{"nothing on [::]", "[::]:0", clientcontrol.Access{}, "control.token"},
		{"placeholder token", "0.0.0.0:0", clientcontrol.Access{Token: "change-me"}, "placeholder"},
		{"short token", "0.0.0.0:0", clientcontrol.Access{Token: "s3cret"}, "shorter than 16"},
		{"allow everyone", "0.0.0.0:0", clientcontrol.Access{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "admits more than a /16"},
		{"allow every IPv6", "[::]:0", clientcontrol.Access{Allow: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "admits more than a /48"},
		{"narrow allow-list", "0.0.0.0:0", clientcontrol.Access{Allow: narrow}, ""},
		{"real token", "0.0.0.0:0", clientcontrol.Access{Token: ctlToken}, ""},
		{"wide allow-list with a real token", "0.0.0.0:0", clientcontrol.Access{Token: ctlToken, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, ""},
		{"loopback, nothing", "127.0.0.1:0", clientcontrol.Access{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, err := clientcontrol.Serve(c.listen, clientcontrol.Options{Agent: r.agent, DeviceID: 1001, Access: c.access})
			if srv != nil {
				srv.Close()
			}
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Serve = %v; want %q", err, c.want)
			}
		})
	}
}

// TestHostileRemoteLoginNumbers: credit below -1 (only -1 means bill pay),
// a negative volume consumed (it would lift the servings limit) and
// volumes that overflow in conversion are invalid, not a free or unlimited
// pour; even from an authenticated caller.
func TestHostileRemoteLoginNumbers(t *testing.T) {
	r := newRig(t)
	cases := []struct {
		name string
		edit func(*ttg.RemoteLoginRequest)
	}{
		{"credit -5", func(q *ttg.RemoteLoginRequest) { q.Credit = -5 }},
		{"credit min int64", func(q *ttg.RemoteLoginRequest) { q.Credit = -1 << 63 }},
		{"negative volume consumed", func(q *ttg.RemoteLoginRequest) { q.VolumeConsumed = -1_000_000_000 }},
		{"huge volume consumed", func(q *ttg.RemoteLoginRequest) { q.VolumeConsumed = 1 << 62 }},
		{"overflowing volume", func(q *ttg.RemoteLoginRequest) { q.VolumeLimit, q.VolumeLimitSession = 1<<62, 1<<62 }},
	}
	for i, c := range cases {
		q := login(2, small, 1000, 1, "H-"+strconv.Itoa(i))
		c.edit(&q)
		_, m := r.direct("remoteLogin", mustJSON(q), "Bearer "+ctlToken)
		if code(m) != ttg.RLInvalidJSON {
			t.Errorf("%s: %v", c.name, m)
		}
	}
	if c := code(r.call("remoteLogin", login(2, small, -1, 1, "BILL"))); c != 0 {
		t.Fatalf("bill pay (-1) is refused: %d", c)
	}
}
