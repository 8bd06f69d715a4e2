package telemetronapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/httpguard"
	"github.com/tapagent/tapagent/web"
)

// Token table bounds: a few tools log in to one machine; a client that
// logs in over and over must not grow memory without end.
const (
	maxTokens  = 1024
	refreshTTL = 30 * 24 * time.Hour
	maxParam   = 512
)

// grant is who a token was issued to and until when.
type grant struct {
	user string
	// hash is the user's password hash at the login: a token ends when the
	// user is removed or their password changes.
	hash    string
	expires time.Time
	// pair is the other token of the same issue: logging out with the
	// access token also ends its refresh token.
	pair string
}

// tokens are the issued access and refresh tokens, in memory only: a
// restart of the agent logs everyone out.
type tokens struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	access  map[string]grant
	refresh map[string]grant
}

func newTokens(ttl time.Duration, now func() time.Time) *tokens {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &tokens{ttl: ttl, now: now, access: map[string]grant{}, refresh: map[string]grant{}}
}

// randomToken is 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// issue makes an access token and a refresh token for user, who logged
// in with the password hash hash.
func (t *tokens) issue(user, hash string) tokenReply {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	prune(t.access, now)
	prune(t.refresh, now)
	at, rt := randomToken(), randomToken()
	t.access[at] = grant{user: user, hash: hash, expires: now.Add(t.ttl), pair: rt}
	t.refresh[rt] = grant{user: user, hash: hash, expires: now.Add(refreshTTL), pair: at}
	return tokenReply{TokenType: "Bearer", ExpiresIn: int64(t.ttl / time.Second), AccessToken: at, RefreshToken: rt}
}

// redeem takes a refresh token: each is good for one new pair.
func (t *tokens) redeem(rt string) (grant, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.refresh[rt]
	delete(t.refresh, rt)
	if !ok || !t.now().Before(g.expires) {
		return grant{}, false
	}
	return g, true
}

// grant is what a valid access token was issued for.
func (t *tokens) grant(at string) (grant, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.access[at]
	if !ok || !t.now().Before(g.expires) {
		return grant{}, false
	}
	return g, true
}

// revoke ends an access token and the refresh token issued with it.
func (t *tokens) revoke(at string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if g, ok := t.access[at]; ok {
		delete(t.refresh, g.pair)
	}
	delete(t.access, at)
}

// prune drops expired tokens, then the soonest to expire until there is
// room for one more.
func prune(m map[string]grant, now time.Time) {
	for k, g := range m {
		if !now.Before(g.expires) {
			delete(m, k)
		}
	}
	for len(m) >= maxTokens {
		var first string
		var at time.Time
		for k, g := range m {
			if first == "" || g.expires.Before(at) {
				first, at = k, g.expires
			}
		}
		delete(m, first)
	}
}

