// Package touchtopup is the TouchTopUp (ICRTouch customer-account cloud)
// client the agent uses to let customer accounts pay at the tap: the
// balance (customer_balance), the customer's name (customer_details), link
// keys (validate_accountkey) and the company (company_details, for doctor).
// Calls are CodeIgniter-style URIs with the parameters as name/value path
// segments; the API key travels in a header whose name the reference has
// lost (configurable, default X-API-KEY; docs/clouds.md). A refusal is an
// answer with "status": 0 and a "msg", whether HTTP says 200 or 4xx.
package touchtopup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/cloudcall"
)

// maxReply bounds what is read of one reply: every call used here answers
// a small JSON object.
const maxReply = 64 << 10

// Config says where TouchTopUp is and how to authenticate.
type Config struct {
	// BaseURL is the API's root: calls are BaseURL + "/index.php/...".
	BaseURL string
	// APIKey is sent in the header KeyHeader (default X-API-KEY).
	APIKey    string
	KeyHeader string
	// Zone is the companies' local time, in which LAST_UPDATE is written.
	Zone    *time.Location
	Timeout time.Duration
}

// Client calls TouchTopUp; it is safe for concurrent use. The key is
// never logged nor put in errors.
type Client struct {
	cfg Config
	hc  *http.Client
}

// NewClient returns a client; nothing is sent before the first call.
func NewClient(cfg Config) *Client {
	if cfg.KeyHeader == "" {
		cfg.KeyHeader = "X-API-KEY"
	}
	if cfg.Zone == nil {
		cfg.Zone = time.UTC
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}}
}

// Refusal is an answer with status 0: TouchTopUp's msg says why.
type Refusal struct {
	Method string
	Msg    string
	// HTTP is the reply's status code (200 or a 4xx: both readings exist).
	HTTP int
}

func (r *Refusal) Error() string { return fmt.Sprintf("touchtopup %s refused: %s", r.Method, r.Msg) }

// Errors a caller can act on.
var (
	// ErrUnavailable wraps a network error, a timeout or a 5xx: TouchTopUp
	// could not answer, which is not the account's fault.
	ErrUnavailable = errors.New("touchtopup unreachable")
	// ErrMalformed wraps a reply that is not what the reference shows.
	ErrMalformed = errors.New("touchtopup: malformed reply")
)

// Offline reports whether err means TouchTopUp could not be reached
// (rather than a refusal or a malformed answer).
func Offline(err error) bool { return errors.Is(err, ErrUnavailable) }

// Balance reads customer_balance.
func (c *Client) Balance(ctx context.Context, coid, custid int64) (Balance, error) {
	raw, err := c.get(ctx, "accounts/customer_balance", "coid", itoa(coid), "custid", itoa(custid))
	if err != nil {
		return Balance{}, err
	}
	return DecodeBalance(raw, c.cfg.Zone)
}

// Customer reads customer_details.
func (c *Client) Customer(ctx context.Context, coid, custid int64) (Customer, error) {
	raw, err := c.get(ctx, "accounts/customer_details", "coid", itoa(coid), "custid", itoa(custid))
	if err != nil {
		return Customer{}, err
	}
	return DecodeCustomer(raw)
}

// ValidateKey checks a link key with validate_accountkey; a key
// TouchTopUp does not know is a *Refusal.
func (c *Client) ValidateKey(ctx context.Context, key string) error {
	if _, _, err := ParseLinkKey(key); err != nil {
		return err
	}
	_, err := c.get(ctx, "accounts/validate_accountkey", "linkkey", key)
	return err
}

// Company reads company_details (doctor's check that key and company work).
func (c *Client) Company(ctx context.Context, cid int64) (Company, error) {
	raw, err := c.get(ctx, "accounts/company_details", "cid", itoa(cid))
	if err != nil {
		return Company{}, err
	}
	return DecodeCompany(raw)
}

// get calls method with name/value path parameters and returns a reply
// whose status is 1; status 0 is a *Refusal.
func (c *Client) get(ctx context.Context, method string, kv ...string) ([]byte, error) {
	var b strings.Builder
	b.WriteString(c.cfg.BaseURL + "/index.php/" + method)
	for _, s := range kv {
		b.WriteString("/" + url.PathEscape(s))
	}
	status, raw, err := cloudcall.Do(ctx, c.hc, cloudcall.Request{Method: http.MethodGet, URL: b.String(),
		Header: c.cfg.KeyHeader, Key: c.cfg.APIKey, MaxReply: maxReply})
	switch {
	case errors.Is(err, cloudcall.ErrTooLarge):
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, method, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, method, err)
	case status >= 500:
		return nil, fmt.Errorf("%w: %s: HTTP %d", ErrUnavailable, method, status)
	}
	ok, msg, err := DecodeStatus(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s (HTTP %d): %w", method, status, err)
	case !ok:
		return nil, &Refusal{Method: method, Msg: msg, HTTP: status}
	case status != http.StatusOK:
		return nil, fmt.Errorf("%w: %s: HTTP %d with status 1", ErrMalformed, method, status)
	}
	return raw, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
