package telemetronapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/tapagent/tapagent/httpguard"
	"github.com/tapagent/tapagent/web"
)

// maxParam bounds each token request parameter.
const maxParam = 512

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
	var reply tokenReply
	switch req.GrantType {
	case "password":
		if reply, err = s.passwordGrant(r, req); err != nil {
			refuse(w, err)
			return
		}
	case "refresh_token":
		ok, err := s.logins.Attempt(remoteHost(r), func() bool {
			var ok bool
			reply, ok = s.tokens.renew(req.RefreshToken, req.ClientID, s.logins.Still)
			return ok
		})
		if err != nil {
			refuse(w, errf(http.StatusTooManyRequests, "%v", err))
			return
		}
		if !ok {
			writeErr(w, &apiError{Status: http.StatusBadRequest, Message: "the refresh token is invalid, used, expired or not this client's", Subcode: "A403"})
			return
		}
	}
	writeJSON(w, http.StatusOK, reply)
}

// passwordGrant checks the user's password and starts a session.
func (s *Server) passwordGrant(r *http.Request, req TokenRequest) (tokenReply, error) {
	u, ok, err := s.logins.Check(remoteHost(r), req.Username, []byte(req.Password))
	switch {
	case errors.Is(err, web.ErrTooManyAttempts), errors.Is(err, web.ErrBusy):
		return tokenReply{}, errf(http.StatusTooManyRequests, "%v", err)
	case err != nil:
		s.o.Log.Error("telemetron API: users file unreadable; nobody can log in", "err", err)
	}
	if !ok {
		s.o.Log.Warn("telemetron API: login refused", "user", req.Username, "from", remoteHost(r))
		return tokenReply{}, &apiError{Status: http.StatusBadRequest, Message: "wrong username or password", Subcode: "A402"}
	}
	reply, err := s.tokens.start(u.Name, u.Hash, req.ClientID, s.logins.Still)
	if err != nil {
		s.o.Log.Warn("telemetron API: login refused", "user", req.Username, "err", err)
		return tokenReply{}, errf(http.StatusServiceUnavailable, "%v", err)
	}
	return reply, nil
}

// refuse writes a token refusal; one that passes with time says when to
// ask again.
func refuse(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) && (ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable) {
		w.Header().Set("Retry-After", "60")
	}
	writeErr(w, err)
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
		s.tokens.logout(tok)
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
	s.tokens.logout(tok)
	writeJSON(w, http.StatusOK, map[string]string{"bye": "bye"})
}

// remoteHost is the connection's own address, never a header's.
func remoteHost(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}
