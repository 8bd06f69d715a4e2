package web

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseUsers: a damaged users file is refused, never half-read, and
// whatever it accepts holds only valid names and roles.
func FuzzParseUsers(f *testing.F) {
	f.Add([]byte(`{"v":1,"users":[{"name":"ann","role":"operator","hash":"$2a$10$abcdefghijklmnopqrstuuMEUjNqKMl1O3yC0Hd4m1mY3aFE0tHYi"}]}`))
	f.Add([]byte(`{"v":1,"users":[]}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"users":[{"name":"a b","role":"root","hash":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		users, err := ParseUsers(b)
		if err != nil {
			return
		}
		for _, u := range users {
			if checkName(u.Name) != nil || (u.Role != RoleStaff && u.Role != RoleOperator) || !strings.HasPrefix(u.Hash, "$2") {
				t.Fatalf("accepted %+v", u)
			}
		}
	})
}

// FuzzSafeNext: whatever a login link carries, the redirect stays a path
// on this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/history?line=1", "//evil.example", "/\t/evil.example", "/\\x", "https://x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, n string) {
		got := safeNext(n)
		if got == "/" {
			return
		}
		if got != n || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
			t.Fatalf("safeNext(%q) = %q", n, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("safeNext(%q) = %q leaves the site", n, got)
		}
	})
}
