package telemetronapi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"sync"
	"time"
)

// retryFulfil is how soon a request whose fulfilment failed is tried again.
const retryFulfil = 5 * time.Second

// reportGap bounds the read-outs report requests take: a report this
// recent is fresh enough, so a client asking in a loop cannot fill the
// report store (each read-out is kept for 14 days).
const reportGap = 30 * time.Second

// request is the machine's one open data request: the reference merges
// the flags of every POST into it and keeps its id.
type request struct {
	id             int64
	report, config bool
}

// requests hold the open request and the last configuration snapshot, in
// memory: a restart forgets an open request (its client sees 404, as if
// fulfilled, and finds the data it asked for absent or older).
type requests struct {
	mu     sync.Mutex
	next   int64
	open   *request
	config json.RawMessage
	wake   chan struct{}
}

func newRequests() *requests {
	var b [4]byte
	_, _ = rand.Read(b[:])
	// Ids start at a random point so that ids of a run before a restart
	// are unlikely to name a request of this one.
	return &requests{next: int64(binary.BigEndian.Uint32(b[:]) >> 8), wake: make(chan struct{}, 1)}
}

// ask merges flags into the open request, opening one if none is; progress
// says a flag asked for was already pending.
func (q *requests) ask(report, config bool) (id int64, progress bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.open == nil {
		q.next++
		q.open = &request{id: q.next}
	}
	progress = (report && q.open.report) || (config && q.open.config)
	q.open.report = q.open.report || report
	q.open.config = q.open.config || config
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return q.open.id, progress
}

// pending reports whether request id is still open.
func (q *requests) pending(id int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.open != nil && q.open.id == id
}

// take is what the open request asks for now.
func (q *requests) take() (report, config bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.open == nil {
		return false, false
	}
	return q.open.report, q.open.config
}

// done clears fulfilled flags; a request with none left is closed.
func (q *requests) done(report, config bool, snapshot json.RawMessage) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if snapshot != nil {
		q.config = snapshot
	}
	if q.open == nil {
		return
	}
	q.open.report = q.open.report && !report
	q.open.config = q.open.config && !config
	if !q.open.report && !q.open.config {
		q.open = nil
	}
}

func (q *requests) lastConfig() json.RawMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.config
}

// fulfil serves the open request until ctx ends, as the agent itself:
// a report request takes a fresh EVA-DTS read-out (interim: the counters
// are not reset; the report is kept and reads as last), a config request
// the secret-free configuration snapshot. A failure is logged and tried
// again after retryFulfil.
func (s *Server) fulfil(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.reqs.wake:
		}
		for {
			report, config := s.reqs.take()
			if !report && !config {
				break
			}
			if s.fulfilOnce(report, config) {
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryFulfil):
			}
		}
	}
}

// fulfilOnce fulfils what it can of the request's flags.
func (s *Server) fulfilOnce(report, config bool) bool {
	okAll := true
	var snap json.RawMessage
	if config {
		doc := map[string]any{}
		var err error
		if s.o.Snapshot != nil {
			doc, err = s.o.Snapshot()
		}
		if err == nil {
			snap, err = json.Marshal(doc)
		}
		if err != nil {
			s.o.Log.Error("telemetron API: configuration snapshot", "err", err)
			config, okAll = false, false
		}
	}
	if report {
		now := s.o.Now()
		switch {
		case s.o.Audit == nil:
			s.o.Log.Warn("telemetron API: report requested, but this agent keeps no audit")
		case !s.lastReadOut.IsZero() && now.Sub(s.lastReadOut) < reportGap && !now.Before(s.lastReadOut):
			// The last read-out is fresh enough.
		default:
			if _, err := s.o.Audit.Read(s.o.Identity, false, "telemetron"); err != nil {
				s.o.Log.Error("telemetron API: report request", "err", err)
				report, okAll = false, false
			} else {
				s.lastReadOut = now
			}
		}
	}
	s.reqs.done(report, config, snap)
	return okAll
}
