package ttg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ClientConfig says where the server is and who we are.
type ClientConfig struct {
	BaseURL  string // e.g. http://192.168.0.13:8585
	Username string
	Password string
	// ClientID and ClientName identify this API client to the server.
	ClientID   int64
	ClientName string
	// Timeout bounds one HTTP exchange.
	Timeout time.Duration
	// Attempts is how often a call is tried on 500s and network errors.
	Attempts int
	// BaseDelay and MaxDelay shape exponential backoff with full jitter.
	BaseDelay, MaxDelay time.Duration
	Log                 *slog.Logger
}

// Client calls the TTG server control API. It is safe for concurrent use.
type Client struct {
	cfg ClientConfig
	hc  *http.Client

	mu    sync.Mutex
	token string
	uuid  string
}

// HTTPError is a reply with an unexpected status.
type HTTPError struct {
	Status int
	Path   string
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Path, e.Status, strings.TrimSpace(e.Body))
}

// ErrMalformed wraps replies that are not the JSON the spec promises.
var ErrMalformed = errors.New("malformed reply")

// ErrBadCredentials is returned when the server refuses the user name or password.
var ErrBadCredentials = errors.New("server refused the credentials")

// NewClient returns a client; nothing is sent until the first call.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = 200 * time.Millisecond
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}}
}

// Backoff is the wait before retry n (0-based): exponential, capped, with
// full jitter so that a wall of devices does not retry in step.
func Backoff(n int, base, maxDelay time.Duration, rnd func() float64) time.Duration {
	d := base << min(n, 20)
	if d <= 0 || d > maxDelay {
		d = maxDelay
	}
	return time.Duration(float64(d) * (0.5 + rnd()/2))
}

// ServerUUID is the uuid the server reported at authentication.
func (c *Client) ServerUUID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uuid
}

// Authenticate fetches a fresh token.
func (c *Client) Authenticate(ctx context.Context) error {
	req := AuthRequest{Username: c.cfg.Username, Password: c.cfg.Password, ID: c.cfg.ClientID,
		Name: c.cfg.ClientName, Type: ClientType, Version: 1}
	var resp AuthResponse
	status, err := c.post(ctx, "/m2m/api/authToken", "", req, &resp)
	switch {
	case err != nil:
		return err
	case status == http.StatusBadRequest:
		return fmt.Errorf("%w: %s", ErrBadCredentials, resp.Error)
	case resp.AuthToken == "":
		return fmt.Errorf("authToken: %w: no token in the reply", ErrMalformed)
	}
	c.mu.Lock()
	c.token, c.uuid = resp.AuthToken, resp.UUID
	c.mu.Unlock()
	return nil
}

// Call posts req to path and decodes the reply into resp, authenticating
// as needed: a 403 triggers one re-authentication, 500s and network errors
// are retried with backoff until Attempts or ctx runs out.
func (c *Client) Call(ctx context.Context, path string, req, resp any) error {
	var last error
	reauthed := false
	for attempt := 0; attempt < c.cfg.Attempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, Backoff(attempt-1, c.cfg.BaseDelay, c.cfg.MaxDelay, rand.Float64)); err != nil {
				return errors.Join(last, err)
			}
		}
		err := c.callOnce(ctx, path, req, resp)
		var he *HTTPError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &he) && he.Status == http.StatusForbidden && !reauthed:
			reauthed = true
			c.setToken("")
			attempt-- // a token refresh is not a failed attempt
			last = err
			continue
		case errors.As(err, &he) && he.Status < 500:
			return err // the request itself is wrong: retrying will not help
		case errors.Is(err, ErrBadCredentials), ctx.Err() != nil:
			return err
		}
		c.cfg.Log.Debug("ttg call failed, will retry", "path", path, "attempt", attempt+1, "err", err)
		last = err
	}
	return last
}

// Token is the bearer token in use, or "" before the first
// authentication; the device status call (3.34) reports it.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

func (c *Client) setToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

