package telemetronapi_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/telemetronapi"
)

// FuzzQuery feeds the query parsers (times, periods, report flags) any
// query string: each answers a value or an error, and an accepted period
// keeps the resource's window and depth.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"since=2018-01-01T00:00:00+03:00&until=2018-01-02T00:00:00+03:00",
		"since=2018-01-01 00:00:00+03&until=2018-01-07 00:00:00+03", "since=2018-01-01T00:00:00 03:00",
		"cp1251=1&base64=1&port=2", "since=2018-01-01T00:00:00Z", "port=-1", "since=%zz", "until=9999-12-31T23:59:59-23:59"} {
		f.Add(s)
	}
	now := time.Date(2018, 1, 8, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		_, _ = telemetronapi.ParseTime(q.Get("since"))
		def := telemetronapi.Period{Since: now.Add(-time.Hour), Until: now}
		p, err := telemetronapi.ParsePeriod(q, now, def, 7*24*time.Hour, 14*24*time.Hour)
		if err == nil && (p.Until.Before(p.Since) || p.Until.Sub(p.Since) > 7*24*time.Hour || p.Since.Before(now.Add(-14*24*time.Hour))) {
			t.Fatalf("accepted %v..%v", p.Since, p.Until)
		}
		if fl, err := telemetronapi.ParseReportFlags(q); err == nil && (fl.Port < 0 || fl.Port > 2) {
			t.Fatalf("port %d", fl.Port)
		}
	})
}

// FuzzTokenRequest feeds the OAuth2 token request parser any query, body
// and content type: it answers a request that names a grant, a client and
// that grant's credentials, or an error.
func FuzzTokenRequest(f *testing.F) {
	f.Add("", "application/json", `{"grant_type":"password","client_id":"a","client_secret":"b","username":"u","password":"p"}`)
	f.Add("grant_type=refresh_token&client_id=a&client_secret=b&refresh_token=r", "", "")
	f.Add("", "application/x-www-form-urlencoded", "grant_type=password&client_id=a&client_secret=b&username=u&password=p")
	f.Add("", "application/json; charset=utf-8", `{"grant_type":"password"}{}`)
	f.Add("grant_type=password&grant_type=x", "", "")
	f.Fuzz(func(t *testing.T, query, ctype, body string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req, err := telemetronapi.ParseTokenRequest(q, ctype, []byte(body))
		if err != nil {
			return
		}
		if req.ClientID == "" || req.ClientSecret == "" {
			t.Fatalf("accepted without a client: %+v", req)
		}
		switch req.GrantType {
		case "password":
			if req.Username == "" || req.Password == "" {
				t.Fatalf("password grant without credentials: %+v", req)
			}
		case "refresh_token":
			if req.RefreshToken == "" {
				t.Fatalf("refresh grant without a token: %+v", req)
			}
		default:
			t.Fatalf("grant %q accepted", req.GrantType)
		}
	})
}
