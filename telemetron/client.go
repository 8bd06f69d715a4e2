package telemetron

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/cloudcall"
)

// maxReply bounds what is read of one reply: every reply the machine
// reads is a small JSON object.
const maxReply = 1 << 20

// defaultTokenLife is assumed for a token reply without expires_in.
const defaultTokenLife = 15 * time.Minute

// Config says where Telemetron is and who the machine logs in as.
type Config struct {
	// BaseURL is the API root (…/v2), AuthURL the OAuth2 token endpoint.
	BaseURL, AuthURL       string
	ClientID, ClientSecret string
	Username, Password     string
	Scope                  string
	Timeout                time.Duration
	Now                    func() time.Time
	Log                    *slog.Logger
}

// Client calls Telemetron with a Bearer token from the OAuth2 password
// grant, refreshed (refresh_token grant) at 80 % of expires_in. It is
// safe for concurrent use. Tokens and secrets are never logged nor put in
// errors.
type Client struct {
	cfg Config
	hc  *http.Client

	mu      sync.Mutex
	access  string
	refresh string
	renew   time.Time
}

// ErrMalformed wraps replies that are not the JSON the reference shows.
var ErrMalformed = errors.New("telemetron: malformed reply")

// APIError is a reply with a status the call did not expect, with the
// reference's error body {message, subcode, errors}.
type APIError struct {
	Status int
	Path   string
	Body   ErrorBody
}

func (e *APIError) Error() string {
	return fmt.Sprintf("telemetron %s: HTTP %d: %s", e.Path, e.Status, e.Body)
}

// ErrorBody is the reference's error body. Errors is either the
// [{field, reason}] array or the {"field": ["text"]} map of a 422.
type ErrorBody struct {
	Message string          `json:"message"`
	Subcode string          `json:"subcode"`
	Errors  json.RawMessage `json:"errors"`
}

func (b ErrorBody) String() string {
	s := b.Message
	if b.Subcode != "" {
		s += " (" + b.Subcode + ")"
	}
	if fields := b.Fields(); len(fields) > 0 {
		s += ": " + strings.Join(fields, "; ")
	}
	return clip(s)
}

// Fields renders the errors member, whichever of its two forms it has,
// as "field: reason" lines in a stable order.
func (b ErrorBody) Fields() []string {
	var list []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(b.Errors, &list) == nil {
		out := make([]string, 0, len(list))
		for _, f := range list {
			out = append(out, f.Field+": "+f.Reason)
		}
		return out
	}
	var byField map[string][]string
	if json.Unmarshal(b.Errors, &byField) == nil {
		out := make([]string, 0, len(byField))
		for _, k := range slices.Sorted(maps.Keys(byField)) {
			out = append(out, k+": "+strings.Join(byField[k], " "))
		}
		return out
	}
	return nil
}

// DecodeError parses an error reply; a body that is not the reference's
// error object becomes its own text, cut short.
func DecodeError(b []byte) ErrorBody {
	var e ErrorBody
	if json.Unmarshal(b, &e) == nil && (e.Message != "" || e.Subcode != "") {
		e.Message, e.Subcode = clip(e.Message), clip(e.Subcode)
		return e
	}
	return ErrorBody{Message: clip(strings.TrimSpace(string(b)))}
}

func clip(s string) string {
	if r := []rune(s); len(r) > 200 {
		return string(r[:200]) + "…"
	}
	return s
}

// NewClient returns a client; nothing is sent before the first call.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Scope == "" {
		cfg.Scope = "teleport"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}}
}

// Tokens is the token endpoint's reply.
type Tokens struct {
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	Access    string `json:"access_token"`
	Refresh   string `json:"refresh_token"`
}

// DecodeTokens parses a token reply: a Bearer access token, and how long
// it lives (seconds, at most a year).
func DecodeTokens(b []byte) (Tokens, error) {
	var t Tokens
	if err := json.Unmarshal(b, &t); err != nil {
		return Tokens{}, fmt.Errorf("%w: tokens: %w", ErrMalformed, err)
	}
	switch {
	case t.Access == "":
		return Tokens{}, fmt.Errorf("%w: no access_token", ErrMalformed)
	case t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer"):
		return Tokens{}, fmt.Errorf("%w: token_type %.20q is not Bearer", ErrMalformed, t.TokenType)
	case t.ExpiresIn < 0 || t.ExpiresIn > 366*24*3600:
		return Tokens{}, fmt.Errorf("%w: expires_in %d", ErrMalformed, t.ExpiresIn)
	}
	return t, nil
}

// keep stores new tokens; they are renewed at 80 % of their life.
func (c *Client) keep(t Tokens) {
	life := time.Duration(t.ExpiresIn) * time.Second
	if life <= 0 {
		life = defaultTokenLife
	}
	c.access, c.refresh = t.Access, t.Refresh
	c.renew = c.cfg.Now().Add(life * 4 / 5)
}

// token returns a usable access token: the held one, a refreshed one when
// it nears expiry, or one from a fresh password grant.
func (c *Client) token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access != "" && c.cfg.Now().Before(c.renew) {
		return c.access, nil
	}
	if c.refresh != "" {
		t, err := c.grant(ctx, map[string]string{"grant_type": "refresh_token", "refresh_token": c.refresh})
		if err == nil {
			c.keep(t)
			return c.access, nil
		}
		c.cfg.Log.Info("telemetron token refresh failed; logging in again", "err", err)
	}
	t, err := c.grant(ctx, map[string]string{"grant_type": "password", "username": c.cfg.Username, "password": c.cfg.Password})
	if err != nil {
		c.access, c.refresh = "", ""
		return "", err
	}
	c.keep(t)
	return c.access, nil
}

