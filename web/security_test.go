package web_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/web"
)

func TestNoSessionIsRefused(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	for _, path := range []string{"/", "/history", "/history.csv", "/charts", "/events", "/health"} {
		resp, err := c.Get(r.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET %s without a session: %s, Location %q", path, resp.Status, resp.Header.Get("Location"))
		}
	}
	if _, status := r.get(c, "/live"); status != http.StatusUnauthorized {
		t.Errorf("live stream without a session: %d", status)
	}
	before := r.keg(1)
	if resp := r.post(c, "/action", url.Values{"action": {"keg_change"}, "line": {"1"}, "size_l": {"20"}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("action without a session: %s", resp.Status)
	}
	if r.keg(1) != before {
		t.Fatal("an action without a session changed the keg")
	}
}

func TestExpiredSessionIsRefused(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	csrf := r.login(c, opName, opPass)
	r.clk.Advance(r.cfg.Web.SessionTTL.Duration + time.Second)
	if _, status := r.get(c, "/"); status != http.StatusSeeOther {
		t.Fatalf("tap list with an expired session: %d", status)
	}
	if resp := r.post(c, "/action", url.Values{"csrf": {csrf}, "action": {"lock"}, "line": {"1"}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("action with an expired session: %s", resp.Status)
	}
	if r.agent.Status()[0].Locked {
		t.Fatal("an expired session locked the line")
	}
}

func TestActionsNeedCSRFAndSameOrigin(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	csrf := r.login(c, opName, opPass)
	lock := func(tok string) url.Values { return url.Values{"csrf": {tok}, "action": {"lock"}, "line": {"2"}} }
	cases := []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"no token", url.Values{"action": {"lock"}, "line": {"2"}}, nil},
		{"wrong token", lock("x" + csrf[1:]), nil},
		{"another origin", lock(csrf), map[string]string{"Origin": "http://evil.example"}},
		{"cross-site fetch", lock(csrf), map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site is not same-origin", lock(csrf), map[string]string{"Sec-Fetch-Site": "same-site"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if resp := r.post(c, "/action", tc.form, tc.hdr); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s", resp.Status)
			}
			if r.agent.Status()[1].Locked {
				t.Fatal("the line was locked")
			}
		})
	}
	// The same request with the token from its own origin goes through.
	if resp := r.post(c, "/action", lock(csrf), map[string]string{"Origin": r.srv.URL}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a good action: %s", resp.Status)
	}
	if !r.agent.Status()[1].Locked {
		t.Fatal("a good lock did not lock")
	}
	// A logout form also needs the token: a forged one must not end the session.
	if resp := r.post(c, "/logout", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without a token: %s", resp.Status)
	}
	if _, status := r.get(c, "/"); status != http.StatusOK {
		t.Fatal("a forged logout ended the session")
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	csrf := r.login(c, opName, opPass)
	big := url.Values{"csrf": {csrf}, "action": {"lock"}, "line": {"1"}, "pad": {strings.Repeat("x", 64<<10)}}
	if resp := r.post(c, "/action", big, nil); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("64 KiB action: %s", resp.Status)
	}
	if resp := r.post(r.client(), "/login", url.Values{"user": {opName}, "password": {strings.Repeat("p", 64<<10)}}, nil); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("64 KiB login: %s", resp.Status)
	}
	if r.agent.Status()[0].Locked {
		t.Fatal("an oversized action locked the line")
	}
}

