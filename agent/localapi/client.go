package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// ErrNotRunning is returned by Dial when no agent answers on the socket:
// the caller may open the database itself.
var ErrNotRunning = errors.New("no agent answers on its local socket (it is not running, or this user is neither root, the agent's user nor in its group)")

// Client talks to a running agent's local API.
type Client struct {
	hc   *http.Client
	path string
}

// Dial connects to the agent listening on path and checks that it
// answers; ErrNotRunning when there is no socket or nobody on it.
func Dial(ctx context.Context, path string) (*Client, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	c := &Client{path: path, hc: &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.do(pctx, http.MethodGet, "/v1/ping", nil, nil); err != nil {
		var api *Error
		if errors.As(err, &api) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return c, nil
}

// Error is an error answer of the API. It matches the device's errors it
// stands for with errors.Is.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is lets errors.Is(err, device.ErrLineBusy) and friends hold across the socket.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case codeNoLine:
		return target == device.ErrNoLine
	case codeBusy:
		return target == device.ErrLineBusy
	case codeKegSize:
		return target == device.ErrKegSize
	case codeBad:
		return target == device.ErrBadOperation
	case codeNotRecorded:
		return target == device.ErrNotRecorded
	case codeNoEntry:
		return target == cardpay.ErrNoEntry
	}
	return false
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("local API %s: %w", path, err)
	}
	return nil
}

// send makes a request and turns an error answer into an *Error.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("local API %s: %w", c.path, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e errorReply
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if json.Unmarshal(raw, &e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("local API: %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	return nil, &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
}

// Lines is every line's status.
func (c *Client) Lines(ctx context.Context) ([]device.LineStatus, error) {
	var out []device.LineStatus
	return out, c.do(ctx, http.MethodGet, "/v1/lines", nil, &out)
}

// Kegs is every line's keg.
func (c *Client) Kegs(ctx context.Context) ([]device.KegInfo, error) {
	var out []device.KegInfo
	return out, c.do(ctx, http.MethodGet, "/v1/kegs", nil, &out)
}

// Operate runs one operation (OpKegChange, ...) on a line and returns its keg after.
func (c *Client) Operate(ctx context.Context, line int, op string, req OpRequest) (device.KegInfo, error) {
	var out device.KegInfo
	return out, c.do(ctx, http.MethodPost, "/v1/lines/"+strconv.Itoa(line)+"/"+op, req, &out)
}

// ChangeKeg is Operate(OpKegChange).
func (c *Client) ChangeKeg(ctx context.Context, k device.KegChange) (device.KegInfo, error) {
	return c.Operate(ctx, k.Line, OpKegChange, OpRequest{KegChange: k})
}

// AdjustKeg is Operate(OpKegAdjust).
func (c *Client) AdjustKeg(ctx context.Context, line int, remaining flow.Vol) (device.KegInfo, error) {
	return c.Operate(ctx, line, OpKegAdjust, OpRequest{Remaining: remaining})
}

// History finds entries.
func (c *Client) History(ctx context.Context, q history.Query) ([]history.Entry, error) {
	var out []history.Entry
	return out, c.do(ctx, http.MethodGet, "/v1/history?"+EncodeQuery(q, "").Encode(), nil, &out)
}

// Totals sums pours by history.ByDay, ByLine or ByProduct.
func (c *Client) Totals(ctx context.Context, q history.Query, by string) ([]history.Total, error) {
	var out []history.Total
	return out, c.do(ctx, http.MethodGet, "/v1/history?"+EncodeQuery(q, by).Encode(), nil, &out)
}

// Outbox is the records waiting for upload.
func (c *Client) Outbox(ctx context.Context) ([]storage.Record, error) {
	var out []storage.Record
	return out, c.do(ctx, http.MethodGet, "/v1/ttg/outbox", nil, &out)
}

// OutboxStatus is every sink's queue and the shared outbox's size.
func (c *Client) OutboxStatus(ctx context.Context) (OutboxStatus, error) {
	var out OutboxStatus
	return out, c.do(ctx, http.MethodGet, "/v1/outbox", nil, &out)
}

// DexReports is the kept audit reports between since and until (zero:
// open) of port (0 both, 1 own audit, 2 DEX).
func (c *Client) DexReports(ctx context.Context, since, until time.Time, port int) (KeptReports, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.Format(time.RFC3339Nano))
	}
	if !until.IsZero() {
		q.Set("until", until.Format(time.RFC3339Nano))
	}
	if port != 0 {
		q.Set("port", strconv.Itoa(port))
	}
	var out KeptReports
	return out, c.do(ctx, http.MethodGet, "/v1/dex/reports?"+q.Encode(), nil, &out)
}

// DeadLetters is the records the server refused.
func (c *Client) DeadLetters(ctx context.Context) ([]storage.DeadLetter, error) {
	var out []storage.DeadLetter
	return out, c.do(ctx, http.MethodGet, "/v1/ttg/deadletters", nil, &out)
}

// DexReport takes an audit read-out (full resets the interval counters).
func (c *Client) DexReport(ctx context.Context, full bool) ([]byte, error) {
	path := "/v1/dex/report"
	if full {
		path += "?full=1"
	}
	resp, err := c.send(ctx, http.MethodPost, path, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// CardJournal is a card's unsettled charge (UID in hex).
func (c *Client) CardJournal(ctx context.Context, uid string) (cardpay.Entry, error) {
	var out cardpay.Entry
	return out, c.do(ctx, http.MethodGet, "/v1/card/"+url.PathEscape(uid), nil, &out)
}

// CardSettle resolves a card's unsettled charge as staff decided.
func (c *Client) CardSettle(ctx context.Context, uid string, d cardpay.Decision, staff string) (cardpay.Entry, error) {
	var out cardpay.Entry
	return out, c.do(ctx, http.MethodPost, "/v1/card/"+url.PathEscape(uid)+"/settle", SettleRequest{Decision: d, Staff: staff}, &out)
}
