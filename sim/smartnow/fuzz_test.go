package smartnow

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// FuzzRequests feeds arbitrary bodies and queries to every request
// decoder: the emulator must answer 2xx or 4xx with a JSON body, and a
// 4xx must carry the reference's {message}.
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{
		`{"machine":80,"occurredAt":"2026-11-22T19:00:00+01:00","timeZone":"Europe/Amsterdam","timestamp":1795370400,"price":1,"currency":"EUR","remote":1,"paymentTransactions":[{"method":"cash","price":1}]}`,
		`{"deviceId":"tap-1","lockDuration":1e300,"demand":{"amount":-1}}`,
		`{"deviceId":"tap-1","order":{"id":"1","amount":9223372036854775807,"items":[{"productId":"5","quantity":1,"price":1}]},"demand":{"amount":1}}`,
		`{"machine":80,"code":"X","occurredAt":"2026-11-22T19:00:00+01:00","timeZone":"Europe/Amsterdam","extraData":"{"}`,
		`[{"plu":1,"name":"a","price":1}]`, `{"params":[1,2]}`, `{"success":true}`, `null`, `{`, `"x"`,
	} {
		f.Add(seed, "where[price][gte]=1&sort=price desc")
	}
	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	// A fresh emulator per input: the state must not grow across inputs.
	fresh := func(t *testing.T) (http.Handler, string) {
		s, err := New(Options{Machines: testMachines, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		h := s.Handler()
		s.mu.Lock()
		tok := s.issue("tapagent").AccessToken
		s.mu.Unlock()
		for _, body := range []string{`{"name":"c","totalVouchers":1,"voucherValue":5,"type":"gift"}`} {
			h.ServeHTTP(httptest.NewRecorder(), authed(httptest.NewRequest("POST", "/campaign", strings.NewReader(body)), tok))
		}
		h.ServeHTTP(httptest.NewRecorder(), authed(httptest.NewRequest("POST", "/voucher", strings.NewReader(`{"campaign":82,"type":"gift","value":5,"code":"G"}`)), tok))
		return h, tok
	}
	targets := []string{"/revenuetransaction", "/log", "/voucher/G/validate", "/voucher/G/redeem", "/campaign", "/voucher",
		"/machine", "/machine/80/product", "/command/x/hostname/tap-1", "/machine/80/commands/1/result", "/auth/login", "/auth/refresh"}
	f.Fuzz(func(t *testing.T, body, query string) {
		h, tok := fresh(t)
		for _, path := range targets {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, authed(httptest.NewRequest("POST", path, strings.NewReader(body)), tok))
			check(t, path, rec)
		}
		for _, path := range []string{"/revenuetransaction", "/log", "/voucher", "/machine"} {
			req := httptest.NewRequest("GET", path, nil)
			req.URL.RawQuery = query
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, authed(req, tok))
			check(t, path+"?"+query, rec)
		}
	})
}

func authed(r *http.Request, tok string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func check(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	// An empty body is fine: count > 1 voucher creation answers with none.
	if err := cloudemu.CheckReply(rec.Code, rec.Body.Bytes(), "message"); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