func (c *Client) callOnce(ctx context.Context, path string, req, resp any) error {
	c.mu.Lock()
	tok := c.token
	c.mu.Unlock()
	if tok == "" {
		if err := c.Authenticate(ctx); err != nil {
			return err
		}
		c.mu.Lock()
		tok = c.token
		c.mu.Unlock()
	}
	status, err := c.post(ctx, path, tok, req, resp)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return &HTTPError{Status: status, Path: path}
	}
	return nil
}

// post sends one request. Replies other than 200 (and 400 for the token
// call) come back as HTTPError with the body for the log.
func (c *Client) post(ctx context.Context, path, token string, req, resp any) (int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("%s: encoding request: %w", path, err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.hc.Do(hr)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return 0, fmt.Errorf("%s: reading reply: %w", path, err)
	}
	ok := res.StatusCode == http.StatusOK || (token == "" && res.StatusCode == http.StatusBadRequest)
	if !ok {
		return 0, &HTTPError{Status: res.StatusCode, Path: path, Body: clip(string(raw), 300)}
	}
	if resp != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, resp); err != nil {
			return 0, fmt.Errorf("%s: %w: %v (reply starts %q)", path, ErrMalformed, err, clip(string(raw), 80))
		}
	}
	return res.StatusCode, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The calls the agent makes.

func (c *Client) id() IDRequest { return IDRequest{ID: c.cfg.ClientID} }

// Products returns the product list.
func (c *Client) Products(ctx context.Context) ([]Product, error) {
	var r ProductList
	return r.Products, c.Call(ctx, "/m2m/api/productlist", c.id(), &r)
}

// Items returns the item list.
func (c *Client) Items(ctx context.Context) ([]Item, error) {
	var r ItemList
	return r.Items, c.Call(ctx, "/m2m/api/itemlist", c.id(), &r)
}

// Portions returns the portion list.
func (c *Client) Portions(ctx context.Context) ([]Portion, error) {
	var r PortionList
	return r.Portions, c.Call(ctx, "/m2m/api/portionlist", c.id(), &r)
}

// HappyHours returns the happy-hour rules.
func (c *Client) HappyHours(ctx context.Context) ([]HappyHour, error) {
	var r HappyHourList
	return r.HappyHours, c.Call(ctx, "/m2m/api/gethappyhours", c.id(), &r)
}

// ServerConfig returns the server's configuration keys.
func (c *Client) ServerConfig(ctx context.Context) (map[string]string, error) {
	var r ServerConfig
	return r.ConfigMap, c.Call(ctx, "/m2m/api/serverconfig", c.id(), &r)
}

// LinePortions returns the items configured on one line of a device.
func (c *Client) LinePortions(ctx context.Context, device int64, line int) (LinePortions, error) {
	var r LinePortions
	return r, c.Call(ctx, "/m2m/api/getPortionsForDeviceAndLine", LinePortionsRequest{ID: c.cfg.ClientID, DeviceID: device, Line: line}, &r)
}

// ConfigStamp returns when the server's configuration export last changed.
func (c *Client) ConfigStamp(ctx context.Context) (ConfigExportStamp, error) {
	var r ConfigExportStamp
	return r, c.Call(ctx, "/m2m/api/gettimestampconfigexport", c.id(), &r)
}

// CardInfo looks an online card up; with login the server locks it to device.
func (c *Client) CardInfo(ctx context.Context, req CardInfoRequest) (CardInfo, error) {
	req.ID = c.cfg.ClientID
	var r CardInfo
	return r, c.Call(ctx, "/m2m/api/cardinfo", req, &r)
}

// SendTransactions uploads a batch of transactions.
func (c *Client) SendTransactions(ctx context.Context, req TransactionRequest) (UploadResult, error) {
	req.ID = c.cfg.ClientID
	var r UploadResult
	return r, c.Call(ctx, "/m2m/api/transaction", req, &r)
}

// SendCardPurchases uploads a batch of card purchases (charger role).
func (c *Client) SendCardPurchases(ctx context.Context, req CardPurchaseRequest) (UploadResult, error) {
	req.ID = c.cfg.ClientID
	var r UploadResult
	return r, c.Call(ctx, "/m2m/api/cardpurchase", req, &r)
}
