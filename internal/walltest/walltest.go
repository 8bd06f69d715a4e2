// Package walltest is what tests of the parts around the agent share: a
// record of the agent's events, and a loop that runs the simulated wall
// on virtual time until something has happened while the part under test
// (a card reader, a payment terminal) runs on real time beside it.
package walltest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/simwall"
)

// Events records an agent's events; Add is its Emit.
type Events struct {
	mu  sync.Mutex
	evs []device.Event
}

// Add records one event.
func (e *Events) Add(ev device.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

// All returns a copy of every event so far.
func (e *Events) All() []device.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]device.Event(nil), e.evs...)
}

// Find returns the first event of a type.
func (e *Events) Find(typ device.EventType) (device.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.evs {
		if ev.Type == typ {
			return ev, true
		}
	}
	return device.Event{}, false
}

// Has is a condition for Until: an event of the type has happened.
func (e *Events) Has(typ device.EventType) func() bool {
	return func() bool { _, ok := e.Find(typ); return ok }
}

// Count counts the events of a type.
func (e *Events) Count(typ device.EventType) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// String lists the events but checkpoints, for a failing test's message.
func (e *Events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		if ev.Type != device.EventPourCheckpoint {
			out = append(out, fmt.Sprintf("%s[l%d %s %s %d %v](%s)", ev.Type, ev.Line, ev.PourID, ev.Reason, ev.Amount, ev.Volume, ev.Detail))
		}
	}
	return strings.Join(out, " ")
}

// Loop runs a simulated wall and its agent on virtual time.
type Loop struct {
	Wall   *simwall.Wall
	Agent  *device.Agent
	Events *Events
	// Pause is the real time left to the part under test per 10 ms of
	// virtual time.
	Pause time.Duration
}

// Until advances the wall 10 ms at a time, ticking the agent, until cond
// holds; after 15 s of real time the test fails, naming what it waited for.
func (l Loop) Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("never: %s\nevents: %s", what, l.Events)
		}
		l.Wall.Board.Advance(10 * time.Millisecond)
		l.Agent.Tick()
		time.Sleep(l.Pause)
	}
}
