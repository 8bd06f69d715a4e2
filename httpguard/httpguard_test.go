package httpguard_test

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/httpguard"
)

func TestLoopback(t *testing.T) {
	cases := []struct {
		listen string
		local  bool
		err    bool
	}{
		{"127.0.0.1:8080", true, false},
		{"127.3.4.5:0", true, false},
		{"[::1]:8080", true, false},
		{"localhost:8080", true, false},
		{"LOCALHOST:1", true, false},
		{"[::ffff:127.0.0.1]:80", true, false},
		{"0.0.0.0:8081", false, false},
		{":8081", false, false},
		{"[::]:8081", false, false},
		{"192.168.0.20:8080", false, false},
		{"tapwall.local:8080", false, false},
		{"8080", false, true},
	}
	for _, c := range cases {
		local, err := httpguard.Loopback(c.listen)
		if local != c.local || (err != nil) != c.err {
			t.Errorf("Loopback(%q) = %v, %v; want %v, error %v", c.listen, local, err, c.local, c.err)
		}
	}
}

func TestCheckSecret(t *testing.T) {
	cases := []struct{ secret, want string }{
		{"", "empty"},
		{"change-me", "placeholder"},
		{" CHANGE-ME ", "placeholder"},
		{"a-secret-of-16-or-more", "placeholder"}, // the docs' samples
		{"a-long-random-secret", "placeholder"},
		{"short", "shorter than 16"},
		{"0123456789abcdef 12", "white space"},
		{"0123456789abcdef", ""},
	}
	for _, c := range cases {
		err := httpguard.CheckSecret(c.secret)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckSecret(%q) = %v; want %q", c.secret, err, c.want)
		}
	}
}

func TestParseAllow(t *testing.T) {
	got, err := httpguard.ParseAllow([]string{"192.168.0.13", "10.1.2.3/8", "::1", "::ffff:10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.168.0.13/32", "10.0.0.0/8", "::1/128", "10.0.0.1/32"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("[%d] %s, want %s", i, p, want[i])
		}
	}
	if _, err := httpguard.ParseAllow([]string{"192.168.0.13", "ttg-server"}); err == nil || !strings.Contains(err.Error(), `[1] "ttg-server"`) {
		t.Fatalf("a name in the allow-list: %v", err)
	}
}

func serve(t *testing.T, g httpguard.Guard) string {
	t.Helper()
	g.Deny = func(w http.ResponseWriter, status int, msg string) { http.Error(w, msg, status) }
	s, err := httpguard.Serve("127.0.0.1:0", g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served")
	})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "http://" + s.Addr
}

