// Package smartnow is the SmartNow cloud's client and sink: authentication
// (POST /auth/login, refresh before expiry, login again on 401), sales as
// revenue transactions with their payment transactions, and logs. The
// SmartNow reference has lost most resource paths; the ones assumed are in
// Paths (config [smartnow] paths, docs/clouds.md).
package smartnow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/cloudcall"
	"github.com/tapagent/tapagent/config"
)

// maxReply bounds what is read of one reply: every documented reply is a
// small JSON object.
const maxReply = 1 << 20

// Config says where SmartNow is and who the machine is.
type Config struct {
	BaseURL            string
	Username, Password string
	Paths              config.SmartNowPaths
	Timeout            time.Duration
	// TokenLifetime is assumed for a token that does not carry its expiry.
	TokenLifetime time.Duration
	Now           func() time.Time
	Log           *slog.Logger
}

// Client calls SmartNow. It is safe for concurrent use. Tokens are never
// logged nor put in errors.
type Client struct {
	cfg Config
	hc  *http.Client

	mu      sync.Mutex
	access  string
	refresh string
	expires time.Time
}

// HTTPError is a reply with a status the call did not expect; Message is
// the body's "message" when it had one.
type HTTPError struct {
	Status  int
	Path    string
	Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("smartnow %s: HTTP %d: %s", e.Path, e.Status, e.Message)
}

// ErrMalformed wraps replies that are not the JSON the reference shows.
var ErrMalformed = errors.New("smartnow: malformed reply")

// NewClient returns a client; nothing is sent before the first call.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Paths == (config.SmartNowPaths{}) {
		cfg.Paths = config.DefaultSmartNowPaths()
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}}
}

// Tokens is the reply of login and refresh.
type Tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

// DecodeTokens parses a login or refresh reply.
func DecodeTokens(b []byte) (Tokens, error) {
	var t Tokens
	if err := json.Unmarshal(b, &t); err != nil {
		return Tokens{}, fmt.Errorf("%w: tokens: %w", ErrMalformed, err)
	}
	if t.Access == "" {
		return Tokens{}, fmt.Errorf("%w: no access_token", ErrMalformed)
	}
	return t, nil
}

// tokenExpiry reads a JWT's exp claim; ok is false for any other token.
func tokenExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Exp <= 0 || claims.Exp > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(claims.Exp, 0), true
}

// keep stores new tokens; they are refreshed at 80 % of their life.
func (c *Client) keep(t Tokens) {
	now := c.cfg.Now()
	exp, ok := tokenExpiry(t.Access)
	if !ok {
		exp = now.Add(c.cfg.TokenLifetime)
	}
	c.access, c.refresh = t.Access, t.Refresh
	c.expires = now.Add(exp.Sub(now) * 4 / 5)
}

// token returns a usable access token: the held one, a refreshed one
// when it is near expiry, or a fresh login.
func (c *Client) token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access != "" && c.cfg.Now().Before(c.expires) {
		return c.access, nil
	}
	if c.refresh != "" {
		t, err := c.authCall(ctx, c.cfg.Paths.Refresh, map[string]string{"refresh_token": c.refresh})
		if err == nil {
			c.keep(t)
			return c.access, nil
		}
		c.cfg.Log.Info("smartnow token refresh failed; logging in again", "err", err)
	}
	t, err := c.authCall(ctx, c.cfg.Paths.Login, map[string]string{"username": c.cfg.Username, "password": c.cfg.Password})
	if err != nil {
		c.access, c.refresh = "", ""
		return "", err
	}
	c.keep(t)
	return c.access, nil
}

// forget drops a token the server refused, unless another call already
// replaced it.
func (c *Client) forget(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access == tok {
		c.access, c.expires = "", time.Time{}
	}
}

func (c *Client) authCall(ctx context.Context, path string, body any) (Tokens, error) {
	status, raw, err := c.send(ctx, http.MethodPost, path, "", body)
	if err != nil {
		return Tokens{}, err
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return Tokens{}, &HTTPError{Status: status, Path: path, Message: DecodeMessage(raw)}
	}
	return DecodeTokens(raw)
}

// Call sends an authenticated request and returns the status and body of
// any reply; a 401 logs in again and retries once.
func (c *Client) Call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx)
		if err != nil {
			return 0, nil, fmt.Errorf("smartnow login: %w", err)
		}
		status, raw, err := c.send(ctx, method, path, tok, body)
		if err != nil || status != http.StatusUnauthorized || attempt > 0 {
			return status, raw, err
		}
		c.forget(tok)
	}
}

func (c *Client) send(ctx context.Context, method, path, tok string, body any) (int, []byte, error) {
	status, raw, err := cloudcall.Do(ctx, c.hc, cloudcall.Request{Method: method, URL: c.cfg.BaseURL + path, Bearer: tok, Body: body, MaxReply: maxReply})
	switch {
	case errors.Is(err, cloudcall.ErrTooLarge):
		return 0, nil, fmt.Errorf("%w: %s: %w", ErrMalformed, path, err)
	case err != nil:
		return 0, nil, fmt.Errorf("smartnow %s: %w", path, err)
	}
	return status, raw, nil
}

// DecodeMessage is the "message" of an error body, or the body itself cut
// short when it is not one.
func DecodeMessage(b []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		return clip(m.Message)
	}
	return clip(strings.TrimSpace(string(b)))
}

func clip(s string) string {
	if r := []rune(s); len(r) > 200 {
		return string(r[:200]) + "…"
	}
	return s
}

// Expand fills {name} placeholders of a configured path, path-escaped.
func Expand(path string, vars map[string]string) string {
	for k, v := range vars {
		path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(v))
	}
	return path
}

// Login logs in now (POST to the login path), whatever token is held: a
// check that the credentials are accepted.
func (c *Client) Login(ctx context.Context) error {
	t, err := c.authCall(ctx, c.cfg.Paths.Login, map[string]string{"username": c.cfg.Username, "password": c.cfg.Password})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep(t)
	return nil
}
