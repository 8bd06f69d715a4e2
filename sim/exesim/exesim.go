// Package exesim is a simulated vending machine controller that speaks the
// executive protocol (EXE) behind a bridge: it answers STATUS, CREDIT and
// VEND one byte at a time on a serial line, with a customer's selection
// pending, an inhibited or free-vend machine, a slow dispense, a failed
// one, or a machine that stays silent.
package exesim

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/exe"
)

// Machine is the simulated controller.
type Machine struct {
	mu        sync.Mutex
	pending   []byte // selections asked for, oldest first
	inhibited bool
	freeVend  bool
	fails     bool
	silent    bool
	dispense  time.Duration
	lag       time.Duration // before every answer: a slow controller
	allowed   bool          // VEND may follow: a request was reported by CREDIT
	vended    []byte
	failed    []byte
	answered  int // answers written to the bridge
}

// Choose is a customer pressing a selection button.
func (m *Machine) Choose(sel byte) {
	m.mu.Lock()
	m.pending = append(m.pending, sel)
	m.mu.Unlock()
}

// Set changes the machine's state: inhibited (no sales), free vend, vends
// that fail, silence, and how long a dispense takes.
func (m *Machine) Set(inhibited, freeVend, fails, silent bool, dispense time.Duration) {
	m.mu.Lock()
	m.inhibited, m.freeVend, m.fails, m.silent, m.dispense = inhibited, freeVend, fails, silent, dispense
	m.mu.Unlock()
}

// SetLag makes every answer come d late.
func (m *Machine) SetLag(d time.Duration) {
	m.mu.Lock()
	m.lag = d
	m.mu.Unlock()
}

// Answered counts the answers the machine has written to its bridge: a
// test sees from it that the master polled, or that a late answer went out.
func (m *Machine) Answered() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.answered
}

// Vended and Failed list the selections dispensed and failed.
func (m *Machine) Vended() (vended, failed []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.vended...), append([]byte(nil), m.failed...)
}

// Answer is the machine's reply to one command byte; false means silence.
func (m *Machine) Answer(cmd byte) (byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.silent {
		return 0, false
	}
	switch cmd {
	case exe.CmdStatus:
		var b byte
		if m.freeVend {
			b |= 0x80
		}
		if m.inhibited {
			b |= 0x40
		}
		return b, true
	case exe.CmdCredit:
		if len(m.pending) == 0 || m.inhibited {
			return exe.NoVendRequest, true
		}
		m.allowed = true
		return m.pending[0], true
	case exe.CmdVend:
		if !m.allowed || len(m.pending) == 0 {
			return 0xFF, true // nothing was requested: refused
		}
		sel := m.pending[0]
		m.pending, m.allowed = m.pending[1:], false
		d := m.dispense
		m.mu.Unlock()
		time.Sleep(d)
		m.mu.Lock()
		if m.fails {
			m.failed = append(m.failed, sel)
			return 0x01, true
		}
		m.vended = append(m.vended, sel)
		return 0x00, true
	}
	return 0, false // unknown commands go unanswered
}

// Serve answers the bridge's bytes on port until ctx ends or the port fails.
func (m *Machine) Serve(ctx context.Context, port io.ReadWriter) error {
	var b [1]byte
	for ctx.Err() == nil {
		n, err := port.Read(b[:])
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		m.mu.Lock()
		lag := m.lag
		m.mu.Unlock()
		time.Sleep(lag)
		if r, ok := m.Answer(b[0]); ok {
			if _, err := port.Write([]byte{r}); err != nil {
				return err
			}
			m.mu.Lock()
			m.answered++
			m.mu.Unlock()
		}
	}
	return nil
}

// Bridge is a simulated machine behind a bridge: the machine answers on
// one end of a pseudo-terminal, the other end is the bridge's serial line.
type Bridge struct {
	// Line is the bridge's serial line, open; Path names it, for a peer
	// that opens it by name.
	Line pty.File
	Path string
	stop func()
}

// Close stops the machine and closes both ends.
func (b *Bridge) Close() { b.stop() }

// OnBridge serves the machine behind a pseudo-terminal until Close.
func (m *Machine) OnBridge() (*Bridge, error) {
	pm, ps, err := pty.Open()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Serve(ctx, pm); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() { cancel(); pm.Close(); ps.Close(); <-done })
	}
	return &Bridge{Line: pty.File{File: ps}, Path: ps.Name(), stop: stop}, nil
}
