package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tapagent/tapagent/device"
)

// Live-stream bounds: a client that cannot keep up loses frames (the
// next status frame carries the whole tap list again), never the agent.
const (
	maxClients   = 32
	clientBuffer = 64
	statusEvery  = 250 * time.Millisecond
	keepalive    = 15 * time.Second
)

// hub fans agent events and tap-list snapshots out to the live streams.
type hub struct {
	in      chan device.Event
	status  func() []byte
	now     func() time.Time
	mu      sync.Mutex
	clients map[chan []byte]struct{}
}

func newHub(status func() []byte, now func() time.Time) *hub {
	return &hub{in: make(chan device.Event, 1024), status: status, now: now, clients: map[chan []byte]struct{}{}}
}

// publish never blocks: with the queue full the event is left out of the
// live view (it is in the event log all the same).
func (h *hub) publish(ev device.Event) {
	select {
	case h.in <- ev:
	default:
	}
}

func frame(event string, data []byte) []byte {
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, data)
}

func (h *hub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c <- msg:
		default:
		}
	}
}

func (h *hub) hasClients() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients) > 0
}

// run sends each event as it comes and the tap list whenever it changed,
// at most every statusEvery (flow and volume change with every pulse).
func (h *hub) run(ctx context.Context) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-h.in:
			if ev.Type == device.EventPourCheckpoint {
				continue
			}
			b, err := json.Marshal(ev)
			if err == nil {
				h.broadcast(frame("ev", b))
			}
		case <-t.C:
			if !h.hasClients() {
				last = nil
				continue
			}
			if b := h.status(); string(b) != string(last) {
				last = b
				h.broadcast(frame("status", b))
			}
		}
	}
}

func (h *hub) subscribe() (chan []byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= maxClients {
		return nil, false
	}
	c := make(chan []byte, clientBuffer)
	h.clients[c] = struct{}{}
	return c, true
}

func (h *hub) unsubscribe(c chan []byte) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// serveLive is the server-sent event stream: "status" frames carry the tap
// list, "ev" frames the agent's events.
func (s *Server) serveLive(w http.ResponseWriter, r *http.Request, ss session) {
	c, ok := s.live.subscribe()
	if !ok {
		http.Error(w, "too many live views open", http.StatusServiceUnavailable)
		return
	}
	defer s.live.unsubscribe(c)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(b []byte) bool {
		// Each write has its own deadline: a stalled reader is dropped.
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(append([]byte("retry: 2000\n"), frame("status", s.live.status())...)) {
		return
	}
	ka := time.NewTicker(time.Duration(s.keepalive.Load()))
	defer ka.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case b := <-c:
			if !send(b) {
				return
			}
		case <-ka.C:
			if cur, ok := s.sessions.get(ss.id); !ok || !s.stillValid(cur) {
				s.sessions.end(ss.id)
				return // logged out, expired, removed, demoted or reset: the stream ends with the session
			}
			if !send([]byte(": keepalive\n\n")) {
				return
			}
		}
	}
}