// TokenRequest is a token request's parameters.
type TokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Scope        string `json:"scope"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
}

type tokenReply struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// ParseTokenRequest reads a token request as the reference allows it: in
// the query string, or as a JSON body with Content-Type
// application/json; a form body (application/x-www-form-urlencoded, as
// RFC 6749 §4.3 has it) is taken too.
func ParseTokenRequest(query url.Values, contentType string, body []byte) (TokenRequest, error) {
	var req TokenRequest
	fromValues := func(v url.Values) error {
		for k, vs := range v {
			if len(vs) > 1 {
				return fmt.Errorf("parameter %s is repeated", k)
			}
		}
		req = TokenRequest{GrantType: v.Get("grant_type"), ClientID: v.Get("client_id"), ClientSecret: v.Get("client_secret"),
			Scope: v.Get("scope"), Username: v.Get("username"), Password: v.Get("password"), RefreshToken: v.Get("refresh_token")}
		return nil
	}
	if query.Get("grant_type") != "" {
		if err := fromValues(query); err != nil {
			return req, err
		}
		return req, req.check()
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/json":
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, fmt.Errorf("the body is not a token request: %w", err)
		}
		if dec.More() {
			return req, errors.New("the body holds more than one JSON value")
		}
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return req, fmt.Errorf("the form is malformed: %w", err)
		}
		if err := fromValues(v); err != nil {
			return req, err
		}
	default:
		return req, errors.New("send the parameters in the query string, or as JSON with Content-Type: application/json")
	}
	return req, req.check()
}

func (r TokenRequest) check() error {
	for _, v := range []string{r.GrantType, r.ClientID, r.ClientSecret, r.Scope, r.Username, r.Password, r.RefreshToken} {
		if len(v) > maxParam {
			return fmt.Errorf("a parameter is longer than %d bytes", maxParam)
		}
	}
	switch {
	case r.GrantType == "" || r.ClientID == "" || r.ClientSecret == "":
		return errors.New("grant_type, client_id and client_secret are required")
	case r.Scope != "" && r.Scope != "teleport":
		return fmt.Errorf("unknown scope %q (teleport)", r.Scope)
	}
	switch r.GrantType {
	case "password":
		if r.Username == "" || r.Password == "" {
			return errors.New("the password grant needs username and password")
		}
	case "refresh_token":
		if r.RefreshToken == "" {
			return errors.New("the refresh_token grant needs refresh_token")
		}
	case "auth_code":
		return errors.New("this machine does not offer the auth_code grant: use password")
	default:
		return fmt.Errorf("unknown grant_type %q", r.GrantType)
	}
	return nil
}

// token is POST /auth/.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	body, err := httpguard.ReadBody(w, r, maxBody)
	if err != nil {
		writeErr(w, errf(http.StatusRequestEntityTooLarge, "%v", err))
		return
	}
	req, err := ParseTokenRequest(r.URL.Query(), r.Header.Get("Content-Type"), body)
	if err != nil {
		writeErr(w, &apiError{Status: http.StatusBadRequest, Message: err.Error(), Subcode: "A400"})
		return
	}
	if !s.client(req.ClientID, req.ClientSecret) {
		writeErr(w, &apiError{Status: http.StatusBadRequest, Message: "unknown client or wrong client secret", Subcode: "A401"})
		return
	}
	g := grant{user: req.Username}
	switch req.GrantType {
	case "password":
		u, ok, err := s.logins.Check(remoteHost(r), req.Username, []byte(req.Password))
		g.hash = u.Hash
		switch {
		case errors.Is(err, web.ErrTooManyAttempts), errors.Is(err, web.ErrBusy):
			w.Header().Set("Retry-After", "60")
			writeErr(w, errf(http.StatusTooManyRequests, "%v", err))
			return
		case err != nil:
			s.o.Log.Error("telemetron API: users file unreadable; nobody can log in", "err", err)
		}
		if !ok {
			s.o.Log.Warn("telemetron API: login refused", "user", req.Username, "from", remoteHost(r))
			writeErr(w, &apiError{Status: http.StatusBadRequest, Message: "wrong username or password", Subcode: "A402"})
			return
		}
	case "refresh_token":
		var ok bool
		if g, ok = s.tokens.redeem(req.RefreshToken); !ok || !s.logins.Still(g.user, g.hash) {
			writeErr(w, &apiError{Status: http.StatusBadRequest, Message: "the refresh token is invalid, used or expired", Subcode: "A403"})
			return
		}
	}
	writeJSON(w, http.StatusOK, s.tokens.issue(g.user, g.hash))
}

// client checks an OAuth2 client in constant time per secret.
func (s *Server) client(id, secret string) bool {
	want, ok := s.o.Config.Client(id)
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1
}

// bearer is the request's access token and its user.
func (s *Server) bearer(r *http.Request) (tok, user string, err error) {
	vs := r.Header.Values("Authorization")
	if len(vs) != 1 {
		return "", "", errf(http.StatusUnauthorized, "Unauthenticated.")
	}
	tok, ok := httpguard.Bearer(vs[0])
	if !ok {
		return "", "", errf(http.StatusUnauthorized, "Unauthenticated.")
	}
	g, ok := s.tokens.grant(tok)
	if ok && !s.logins.Still(g.user, g.hash) {
		s.tokens.revoke(tok)
		ok = false
	}
	if !ok {
		return "", "", errf(http.StatusUnauthorized, "Unauthenticated.")
	}
	return tok, g.user, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	tok, _, err := s.bearer(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.tokens.revoke(tok)
	writeJSON(w, http.StatusOK, map[string]string{"bye": "bye"})
}

// remoteHost is the connection's own address, never a header's.
func remoteHost(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}
