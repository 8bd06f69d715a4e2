package telemetron

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// FuzzRequests feeds arbitrary bodies and queries to every request
// decoder: the emulator answers 2xx or 4xx, never 5xx, and a 4xx carries
// the reference's {message}.
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{
		`[{"date":"2026-11-22T17:00:00Z","code":"EA1A","payload":[1]}]`,
		`{"date":"2026-11-22T17:00:00Z","data":"DXS*1\r\nST*001*1\r\nSE*2*1\r\nDXE*1*1\r\n","evadts_port":"2"}`,
		`{"data":[{"component_id":1,"add":9223372036854775807}],"created_at":"2026-11-22T17:00:00+03:00"}`,
		`{"data":[{"component_id":1,"loaded":-1,"layout_number":"A1"}]}`,
		`[{"time":"2026-11-22T17:00:00Z","name":"x","vend_type":3,"payment_type":1,"price":1000000000000,"number":1000000,"value":1000000000000000000}]`,
		`{"report":true,"config":null}`, `{"state":1,"service":{"need_loading":true}}`, `{"last_service":"2026-11-22 17:00:00+03"}`,
		`{"grant_type":"refresh_token","client_id":"tapagent","client_secret":"tapagent-secret","refresh_token":"x"}`, `null`, `[`,
	} {
		f.Add(seed, "since=2026-11-22T00:00:00+03:00&cp1251=1&base64=1&port=2&type=paid")
	}
	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	posts := []string{"/events", "/reports", "/loading", "/inventory", "/sales", "/request", "/state", "/timestamp", "/config", ""}
	gets := []string{"/events", "/reports", "/reports/last", "/stats/vends/summary", "/stats/vends/products", "/stats/vends/payments", "/loading"}
	f.Fuzz(func(t *testing.T, body, query string) {
		s, err := New(Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		h := s.Handler()
		s.mu.Lock()
		tok := "Bearer " + s.mustToken()
		s.mu.Unlock()
		for _, p := range posts {
			method := "POST"
			if p == "" {
				method = "PUT"
			}
			req := httptest.NewRequest(method, vm+p, strings.NewReader(body))
			req.URL.RawQuery = query
			req.Header.Set("Authorization", tok)
			check(t, h, req)
		}
		auth := httptest.NewRequest("POST", "/auth/", strings.NewReader(body))
		auth.Header.Set("Content-Type", "application/json")
		check(t, h, auth)
		for _, p := range gets {
			req := httptest.NewRequest("GET", vm+p, nil)
			req.URL.RawQuery = query
			req.Header.Set("Authorization", tok)
			check(t, h, req)
		}
	})
}

// mustToken issues an access token directly; mu held.
func (s *Server) mustToken() string {
	rep, err := s.token(httptest.NewRequest("POST", "/auth/?grant_type=password&client_id=tapagent&client_secret=tapagent-secret&username=tapagent@example.com&password=tapagent", nil))
	if err != nil {
		panic(err)
	}
	return rep.body.(tokenReply).AccessToken
}

func check(t *testing.T, h http.Handler, req *http.Request) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	what := req.Method + " " + req.URL.String()
	if rec.Code < 500 && strings.Contains(rec.Header().Get("Content-Type"), "windows-1251") {
		return // a cp1251 report, not JSON
	}
	if err := cloudemu.CheckReply(rec.Code, rec.Body.Bytes(), "message"); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
