package telemetronapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/telemetronapi"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/web"
)

// The reference takes the token request in the query string or as JSON;
// a form body (RFC 6749) is taken too. Each gives a Bearer token that
// opens the API, with the reference's expires_in.
func TestPasswordGrantEveryWayTheReferenceAllows(t *testing.T) {
	r := newRig(t)
	q := url.Values{"grant_type": {"password"}, "client_id": {clientID}, "client_secret": {clientSecret},
		"username": {userName}, "password": {userPassword}}
	cases := []struct {
		name   string
		send   func() (*http.Response, error)
		wantOK bool
	}{
		{"json", func() (*http.Response, error) {
			return http.Post(r.url+"/auth/", "application/json", strings.NewReader(`{"grant_type":"password","client_id":"`+clientID+
				`","client_secret":"`+clientSecret+`","username":"`+userName+`","password":"`+userPassword+`"}`))
		}, true},
		{"query string", func() (*http.Response, error) { return http.Post(r.url+"/auth/?"+q.Encode(), "", nil) }, true},
		{"query string, no slash", func() (*http.Response, error) { return http.Post(r.url+"/auth?"+q.Encode(), "", nil) }, true},
		{"form", func() (*http.Response, error) { return http.PostForm(r.url+"/auth/", q) }, true},
		{"json without its content type", func() (*http.Response, error) {
			return http.Post(r.url+"/auth/", "text/plain", strings.NewReader(`{"grant_type":"password"}`))
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.send()
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if (res.StatusCode == http.StatusOK) != tc.wantOK {
				t.Fatalf("status %d, want ok=%v", res.StatusCode, tc.wantOK)
			}
		})
	}
	tk := login(t, r.url)
	if tk.TokenType != "Bearer" || tk.ExpiresIn != 86400 || tk.AccessToken == "" || tk.RefreshToken == "" {
		t.Fatalf("token %+v", tk)
	}
	if p := call(t, "GET", r.url+"/v2/me", tk.AccessToken, nil); p.status != http.StatusOK || !strings.Contains(string(p.body), `"email":"operator"`) {
		t.Fatalf("me: %d %s", p.status, p.body)
	}
}

// A refresh token is good for one new pair; the refresh ends the access
// token it replaces.
func TestRefreshTokenIsSingleUse(t *testing.T) {
	r := newRig(t)
	first := login(t, r.url)
	refresh := func(rt string) reply {
		return call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "refresh_token", "client_id": clientID,
			"client_secret": clientSecret, "refresh_token": rt})
	}
	p := refresh(first.RefreshToken)
	if p.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", p.status, p.body)
	}
	var second tokens
	p.json(t, &second)
	if second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken {
		t.Fatal("refresh gave the same tokens")
	}
	wantError(t, refresh(first.RefreshToken), http.StatusBadRequest, "")
	wantError(t, call(t, "GET", r.url+"/v2/me", first.AccessToken, nil), http.StatusUnauthorized, "")
	if p := call(t, "GET", r.url+"/v2/me", second.AccessToken, nil); p.status != http.StatusOK {
		t.Fatalf("me: %d", p.status)
	}
	if p := refresh(second.RefreshToken); p.status != http.StatusOK {
		t.Fatalf("refresh of the new pair: %d %s", p.status, p.body)
	}
}

func TestLogoutEndsTheTokenAndItsRefresh(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	p := call(t, "GET", r.url+"/logout", tk.AccessToken, nil)
	if p.status != http.StatusOK || strings.TrimSpace(string(p.body)) != `{"bye":"bye"}` {
		t.Fatalf("logout: %d %s", p.status, p.body)
	}
	wantError(t, call(t, "GET", r.vm(""), tk.AccessToken, nil), http.StatusUnauthorized, "")
	wantError(t, call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "refresh_token", "client_id": clientID,
		"client_secret": clientSecret, "refresh_token": tk.RefreshToken}), http.StatusBadRequest, "")
}

func TestMissingWrongAndExpiredTokensAre401(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	for _, tc := range []struct{ name, header string }{
		{"none", ""}, {"not bearer", "Basic b3BlcmF0b3I6cGFzc3dvcmQ="}, {"unknown", "Bearer nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", r.vm("/loading"), nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("status %d", res.StatusCode)
			}
		})
	}
	r.clk.Advance(24*time.Hour - time.Second)
	if p := call(t, "GET", r.vm("/loading"), tk.AccessToken, nil); p.status != http.StatusOK {
		t.Fatalf("before expiry: %d", p.status)
	}
	r.clk.Advance(time.Second)
	e := wantError(t, call(t, "GET", r.vm("/loading"), tk.AccessToken, nil), http.StatusUnauthorized, "")
	if e.Message != "Unauthenticated." {
		t.Fatalf("message %q", e.Message)
	}
}