func TestGuardCredentials(t *testing.T) {
	const key = "0123456789abcdef0123"
	url := serve(t, httpguard.Guard{Secret: key, HeaderKey: "X-API-Key", Realm: "test"})
	cases := []struct {
		name    string
		headers [][2]string
		code    int
		want    string
	}{
		{"bearer", [][2]string{{"Authorization", "Bearer " + key}}, 200, "served"},
		{"bearer lower-case scheme", [][2]string{{"Authorization", "bearer " + key}}, 200, "served"},
		{"header key", [][2]string{{"X-API-Key", key}}, 200, "served"},
		{"both right", [][2]string{{"X-API-Key", key}, {"Authorization", "Bearer " + key}}, 200, "served"},
		{"missing", nil, 401, "missing credentials"},
		{"wrong key", [][2]string{{"Authorization", "Bearer " + key + "x"}}, 401, "wrong key"},
		{"bare key in Authorization", [][2]string{{"Authorization", key}}, 401, "scheme must be Bearer"},
		{"basic scheme", [][2]string{{"Authorization", "Basic " + key}}, 401, "scheme must be Bearer"},
		{"bearer without token", [][2]string{{"Authorization", "Bearer "}}, 401, "scheme must be Bearer"},
		{"token with a space", [][2]string{{"Authorization", "Bearer " + key + " x"}}, 401, "scheme must be Bearer"},
		{"right header, wrong bearer", [][2]string{{"X-API-Key", key}, {"Authorization", "Bearer nope"}}, 401, "wrong key"},
		{"wrong header, right bearer", [][2]string{{"X-API-Key", "nope"}, {"Authorization", "Bearer " + key}}, 401, "wrong key"},
		{"repeated header", [][2]string{{"X-API-Key", "nope"}, {"X-API-Key", key}}, 401, "repeated"},
		{"repeated Authorization", [][2]string{{"Authorization", "Bearer " + key}, {"Authorization", "Bearer " + key}}, 401, "repeated"},
		{"empty header key", [][2]string{{"X-API-Key", ""}}, 401, "wrong key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", url+"/x", nil)
			for _, h := range c.headers {
				req.Header.Add(h[0], h[1])
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.code || !strings.Contains(string(b), c.want) {
				t.Fatalf("%d %q; want %d %q", res.StatusCode, b, c.code, c.want)
			}
			if c.code == 401 && res.Header.Get("WWW-Authenticate") != `Bearer realm="test"` {
				t.Fatalf("WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestGuardBearerOnly(t *testing.T) {
	const key = "0123456789abcdef0123"
	url := serve(t, httpguard.Guard{Secret: key})
	req, _ := http.NewRequest("GET", url+"/x", nil)
	req.Header.Set("X-API-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("X-API-Key on a bearer-only guard: %d", res.StatusCode)
	}
}

func TestGuardAllowList(t *testing.T) {
	for _, c := range []struct {
		allow []string
		code  int
	}{
		{[]string{"127.0.0.1"}, 200},
		{[]string{"127.0.0.0/8"}, 200},
		{[]string{"192.168.0.13"}, 403},
		{[]string{"::1"}, 403},
		{[]string{"::ffff:127.0.0.0/104"}, 200}, // mapped form of 127.0.0.0/8
		{[]string{"::ffff:127.0.0.1"}, 200},
	} {
		allow, err := httpguard.ParseAllow(c.allow)
		if err != nil {
			t.Fatal(err)
		}
		url := serve(t, httpguard.Guard{Allow: allow})
		req, _ := http.NewRequest("GET", url+"/x", nil)
		req.Header.Set("X-Forwarded-For", "192.168.0.13") // the caller's word only
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.code {
			t.Errorf("allow %v: %d, want %d", c.allow, res.StatusCode, c.code)
		}
	}
}

func TestGuardAllowAndSecretBothRequired(t *testing.T) {
	const key = "0123456789abcdef0123"
	url := serve(t, httpguard.Guard{Secret: key, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	for _, c := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer " + key, 200}} {
		req, _ := http.NewRequest("GET", url+"/x", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.code {
			t.Errorf("auth %q: %d, want %d", c.auth, res.StatusCode, c.code)
		}
	}
}

func TestExposed(t *testing.T) {
	const key = "0123456789abcdef0123"
	narrow := []netip.Prefix{netip.MustParsePrefix("192.168.0.13/32")}
	wide := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	cases := []struct {
		name, listen, secret string
		allow                []netip.Prefix
		want                 string // "" accepted
	}{
		{"nothing", "0.0.0.0:8081", "", nil, "nothing authenticates"},
		{"key", "0.0.0.0:8081", key, nil, ""},
		{"narrow allow", "0.0.0.0:8081", "", narrow, ""},
		{"placeholder key", "0.0.0.0:8081", "change-me", nil, "placeholder"},
		{"short key", "[::]:8081", "s3cret", nil, "shorter than 16"},
		{"placeholder key with allow", "0.0.0.0:8081", "change-me", narrow, "placeholder"},
		{"allow everyone", "0.0.0.0:8081", "", wide, "admits more than a /16"},
		{"allow everyone with key", "0.0.0.0:8081", key, wide, ""},
		{"loopback unprotected", "127.0.0.1:8081", "", nil, ""},
		{"bad address", "8081", key, nil, "not host:port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := httpguard.Exposed(c.listen, c.secret, c.allow)
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Exposed = %v; want %q", err, c.want)
			}
		})
	}
}

// TestCheckAllow: an allow-list that admits a provider or everyone is no
// protection.
func TestCheckAllow(t *testing.T) {
	cases := []struct{ entry, want string }{
		{"0.0.0.0/0", "[0] 0.0.0.0/0 admits more than a /16"},
		{"10.0.0.5/0", "0.0.0.0/0 admits"},
		{"10.0.0.0/8", "admits more than a /16"},
		{"::/0", "admits more than a /48"},
		{"2001:db8::/32", "admits more than a /48"},
		{"::ffff:0.0.0.0/96", "0.0.0.0/0 admits"},
		{"10.1.0.0/16", ""},
		{"192.168.0.13", ""},
		{"2001:db8:1::/48", ""},
		{"::1", ""},
	}
	for _, c := range cases {
		allow, err := httpguard.ParseAllow([]string{c.entry})
		if err != nil {
			t.Fatal(err)
		}
		err = httpguard.CheckAllow(allow)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckAllow(%s) = %v; want %q", c.entry, err, c.want)
		}
	}
}

func TestParseAllowMapped(t *testing.T) {
	got, err := httpguard.ParseAllow([]string{"::ffff:192.168.0.0/120", "::ffff:127.0.0.1/128", "::ffff:10.0.0.0/104"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"192.168.0.0/24", "127.0.0.1/32", "10.0.0.0/8"} {
		if got[i].String() != want {
			t.Errorf("[%d] %s, want %s", i, got[i], want)
		}
	}
	if _, err := httpguard.ParseAllow([]string{"::ffff:10.0.0.0/80"}); err == nil || !strings.Contains(err.Error(), "/96 or longer") {
		t.Fatalf("a mapped network reaching past the mapped space: %v", err)
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{"localhost": true, "LocalHost": true, "127.0.0.1": true, "[::1]": true, "::1": true,
		"::ffff:127.0.0.1": true, "": false, "0.0.0.0": false, "broker.example": false, "10.0.0.1": false} {
		if got := httpguard.LoopbackHost(host); got != want {
			t.Errorf("LoopbackHost(%q) = %v", host, got)
		}
	}
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc", "Basic abc", "Bearer", "Bearer a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, ok := httpguard.Bearer(v)
		if ok && (tok == "" || strings.ContainsAny(tok, " \t") || !strings.HasSuffix(v, tok)) {
			t.Fatalf("Bearer(%q) = %q", v, tok)
		}
	})
}

// BenchmarkGuard is the admission check's own cost per request (bearer
// token, allow-list of two networks), without the network.
func BenchmarkGuard(b *testing.B) {
	const key = "0123456789abcdef0123456789abcdef"
	allow, _ := httpguard.ParseAllow([]string{"192.168.0.13", "127.0.0.0/8"})
	h := httpguard.Guard{Secret: key, HeaderKey: "X-API-Key", Allow: allow,
		Deny: func(w http.ResponseWriter, status int, msg string) { b.Fatal(msg) }}.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req, _ := http.NewRequest("GET", "/x", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Authorization", "Bearer "+key)
	var w nopWriter
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

type nopWriter struct{}

func (nopWriter) Header() http.Header         { return http.Header{} }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

// FuzzAddresses: the listen and allow-list parsers never panic, and
// whatever they accept means what it says.
func FuzzAddresses(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:1", "0.0.0.0:8081", ":80", "10.0.0.0/8", "::ffff:10.0.0.1", "a:b:c", "[::1%lo]:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if local, err := httpguard.Loopback(s); err == nil && local {
			host := strings.Trim(s[:strings.LastIndex(s, ":")], "[]")
			ip, err := netip.ParseAddr(host)
			v4, v6 := netip.MustParsePrefix("127.0.0.0/8"), netip.MustParseAddr("::1")
			if !strings.EqualFold(host, "localhost") && (err != nil || !(v4.Contains(ip.Unmap()) || ip.WithZone("") == v6)) {
				t.Fatalf("Loopback(%q) = true", s)
			}
		}
		ps, err := httpguard.ParseAllow([]string{s})
		if err == nil && (len(ps) != 1 || !ps[0].IsValid() || ps[0] != ps[0].Masked()) {
			t.Fatalf("ParseAllow(%q) = %v", s, ps)
		}
	})
}

// FuzzParseAllow: whatever is accepted is a valid, masked network in the
// form callers are compared in (never IPv4-mapped), and CheckAllow agrees
// with its width.
func FuzzParseAllow(f *testing.F) {
	for _, s := range []string{"192.168.0.13", "10.0.0.0/8", "::ffff:192.168.0.0/120", "::ffff:1.2.3.4", "::/0", "fe80::1%eth0", "1.2.3.4/33", "::ffff:0:0/95"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := httpguard.ParseAllow([]string{s})
		if err != nil {
			return
		}
		p := got[0]
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
			t.Fatalf("ParseAllow(%q) = %v", s, p)
		}
		least := httpguard.MinAllowBits6
		if p.Addr().Is4() {
			least = httpguard.MinAllowBits4
		}
		if wide := httpguard.CheckAllow(got) != nil; wide != (p.Bits() < least) {
			t.Fatalf("CheckAllow(%v) wide %v", p, wide)
		}
	})
}