// TestSlowClientIsCutOff: a client that sends its headers a byte at a time
// is disconnected at the read timeout and never holds the listener.
func TestSlowClientIsCutOff(t *testing.T) {
	r := newRig(t, func(_ *config.Config, d *web.Deps) { d.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = bufio.NewReader(conn).ReadString('\n')
	if err == nil {
		// A 408 answer is fine too; then the connection must close.
		_, err = bufio.NewReader(conn).ReadString('\n')
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a stalled client for %v", time.Since(start))
	}
	// Meanwhile a normal client is served.
	if _, status := r.get(r.client(), "/login"); status != http.StatusOK {
		t.Fatalf("login page while a slow client waits: %d", status)
	}
}

func TestLoginRateLimit(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	for i := range r.cfg.Web.LoginAttempts {
		resp := r.post(c, "/login", url.Values{"user": {opName}, "password": {"wrong-password"}}, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %s", i, resp.Status)
		}
	}
	resp := r.post(c, "/login", url.Values{"user": {opName}, "password": {opPass}}, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password after the limit: %s", resp.Status)
	}
	r.clk.Advance(time.Minute)
	if resp := r.post(c, "/login", url.Values{"user": {opName}, "password": {opPass}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password a minute later: %s", resp.Status)
	}
}

func TestSessionCookie(t *testing.T) {
	r := newRig(t, nil)
	resp := r.post(r.client(), "/login", url.Values{"user": {opName}, "password": {opPass}}, nil)
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Secure {
		t.Fatalf("cookie over HTTP: %+v", cs)
	}
	if got := resp.Header.Get("Location"); got != "/" {
		t.Fatalf("after login to %q", got)
	}
	// The next= of the login form never leaves the site.
	resp = r.post(r.client(), "/login", url.Values{"user": {opName}, "password": {opPass}, "next": {"//evil.example/"}}, nil)
	if got := resp.Header.Get("Location"); got != "/" {
		t.Fatalf("an off-site next went to %q", got)
	}
}

func TestStaffMayOnlyChangeKegs(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	csrf := r.login(c, staffName, staffPass)
	for _, path := range []string{"/charts", "/events", "/health"} {
		if _, status := r.get(c, path); status != http.StatusForbidden {
			t.Errorf("staff GET %s: %d", path, status)
		}
	}
	if resp := r.post(c, "/action", url.Values{"csrf": {csrf}, "action": {"lock"}, "line": {"1"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("staff lock: %s", resp.Status)
	}
	if resp := r.post(c, "/action", url.Values{"csrf": {csrf}, "action": {"keg_change"}, "line": {"3"}, "size_l": {"19.5"}, "keg_id": {"K-77"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("staff keg change: %s", resp.Status)
	}
	if got := r.keg(3); got != 195000 {
		t.Fatalf("keg after the change: %d", got)
	}
	ops := r.operations()
	if len(ops) != 1 || ops[0].Op != history.OpKegChange || ops[0].Line != 3 || ops[0].Actor == nil ||
		*ops[0].Actor != (history.Actor{Name: staffName, Role: "staff", Via: "web"}) {
		t.Fatalf("audit records %+v", ops)
	}
	if _, status := r.get(c, "/metrics"); status != http.StatusOK {
		t.Fatal("metrics on loopback should be open by default")
	}
}

func TestRefusedActionSaysWhy(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	csrf := r.login(c, opName, opPass)
	for _, tc := range []struct {
		form url.Values
		says string
	}{
		{url.Values{"action": {"keg_change"}, "line": {"9"}, "size_l": {"50"}}, "no such line"},
		{url.Values{"action": {"keg_change"}, "line": {"1"}, "size_l": {"3000"}}, "keg size must be 1 L..2000 L, not 3000 L"},
		{url.Values{"action": {"keg_change"}, "line": {"1"}, "size_l": {"fifty"}}, `size: "fifty" is not a number of litres`},
		{url.Values{"action": {"keg_change"}, "line": {"1"}, "size_l": {"abc"}}, `"abc" is not a number of litres`},
		{url.Values{"action": {"reboot"}, "line": {"1"}}, "unknown action"},
	} {
		tc.form.Set("csrf", csrf)
		resp := r.post(c, "/action", tc.form, nil)
		loc, _ := url.QueryUnescape(resp.Header.Get("Location"))
		if !strings.Contains(loc, "err=") || !strings.Contains(loc, tc.says) {
			t.Errorf("%v answered %q, want %q", tc.form, loc, tc.says)
		}
	}
	if ops := r.operations(); len(ops) != 0 {
		t.Fatalf("refused actions were recorded as done: %+v", ops)
	}
}

func TestCheckRefusesAnExposedListenerWithoutUsers(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.Web.Listen = "0.0.0.0:8080"
	err = web.Check(cfg)
	if err == nil || !strings.Contains(err.Error(), "tapagent web user add") {
		t.Fatalf("no users on 0.0.0.0: %v", err)
	}
	cfg.Web.Listen = "127.0.0.1:8080"
	if err := web.Check(cfg); err != nil {
		t.Fatalf("loopback without users: %v", err)
	}
	cfg.Web.Listen = "0.0.0.0:8080"
	if err := web.SetUser(cfg.Web.Users(cfg.Device.DataDir), "ann", web.RoleOperator, []byte("long enough pw")); err != nil {
		t.Fatal(err)
	}
	if err := web.Check(cfg); err != nil {
		t.Fatalf("with a user: %v", err)
	}
}

// TestHTTPS serves the dashboard with the [web] certificate files and
// marks the session cookie Secure.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	r := newRig(t, func(c *config.Config, _ *web.Deps) { c.Web.CertFile, c.Web.KeyFile = certFile, keyFile })
	if !strings.HasPrefix(r.srv.URL, "https://") {
		t.Fatalf("URL %s", r.srv.URL)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	c := r.client()
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	resp := r.post(c, "/login", url.Values{"user": {opName}, "password": {opPass}}, nil)
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure {
		t.Fatalf("login over HTTPS: %s %+v", resp.Status, cs)
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tapagent"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, &tpl, &tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestRemovedUserLosesTheSession: removing a user (or changing the role)
// ends their sessions at the next request, without a restart.
func TestRemovedUserLosesTheSession(t *testing.T) {
	r := newRig(t, nil)
	staff, op := r.client(), r.client()
	r.login(staff, staffName, staffPass)
	r.login(op, opName, opPass)
	users := r.cfg.Web.Users(r.cfg.Device.DataDir)
	if err := web.RemoveUser(users, staffName); err != nil {
		t.Fatal(err)
	}
	if err := web.SetUser(users, opName, web.RoleStaff, []byte(opPass)); err != nil {
		t.Fatal(err)
	}
	if _, status := r.get(staff, "/"); status != http.StatusSeeOther {
		t.Fatalf("a removed user's session: %d", status)
	}
	if _, status := r.get(op, "/charts"); status != http.StatusSeeOther {
		t.Fatalf("a demoted operator's session: %d", status)
	}
}

// TestParallelLoginsShareTheLimit: guesses sent at once are counted before
// their passwords are checked, so no more than login_attempts are checked.
func TestParallelLoginsShareTheLimit(t *testing.T) {
	r := newRig(t, nil)
	var mu sync.Mutex
	checked := 0
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Up to login_attempts bcrypt checks run one after another, each
			// slow under -race on a busy machine: the test counts them, it
			// does not time them.
			c := r.client()
			c.Timeout = 2 * time.Minute
			resp := r.post(c, "/login", url.Values{"user": {opName}, "password": {fmt.Sprintf("guess-%d", i)}}, nil)
			if resp.StatusCode == http.StatusUnauthorized { // a password was really checked
				mu.Lock()
				checked++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if checked > r.cfg.Web.LoginAttempts {
		t.Fatalf("%d passwords checked in one minute from one address, limit %d", checked, r.cfg.Web.LoginAttempts)
	}
}

// TestLoginRedirectStaysOnSite: a "next" a browser would read as another
// site ("/\t/host": browsers drop tabs) sends the user to the tap list.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	r := newRig(t, nil)
	for _, next := range []string{"/\t/evil.example/x", "/\n/evil.example", "/\\evil.example", "//evil.example", "https://evil.example/"} {
		form := url.Values{"user": {staffName}, "password": {staffPass}, "next": {next}}
		req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultTransport.RoundTrip(req) // raw: the Go client refuses to parse a bad Location
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("next %q: Location %q, want /", next, loc)
		}
	}
}

// TestPasswordResetEndsSessions: a session opened with the old password
// ends when the password is reset, even with the same name and role.
func TestPasswordResetEndsSessions(t *testing.T) {
	r := newRig(t, nil)
	c := r.client()
	r.login(c, staffName, staffPass)
	if err := web.SetUser(r.cfg.Web.Users(r.cfg.Device.DataDir), staffName, web.RoleStaff, []byte("new-password-after-leak")); err != nil {
		t.Fatal(err)
	}
	if _, st := r.get(c, "/"); st != http.StatusSeeOther {
		t.Fatalf("the old password's session after a reset: %d", st)
	}
}

// TestRemovedOperatorLosesMetrics: /metrics by session checks the users
// file as every page does.
func TestRemovedOperatorLosesMetrics(t *testing.T) {
	r := newRig(t, func(c *config.Config, _ *web.Deps) { c.Web.OpenMetricsOnLoopback = false })
	c := r.client()
	r.login(c, opName, opPass)
	if body, st := r.get(c, "/metrics"); st != http.StatusOK || !strings.Contains(body, "tapagent_build_info") {
		t.Fatalf("setup: an operator's /metrics: %d", st)
	}
	if err := web.RemoveUser(r.cfg.Web.Users(r.cfg.Device.DataDir), opName); err != nil {
		t.Fatal(err)
	}
	if _, st := r.get(c, "/metrics"); st != http.StatusUnauthorized {
		t.Fatalf("a removed operator's /metrics: %d", st)
	}
}

// TestLiveStreamEndsForRemovedUser: the stream re-checks the users file
// at each keepalive and ends for a removed, demoted or reset user.
func TestLiveStreamEndsForRemovedUser(t *testing.T) {
	for _, change := range []struct {
		name string
		do   func(path string) error
	}{
		{"removed", func(p string) error { return web.RemoveUser(p, opName) }},
		{"demoted", func(p string) error { return web.SetUser(p, opName, web.RoleStaff, []byte(opPass)) }},
		{"reset", func(p string) error { return web.SetUser(p, opName, web.RoleOperator, []byte("another-password")) }},
	} {
		t.Run(change.name, func(t *testing.T) {
			r := newRig(t, nil)
			web.SetKeepalive(r.srv, 50*time.Millisecond)
			c := r.client()
			r.login(c, opName, opPass)
			c.Timeout = 0
			resp, err := c.Get(r.srv.URL + "/live")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatal(err, resp.Status)
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() && !strings.HasPrefix(sc.Text(), ": keepalive") {
			}
			if err := change.do(r.cfg.Web.Users(r.cfg.Device.DataDir)); err != nil {
				t.Fatal(err)
			}
			// Keepalives sent while the change was written may still be in
			// flight; the stream must then end rather than run on.
			ended := make(chan struct{})
			go func() {
				for sc.Scan() {
				}
				close(ended)
			}()
			select {
			case <-ended:
			case <-time.After(10 * time.Second): // 200 keepalive periods
				t.Fatal("the live stream is still served after its keepalive check")
			}
			if _, st := r.get(c, "/"); st != http.StatusSeeOther {
				t.Fatalf("the session after the stream ended: %d", st)
			}
		})
	}
}