// grant asks the token endpoint, the parameters as JSON (the reference
// allows the query string too, but a password there ends up in logs).
func (c *Client) grant(ctx context.Context, params map[string]string) (Tokens, error) {
	params["client_id"], params["client_secret"], params["scope"] = c.cfg.ClientID, c.cfg.ClientSecret, c.cfg.Scope
	status, raw, err := c.send(ctx, http.MethodPost, c.cfg.AuthURL, "auth", "", params)
	if err != nil {
		return Tokens{}, err
	}
	if status != http.StatusOK {
		// The reference answers a refused grant 400 with no content.
		return Tokens{}, &APIError{Status: status, Path: "auth", Body: DecodeError(raw)}
	}
	return DecodeTokens(raw)
}

// forget drops a token the server refused, unless another call has
// replaced it already.
func (c *Client) forget(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access == tok {
		c.access, c.renew = "", time.Time{}
	}
}

// Call sends an authenticated request to path (under the API root, with
// query) and returns the status and body of any reply; a 401 drops the
// token, logs in again and retries once.
func (c *Client) Call(ctx context.Context, method, path string, query url.Values, body any) (int, []byte, error) {
	target := c.cfg.BaseURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx)
		if err != nil {
			return 0, nil, fmt.Errorf("telemetron login: %w", err)
		}
		status, raw, err := c.send(ctx, method, target, path, tok, body)
		if err != nil || status != http.StatusUnauthorized || attempt > 0 {
			return status, raw, err
		}
		c.forget(tok)
	}
}

// send makes one exchange; name is what errors call it (never the URL,
// which could carry a secret a proxy put there).
func (c *Client) send(ctx context.Context, method, target, name, tok string, body any) (int, []byte, error) {
	status, raw, err := cloudcall.Do(ctx, c.hc, cloudcall.Request{Method: method, URL: target, Bearer: tok, Body: body, MaxReply: maxReply})
	switch {
	case errors.Is(err, cloudcall.ErrTooLarge):
		return 0, nil, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
	case err != nil:
		return 0, nil, fmt.Errorf("telemetron %s: %w", name, err)
	}
	return status, raw, nil
}

// OpenRequest is the machine's open data request (GET .../request).
type OpenRequest struct {
	ID     int64 `json:"request_id"`
	Report bool  `json:"report"`
	Config bool  `json:"config"`
}

// DecodeOpenRequest parses the open request; the reference says any
// value asks, so a flag that is not false, 0, "" or null counts.
func DecodeOpenRequest(b []byte) (OpenRequest, error) {
	var raw struct {
		ID     int64           `json:"request_id"`
		Report json.RawMessage `json:"report"`
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return OpenRequest{}, fmt.Errorf("%w: request: %w", ErrMalformed, err)
	}
	if raw.ID <= 0 {
		return OpenRequest{}, fmt.Errorf("%w: request_id %d", ErrMalformed, raw.ID)
	}
	return OpenRequest{ID: raw.ID, Report: asks(raw.Report), Config: asks(raw.Config)}, nil
}

func asks(v json.RawMessage) bool {
	switch strings.TrimSpace(string(v)) {
	case "", "null", "false", "0", `""`, `"0"`, `"false"`:
		return false
	}
	return true
}

// Created is a create's reply: a report's id, a refill's digest or
// {"res": true}; none of it is needed, but a 2xx that is not JSON is not
// Telemetron.
func DecodeCreated(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// Login asks the token endpoint for a fresh password grant now, whatever
// token is held: a check that the client and user credentials are
// accepted.
func (c *Client) Login(ctx context.Context) error {
	t, err := c.grant(ctx, map[string]string{"grant_type": "password", "username": c.cfg.Username, "password": c.cfg.Password})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep(t)
	return nil
}

// MachineInfo is what the machine check reads of GET
// /vending_machines/{id}.
type MachineInfo struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	SerialNumber string `json:"serial_number"`
}

// DecodeMachine parses a vending machine reply: an object with a positive
// id; name and serial number are cut short.
func DecodeMachine(b []byte) (MachineInfo, error) {
	var m MachineInfo
	if err := json.Unmarshal(b, &m); err != nil {
		return MachineInfo{}, fmt.Errorf("%w: vending machine: %w", ErrMalformed, err)
	}
	if m.ID <= 0 {
		return MachineInfo{}, fmt.Errorf("%w: vending machine id %d", ErrMalformed, m.ID)
	}
	m.Name, m.SerialNumber = clip(m.Name), clip(m.SerialNumber)
	return m, nil
}

// Machine reads the vending machine id (GET /vending_machines/{id}); a
// machine the user cannot see is the API's 404.
func (c *Client) Machine(ctx context.Context, id int64) (MachineInfo, error) {
	path := fmt.Sprintf("/vending_machines/%d", id)
	status, raw, err := c.Call(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return MachineInfo{}, err
	}
	if status != http.StatusOK {
		return MachineInfo{}, &APIError{Status: status, Path: path, Body: DecodeError(raw)}
	}
	return DecodeMachine(raw)
}
