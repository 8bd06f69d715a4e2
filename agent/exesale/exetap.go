// Package exesale runs a vending machine that speaks the executive protocol
// (EXE, through a serial bridge) as one more thing the agent sells: every
// poll it runs one exe.Master sale cycle, paid through the same payment
// interface the tap's lines use (the MDB card terminal, terminalsale.Tap as the
// exe.Payer), and reports what happened. A VendBox-style set-up: the
// machine's customer presents a card at the terminal and presses a
// selection; the terminal approves the price before the machine may vend.
package exesale

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/payment/exe"
)

// Seller is one sale cycle on the machine (exe.Master.Sell).
type Seller interface {
	Sell(ctx context.Context, p exe.Payer) (exe.Sale, bool, error)
}

// Options configure the loop.
type Options struct {
	Machine Seller
	Payer   exe.Payer
	// Poll is the pause between cycles.
	Poll   time.Duration
	Report func(device.Event)
}

// Health is the machine as diagnostics show it.
type Health struct {
	Answering bool   `json:"answering"`
	Vends     int    `json:"vends"`
	Failed    int    `json:"failed"`
	Refused   int    `json:"refused"`
	FreeVends int    `json:"free_vends"`
	Faults    int    `json:"faults"`
	LastError string `json:"last_error,omitempty"`
}

// Loop drives one machine. Run owns it; Health may be called from anywhere.
type Loop struct {
	o Options

	mu     sync.Mutex
	health Health

	// Owned by Run.
	link    link
	refused string // the last refusal reported, so a waiting selection is not reported every poll
}

// link is what was last reported of the machine's line, so each change
// is reported once.
type link int

const (
	unknown link = iota
	up
	down
)

// New builds a loop.
func New(o Options) *Loop {
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.Report == nil {
		o.Report = func(device.Event) {}
	}
	return &Loop{o: o}
}

// Health reports the machine's state and counters.
func (l *Loop) Health() Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

func (l *Loop) count(f func(h *Health)) {
	l.mu.Lock()
	f(&l.health)
	l.mu.Unlock()
}

// Run sells until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.Cycle(ctx)
		t.Reset(l.o.Poll)
	}
}

// Cycle is one sale cycle and its report (Run takes one every poll).
func (l *Loop) Cycle(ctx context.Context) {
	s, ok, err := l.o.Machine.Sell(ctx, l.o.Payer)
	if ctx.Err() != nil {
		return
	}
	if err != nil && !ok {
		l.fault(err)
		return
	}
	l.answering()
	if !ok {
		l.refused = ""
		return
	}
	l.sale(s, err)
}

func (l *Loop) answering() {
	if l.link == up {
		return
	}
	l.link = up
	l.count(func(h *Health) { h.Answering = true })
	l.o.Report(device.Event{Type: device.EventEXEReady, Detail: "the EXE machine answers"})
}

func (l *Loop) fault(err error) {
	l.count(func(h *Health) { h.Answering, h.LastError = false, err.Error() })
	if l.link == down {
		return // reported already
	}
	l.link = down
	l.count(func(h *Health) { h.Faults++ })
	l.o.Report(device.Event{Type: device.EventEXEFault, Detail: err.Error()})
}

// sale reports one cycle that had a vend request.
func (l *Loop) sale(s exe.Sale, err error) {
	what := fmt.Sprintf("selection %d", s.Selection)
	switch {
	case s.Refused != "":
		// A selection waits at the machine until a card pays for it:
		// report a refusal once, not every poll.
		if r := what + ": " + s.Refused; r != l.refused {
			l.refused = r
			l.count(func(h *Health) { h.Refused++ })
			l.o.Report(device.Event{Type: device.EventEXEVendRefused, Detail: r})
		}
		return
	case s.Made && s.Amount == 0:
		l.count(func(h *Health) { h.FreeVends++ })
		l.o.Report(device.Event{Type: device.EventEXEFreeVend, Detail: what + ": the machine is set to free vend"})
	case s.Made:
		l.count(func(h *Health) { h.Vends++ })
		l.o.Report(device.Event{Type: device.EventEXEVend, Amount: s.Amount, Detail: what})
	default:
		why := "the machine reports the vend failed"
		if err != nil && !errors.Is(err, exe.ErrVendFailed) {
			why = err.Error()
		}
		l.count(func(h *Health) { h.Failed++; h.LastError = why })
		l.o.Report(device.Event{Type: device.EventEXEVendFailed, Amount: s.Amount, Detail: what + ": " + why + "; VEND FAILURE to the terminal"})
	}
	l.refused = ""
}
