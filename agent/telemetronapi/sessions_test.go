package telemetronapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/telemetronapi"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/web"
)

// A second OAuth2 client and a second user.
const (
	otherClient       = "other"
	otherSecret       = "other-secret-0123456789"
	otherUser         = "night-shift"
	otherUserPassword = "password-456"
)

// withOtherClient lets the second client in.
func withOtherClient(_ *config.Config, o *telemetronapi.Options) {
	o.Config.Clients = append(o.Config.Clients, config.TelemetronClient{ID: otherClient, Secret: otherSecret})
}

// refresh asks for new tokens with the refresh token rt through the client.
func refresh(t testing.TB, url, client, secret, rt string) reply {
	t.Helper()
	return call(t, "POST", url+"/auth/", "", map[string]string{"grant_type": "refresh_token", "client_id": client,
		"client_secret": secret, "refresh_token": rt})
}

// refreshed is a refresh that must succeed.
func refreshed(t testing.TB, url, rt string) tokens {
	t.Helper()
	p := refresh(t, url, clientID, clientSecret, rt)
	if p.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", p.status, p.body)
	}
	var tk tokens
	p.json(t, &tk)
	return tk
}

// opens reports whether the access token opens the API.
func opens(t testing.TB, url, at string) bool {
	t.Helper()
	p := call(t, "GET", url+"/v2/me", at, nil)
	if p.status != http.StatusOK && p.status != http.StatusUnauthorized {
		t.Fatalf("me: %d %s", p.status, p.body)
	}
	return p.status == http.StatusOK
}

// RFC 6749 §6: a refresh token is good only for the client it was issued
// to. Another client's refresh is refused as a bad grant (400), and the
// token stays good for its own client.
func TestRefreshTokenIsBoundToItsClient(t *testing.T) {
	r := newRig(t, withOtherClient)
	tk := login(t, r.url)
	e := wantError(t, refresh(t, r.url, otherClient, otherSecret, tk.RefreshToken), http.StatusBadRequest, "")
	if e.Subcode != "A403" {
		t.Fatalf("subcode %q, want A403", e.Subcode)
	}
	if next := refreshed(t, r.url, tk.RefreshToken); !opens(t, r.url, next.AccessToken) {
		t.Fatal("the token's own client could not refresh after the other's refusal")
	}
}

// A password grant starts a session, each refresh continues it and ends
// the access token it replaces, and a logout with the latest access token
// ends the whole session: no earlier token of it opens the API again.
func TestLogoutEndsTheWholeSession(t *testing.T) {
	r := newRig(t)
	first := login(t, r.url)
	second := refreshed(t, r.url, first.RefreshToken)
	if opens(t, r.url, first.AccessToken) {
		t.Fatal("the access token a refresh replaced still opens the API")
	}
	third := refreshed(t, r.url, second.RefreshToken)
	if q := call(t, "GET", r.url+"/logout", third.AccessToken, nil); q.status != http.StatusOK {
		t.Fatalf("logout: %d %s", q.status, q.body)
	}
	for i, tk := range []tokens{first, second, third} {
		if opens(t, r.url, tk.AccessToken) {
			t.Fatalf("access token %d opens the API after the logout", i+1)
		}
		wantError(t, refresh(t, r.url, clientID, clientSecret, tk.RefreshToken), http.StatusBadRequest, "")
	}
	if n := telemetronapi.Sessions(r.srv); n != 0 {
		t.Fatalf("%d sessions after the only one ended", n)
	}
}

// Refreshes continue one session and never grow the table: one user
// refreshing 1024 times (the table's old size) leaves another user's
// session alone.
func TestRefreshesDoNotGrowTheTable(t *testing.T) {
	r := newRig(t)
	addUser(t, r, otherUser, otherUserPassword)
	other := loginAs(t, r.url, otherUser, otherUserPassword)
	r.clk.Advance(time.Second) // the flood comes after the other's login
	tk := login(t, r.url)
	for range 1024 {
		tk = refreshed(t, r.url, tk.RefreshToken)
	}
	if n := telemetronapi.Sessions(r.srv); n != 2 {
		t.Fatalf("%d sessions after 1024 refreshes of one, want 2", n)
	}
	for _, at := range []string{other.AccessToken, tk.AccessToken} {
		if !opens(t, r.url, at) {
			t.Fatal("a session ended by another's refreshes")
		}
	}
}

