// Package cloudemu holds what the loopback emulators of the vending clouds
// (sim/smartnow, sim/telemetron, sim/touchtopup) share: fault injection in
// the manner of the TTG emulator, a loopback-only listener, strict JSON
// decoding, an optional JSON state file, HS256 tokens and the Core that
// ties the listener, the state file and the faults together. Each emulator
// keeps its own wire shapes and error bodies; only the plumbing is here.
package cloudemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Faults are injected into an emulator's requests, for tests of a
// misbehaving or unreachable cloud. Counted faults apply to the next N
// requests; when several are set, the first in this order wins: Down,
// Drop, FailAll, Fail500, Malformed, LoseReply.
type Faults struct {
	// Down closes every connection without a reply, as a host whose
	// service is not running behind a proxy does.
	Down bool `json:"down"`
	// Latency delays every request before it is processed (a slow cloud).
	Latency time.Duration `json:"latency"`
	// ReplyDelay processes a request at once but holds its reply back this
	// long: the data is committed while the client still waits (and may
	// time out and resend).
	ReplyDelay time.Duration `json:"reply_delay"`
	// Drop closes the connection without a reply, before processing, for
	// the next N requests.
	Drop int `json:"drop"`
	// FailAll answers every request with 500; Fail500 the next N.
	FailAll bool `json:"fail_all"`
	Fail500 int  `json:"fail_500"`
	// Malformed answers the next N requests, unprocessed, with broken JSON.
	Malformed int `json:"malformed"`
	// LoseReply processes the next N requests and commits what they carry,
	// then closes the connection without answering: the client cannot
	// know its data arrived and must resend it.
	LoseReply int `json:"lose_reply"`
	// ExpireTokens invalidates every issued access token once; the
	// emulator applies it when the faults are set.
	ExpireTokens bool `json:"expire_tokens"`
}

// Injector holds the faults of one emulator; safe for concurrent use.
type Injector struct {
	mu sync.Mutex
	f  Faults
}

// Set replaces the faults and reports whether tokens are to be expired;
// ExpireTokens itself is not kept (it is a one-time action).
func (in *Injector) Set(f Faults) (expireTokens bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	expireTokens = f.ExpireTokens
	f.ExpireTokens = false
	in.f = f
	return expireTokens
}

// Get returns the faults still pending.
func (in *Injector) Get() Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.f
}

type action int

const (
	pass action = iota
	hangUpFirst
	fail
	malformed
	loseReply
)

// take decides what the next request gets and counts it down; it also
// returns the delays before processing and before the reply.
func (in *Injector) take() (action, time.Duration, time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := &in.f
	act := pass
	switch {
	case f.Down:
		act = hangUpFirst
	case f.Drop > 0:
		f.Drop--
		act = hangUpFirst
	case f.FailAll:
		act = fail
	case f.Fail500 > 0:
		f.Fail500--
		act = fail
	case f.Malformed > 0:
		f.Malformed--
		act = malformed
	case f.LoseReply > 0:
		f.LoseReply--
		act = loseReply
	}
	return act, f.Latency, f.ReplyDelay
}

// Wrap applies the faults to next. fail writes the cloud's own 500 body.
func (in *Injector) Wrap(next http.Handler, fail500 func(http.ResponseWriter)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		act, latency, replyDelay := in.take()
		if latency > 0 && !sleep(r.Context(), latency) {
			return
		}
		switch act {
		case hangUpFirst:
			HangUp(w)
		case fail:
			fail500(w)
		case malformed:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"message": "ok", "id": 1`))
		case loseReply:
			next.ServeHTTP(&held{h: http.Header{}}, r)
			HangUp(w)
		case pass:
			if replyDelay <= 0 {
				next.ServeHTTP(w, r)
				return
			}
			rep := &held{h: http.Header{}, status: http.StatusOK}
			next.ServeHTTP(rep, r)
			if sleep(r.Context(), replyDelay) {
				rep.copyTo(w)
			}
		}
	})
}

// Handler serves GET (the faults pending) and POST (replace them, a JSON
// Faults) for an emulator's control path; apply is called on POST.
func (in *Injector) Handler(apply func(Faults)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost:
			var f Faults
			if err := DecodeJSON(r, &f); err != nil {
				WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			apply(f)
		default:
			WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "GET or POST"})
			return
		}
		WriteJSON(w, http.StatusOK, in.Get())
	})
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// HangUp closes the connection without a reply, as a server that died
// mid-request does.
func HangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// held is a ResponseWriter that keeps the reply, to send later or never.
type held struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

// Header is the held reply's header.
func (d *held) Header() http.Header { return d.h }

// Write keeps the body.
func (d *held) Write(b []byte) (int, error) { return d.body.Write(b) }

// WriteHeader keeps the status.
func (d *held) WriteHeader(code int) { d.status = code }

func (d *held) copyTo(w http.ResponseWriter) {
	for k, v := range d.h {
		w.Header()[k] = v
	}
	w.WriteHeader(d.status)
	_, _ = w.Write(d.body.Bytes())
}

// MaxBody bounds every request body an emulator reads.
const MaxBody = 4 << 20

// DecodeJSON reads one JSON value from the request body into v, strictly:
// unknown fields, wrong types, trailing data and bodies over MaxBody are
// refused, so that a client's misspelt field fails loudly in tests
// instead of being ignored.
func DecodeJSON(r *http.Request, v any) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, MaxBody)); err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	return DecodeBytes(buf.Bytes(), v)
}

// DecodeBytes is DecodeJSON on a body already read.
func DecodeBytes(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON body: data after the JSON value")
	}
	return nil
}

// WriteJSON writes v as the JSON reply with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
