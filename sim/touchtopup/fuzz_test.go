package touchtopup

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzRequests feeds arbitrary paths and bodies to the path-parameter
// parser and every method: the answer is JSON with a status, never a 5xx.
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{"accounts/customer_balance/coid/1/custid/5", "accounts/make_payment/coid/1/custid/5/pmtType/1/amt/999999999.99",
		"users/user_create", "accounts/validate_accountkey/linkkey/000001-000005-1", "accounts/transaction_detail/tid/1/coid/1/format/xml", "a//b"} {
		f.Add(seed, `email=a%40b.c&password=secret1&uid=1&linkkey=000001-000005-1`)
	}
	now := time.Date(2026, 6, 16, 7, 54, 7, 0, time.UTC)
	f.Fuzz(func(t *testing.T, path, body string) {
		s, err := New(Options{Now: func() time.Time { return now }, Companies: []Company{{ID: 1, Customers: map[int64]*Customer{5: {ID: 5, Balance: 10}}}}})
		if err != nil {
			t.Fatal(err)
		}
		h := s.Handler()
		for _, method := range []string{"GET", "POST"} {
			req := httptest.NewRequest(method, "/", strings.NewReader(body))
			req.URL.Path = "/index.php/" + path
			req.Header.Set("X-API-KEY", "tapagent-key")
			if strings.HasPrefix(body, "{") {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
			}
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/xml") {
				continue
			}
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out["status"] == nil {
				t.Fatalf("%s %s: %q %v", method, path, rec.Body, err)
			}
			if out["status"] == 0.0 && out["msg"] == nil {
				t.Fatalf("%s %s: refusal without msg: %s", method, path, rec.Body)
			}
		}
	})
}
