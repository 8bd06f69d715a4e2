package telemetronapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/telemetronapi"
	"github.com/tapagent/tapagent/config"
)

// TestReviewRefreshTokenBoundToItsClient: RFC 6749 §6 — the server must
// check that a refresh token was issued to the client that presents it. A
// refresh token taken from client "tool" is redeemed here by another
// client.
func TestReviewRefreshTokenBoundToItsClient(t *testing.T) {
	r := newRig(t, func(_ *config.Config, o *telemetronapi.Options) {
		o.Config.Clients = append(o.Config.Clients, config.TelemetronClient{ID: "other", Secret: "other-secret-0123456789"})
	})
	tk := login(t, r.url)
	p := call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "refresh_token", "client_id": "other",
		"client_secret": "other-secret-0123456789", "refresh_token": tk.RefreshToken})
	if p.status == http.StatusOK {
		t.Fatalf("client other redeemed client tool's refresh token: %s", p.body)
	}
}

// TestReviewLogoutAfterRefreshEndsTheSession: after a refresh, the access
// token of the first login stays valid (the refresh does not end it) and
// a logout with the new token does not end it either: a user who logged
// out is still in for the whole token_ttl with a copied token.
func TestReviewLogoutAfterRefreshEndsTheSession(t *testing.T) {
	r := newRig(t)
	first := login(t, r.url)
	p := call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "refresh_token", "client_id": clientID,
		"client_secret": clientSecret, "refresh_token": first.RefreshToken})
	if p.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", p.status, p.body)
	}
	var second tokens
	p.json(t, &second)
	if q := call(t, "GET", r.url+"/logout", second.AccessToken, nil); q.status != http.StatusOK {
		t.Fatalf("logout: %d %s", q.status, q.body)
	}
	if q := call(t, "GET", r.url+"/v2/me", first.AccessToken, nil); q.status == http.StatusOK {
		t.Fatalf("after refresh and logout the first access token still opens the API")
	}
}

// TestReviewRefreshFloodLogsOthersOut: the token table holds 1024 tokens
// and evicts the soonest to expire: one user refreshing 1024 times
// (each refresh keeps the old access token) ends every other operator's session.
func TestReviewRefreshFloodLogsOthersOut(t *testing.T) {
	r := newRig(t)
	victim := login(t, r.url)
	r.clk.Advance(time.Second) // the attacker comes after the victim logged in
	// One login, then refreshes: each leaves its access token alive and
	// adds a new one (no password hashing, no rate limit).
	rt := login(t, r.url).RefreshToken
	for range 1024 {
		p := call(t, "POST", r.url+"/auth/", "", map[string]string{"grant_type": "refresh_token", "client_id": clientID,
			"client_secret": clientSecret, "refresh_token": rt})
		if p.status != http.StatusOK {
			t.Fatalf("refresh: %d %s", p.status, p.body)
		}
		var tk tokens
		p.json(t, &tk)
		rt = tk.RefreshToken
	}
	if q := call(t, "GET", r.url+"/v2/me", victim.AccessToken, nil); q.status != http.StatusOK {
		t.Fatalf("1024 refreshes by one user ended another user's session: %d %s", q.status, q.body)
	}
}
