// Package cloudcall makes one JSON exchange with a cloud's HTTP API, the
// way every cloud client of the agent (SmartNow, Telemetron, TouchTopUp)
// does: the body JSON-encoded, Accept: application/json, the credential in
// a header, the reply read up to a bound, and errors that never carry the
// URL (a proxy or a server may have put a token in it). Each client keeps
// its own authentication, paths and reply decoding.
package cloudcall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// ErrTooLarge is a reply over the caller's bound: the cloud answered
// something no documented call answers.
var ErrTooLarge = errors.New("reply over the size limit")

// Request is one exchange.
type Request struct {
	Method, URL string
	// Bearer, when set, goes as Authorization: Bearer; Header names
	// another credential header (an API key) with its value in Key.
	Bearer, Header, Key string
	// Body is JSON-encoded when not nil.
	Body any
	// MaxReply bounds what is read of the reply (bytes).
	MaxReply int
}

// Do makes the exchange and returns the HTTP status and the reply. A
// network or reading failure is returned with the URL dropped; a reply
// over MaxReply is ErrTooLarge.
func Do(ctx context.Context, hc *http.Client, r Request) (int, []byte, error) {
	var rd io.Reader
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, rd)
	if err != nil {
		return 0, nil, Scrub(err)
	}
	req.Header.Set("Accept", "application/json")
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.Bearer)
	}
	if r.Header != "" {
		req.Header.Set(r.Header, r.Key)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, Scrub(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, int64(r.MaxReply)+1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the reply: %w", Scrub(err))
	}
	if len(raw) > r.MaxReply {
		return 0, nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, r.MaxReply)
	}
	return res.StatusCode, raw, nil
}

// Scrub keeps a URL error's operation and cause but drops its URL.
func Scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