func TestWrongCredentialsAreRefusedAndLimited(t *testing.T) {
	r := newRig(t)
	ask := func(client, secret, user, pw string) reply {
		return call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "password", "client_id": client,
			"client_secret": secret, "username": user, "password": pw})
	}
	wantError(t, ask(clientID, "wrong-secret-0123456789", userName, userPassword), http.StatusBadRequest, "")
	wantError(t, ask("other", clientSecret, userName, userPassword), http.StatusBadRequest, "")
	wantError(t, call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "auth_code", "client_id": clientID,
		"client_secret": clientSecret}), http.StatusBadRequest, "")
	wantError(t, call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "password", "client_id": clientID,
		"client_secret": clientSecret, "scope": "admin", "username": userName, "password": userPassword}), http.StatusBadRequest, "")
	// login_attempts (5) failed passwords a minute, then 429 even for the right one.
	for i := range 5 {
		if p := ask(clientID, clientSecret, userName, "wrong-password"); p.status != http.StatusBadRequest {
			t.Fatalf("attempt %d: %d %s", i, p.status, p.body)
		}
	}
	wantError(t, ask(clientID, clientSecret, userName, userPassword), http.StatusTooManyRequests, "")
	r.clk.Advance(time.Minute)
	if p := ask(clientID, clientSecret, userName, userPassword); p.status != http.StatusOK {
		t.Fatalf("after the minute: %d %s", p.status, p.body)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tapagent"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path, kind string
		der        []byte
	}{{certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", kb}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// Off loopback the API needs HTTPS (the reference requires it), a user
// and a client; the configuration refuses the missing TLS and client,
// the start the missing user.
func TestNonLoopbackListenNeedsTLSAndAUser(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	base := "[telemetron]\nlisten = \"0.0.0.0:0\"\n"
	clients := "clients = [{ id = \"tool\", secret = \"" + clientSecret + "\" }]\n"
	tlsKeys := "tls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n"
	for _, tc := range []struct{ name, toml, want string }{
		{"no TLS", base + clients, "telemetron.tls_cert"},
		{"no client", base + tlsKeys, "telemetron.clients"},
		{"a weak client secret", "[telemetron]\nlisten = \"127.0.0.1:0\"\nclients = [{ id = \"tool\", secret = \"short\" }]\n", "telemetron.clients[0].secret"},
		{"beside the dashboard", "[web]\nlisten = \"127.0.0.1:8090\"\n[telemetron]\nlisten = \"127.0.0.1:8090\"\n" + clients, "telemetron.listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.toml + "[[line]]\nid = 1\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
	cfg, err := config.Parse([]byte(base + clients + tlsKeys + "[[line]]\nid = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = telemetronapi.Check(cfg.Telemetron, dir)
	if err == nil || !strings.Contains(err.Error(), "telemetron user add") {
		t.Fatalf("no user: %v", err)
	}
	if err := web.SetUser(cfg.Telemetron.UsersFile(dir), userName, web.RoleOperator, []byte(userPassword)); err != nil {
		t.Fatal(err)
	}
	if err := telemetronapi.Check(cfg.Telemetron, dir); err != nil {
		t.Fatalf("TLS and a user: %v", err)
	}
	cfg.Telemetron.TLSCert = ""
	if err := telemetronapi.Check(cfg.Telemetron, dir); err == nil {
		t.Fatal("started off loopback without TLS")
	}
}

// Tokens live in memory: an agent started again knows none of them.
func TestRestartLogsEveryoneOut(t *testing.T) {
	var opts telemetronapi.Options
	r := newRig(t, func(_ *config.Config, o *telemetronapi.Options) { opts = *o })
	tk := login(t, r.url)
	if err := r.srv.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := telemetronapi.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	wantError(t, call(t, "GET", again.URL+"/v2/vending_machines/123", tk.AccessToken, nil), http.StatusUnauthorized, "")
	if fresh := login(t, again.URL); fresh.AccessToken == tk.AccessToken {
		t.Fatal("the same token issued again")
	}
}

// A body over 16 KiB is refused; a client that sends its request slower
// than the read timeout is cut off.
func TestLargeBodiesAndSlowClientsAreRefused(t *testing.T) {
	r := newRig(t, func(_ *config.Config, o *telemetronapi.Options) { o.ReadTimeout = 300 * time.Millisecond })
	big := `{"grant_type":"password","client_id":"` + strings.Repeat("x", 20<<10) + `"}`
	wantError(t, call(t, "POST", r.url+"/auth/", "", []byte(big)), http.StatusRequestEntityTooLarge, "")
	tk := login(t, r.url)
	if p := call(t, "POST", r.vm("/request"), tk.AccessToken, []byte(`{"report":"`+strings.Repeat("x", 20<<10)+`"}`)); p.status < 400 {
		t.Fatalf("a large request body: %d", p.status)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /v2/me HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("the slow client was not cut off: %v", err)
	}
}

// Removing a user or changing their password ends their tokens at the
// next request, as it ends their dashboard sessions.
func TestRemovedUserOrNewPasswordEndsTheTokens(t *testing.T) {
	r := newRig(t)
	path := r.cfg.Telemetron.UsersFile(r.cfg.Device.DataDir)
	tk := login(t, r.url)
	if err := web.SetUser(path, userName, web.RoleOperator, []byte("another-password")); err != nil {
		t.Fatal(err)
	}
	wantError(t, call(t, "GET", r.vm(""), tk.AccessToken, nil), http.StatusUnauthorized, "")
	wantError(t, call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "refresh_token", "client_id": clientID,
		"client_secret": clientSecret, "refresh_token": tk.RefreshToken}), http.StatusBadRequest, "")
	if err := web.SetUser(path, userName, web.RoleOperator, []byte(userPassword)); err != nil {
		t.Fatal(err)
	}
	tk = login(t, r.url)
	if err := web.RemoveUser(path, userName); err != nil {
		t.Fatal(err)
	}
	wantError(t, call(t, "GET", r.vm(""), tk.AccessToken, nil), http.StatusUnauthorized, "")
}