// A user holds at most MaxUserSessions sessions: one more login ends
// that user's own oldest, never another user's.
func TestSessionsAreCappedPerUser(t *testing.T) {
	r := newRig(t)
	addUser(t, r, otherUser, otherUserPassword)
	other := loginAs(t, r.url, otherUser, otherUserPassword)
	logins := make([]tokens, 0, telemetronapi.MaxUserSessions+1)
	for i := range telemetronapi.MaxUserSessions + 1 {
		if i%5 == 4 {
			r.clk.Advance(time.Second) // within the password checks a second
		}
		logins = append(logins, login(t, r.url))
	}
	if opens(t, r.url, logins[0].AccessToken) {
		t.Fatal("the user's oldest session survived one login too many")
	}
	wantError(t, refresh(t, r.url, clientID, clientSecret, logins[0].RefreshToken), http.StatusBadRequest, "")
	for i, tk := range logins[1:] {
		if !opens(t, r.url, tk.AccessToken) {
			t.Fatalf("session %d ended", i+2)
		}
	}
	if !opens(t, r.url, other.AccessToken) {
		t.Fatal("one user's logins ended another user's session")
	}
	if n := telemetronapi.Sessions(r.srv); n != telemetronapi.MaxUserSessions+1 {
		t.Fatalf("%d sessions, want %d", n, telemetronapi.MaxUserSessions+1)
	}
}

// Refused refreshes count against the failed attempts of the client's
// address as failed passwords do (telemetron.login_attempts a minute,
// then 429 for both grants); successful ones give their attempt back.
func TestRefusedRefreshesAreLimitedAsLogins(t *testing.T) {
	r := newRig(t, withOtherClient)
	tk := login(t, r.url)
	for range 10 {
		tk = refreshed(t, r.url, tk.RefreshToken)
	}
	guesses := []struct{ client, secret, rt string }{
		{clientID, clientSecret, "guessed"}, {clientID, clientSecret, "guessed-again"},
		{otherClient, otherSecret, tk.RefreshToken}, {clientID, clientSecret, "one-more"}, {clientID, clientSecret, "a-last-guess"},
	}
	for i, g := range guesses {
		if p := refresh(t, r.url, g.client, g.secret, g.rt); p.status != http.StatusBadRequest {
			t.Fatalf("guess %d: %d %s", i, p.status, p.body)
		}
	}
	p := refresh(t, r.url, clientID, clientSecret, tk.RefreshToken)
	wantError(t, p, http.StatusTooManyRequests, "")
	if p.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	wantError(t, call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "password", "client_id": clientID,
		"client_secret": clientSecret, "username": userName, "password": userPassword}), http.StatusTooManyRequests, "")
	r.clk.Advance(time.Minute)
	if next := refreshed(t, r.url, tk.RefreshToken); !opens(t, r.url, next.AccessToken) {
		t.Fatal("the refreshed token does not open the API")
	}
}

// A refresh token lives 30 days from its issue; each refresh starts the
// next 30.
func TestRefreshTokensExpire(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	r.clk.Advance(30*24*time.Hour - time.Second)
	tk = refreshed(t, r.url, tk.RefreshToken)
	r.clk.Advance(30*24*time.Hour - time.Second)
	tk = refreshed(t, r.url, tk.RefreshToken)
	r.clk.Advance(30 * 24 * time.Hour)
	wantError(t, refresh(t, r.url, clientID, clientSecret, tk.RefreshToken), http.StatusBadRequest, "")
	if n := telemetronapi.Sessions(r.srv); n != 0 {
		t.Fatalf("%d sessions after the last expired", n)
	}
}

// addUser writes a user into the rig's users file.
func addUser(t testing.TB, r *rig, name, password string) {
	t.Helper()
	if err := web.SetUser(r.cfg.Telemetron.UsersFile(r.cfg.Device.DataDir), name, web.RoleOperator, []byte(password)); err != nil {
		t.Fatal(err)
	}
}

// loginAs takes a token for another user with the password grant.
func loginAs(t testing.TB, url, user, password string) tokens {
	t.Helper()
	p := call(t, "POST", url+"/auth/", "", map[string]string{"grant_type": "password", "client_id": clientID,
		"client_secret": clientSecret, "username": user, "password": password})
	if p.status != http.StatusOK {
		t.Fatalf("login as %s: %d %s", user, p.status, p.body)
	}
	var tk tokens
	p.json(t, &tk)
	return tk
}
