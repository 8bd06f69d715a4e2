// Package exe is the payment side (the master) of the executive protocol
// (EXE), for vending machines whose controller speaks it, reached through
// a bridge: a serial adapter that owns EXE's electrical interface and
// passes single bytes both ways. It is bridge-only — tapagent never drives
// the EXE interface itself.
//
// The exchange is one command byte from the master and one answer byte
// from the machine:
//
//   - STATUS (31h): the machine's state; bit 7 free vend, bit 6 inhibited
//     (no sales), the low nibble audit information;
//   - CREDIT (32h): "is there a vend request?"; FEh is none, any other
//     byte is the selection the customer asked for;
//   - VEND (33h): the master allows the requested vend; the machine answers
//     once it has dispensed, 00h for a vend made, anything else for one
//     that failed.
//
// Where public descriptions are silent the choices are stated here: a
// machine that stays silent for Response after STATUS or CREDIT is not
// answering (ErrTimeout); after VEND it has up to VendTimeout, the longest
// a dispense may take.
package exe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.bug.st/serial"
)

// Command bytes.
const (
	CmdStatus byte = 0x31
	CmdCredit byte = 0x32
	CmdVend   byte = 0x33
)

// NoVendRequest is the CREDIT answer when nobody has chosen anything.
const NoVendRequest byte = 0xFE

// Port is the bridge's serial line.
type Port interface {
	Write(b []byte) (int, error)
	Read(b []byte) (int, error)
	SetReadTimeout(d time.Duration) error
	Close() error
}

// ErrTimeout is a machine that did not answer in time.
var ErrTimeout = errors.New("exe: no answer from the machine")

// Status is the machine's STATUS answer.
type Status struct {
	FreeVend  bool
	Inhibited bool
	Audit     byte // the low nibble
}

// Master is the payment side of one machine.
type Master struct {
	P Port
	// Response bounds the wait for an answer to STATUS and CREDIT (100 ms
	// by default); VendTimeout the wait for a dispense (60 s).
	Response, VendTimeout time.Duration
}

// OpenBridge opens a bridge on a serial port (9600 8N1).
func OpenBridge(path string) (*Master, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("exe bridge %s: %w", path, err)
	}
	return &Master{P: p}, nil
}

func (m *Master) call(ctx context.Context, cmd byte, wait time.Duration) (byte, error) {
	if err := m.drain(); err != nil {
		return 0, err
	}
	if _, err := m.P.Write([]byte{cmd}); err != nil {
		return 0, fmt.Errorf("exe: write %02X: %w", cmd, err)
	}
	var b [1]byte
	for end := time.Now().Add(wait); ; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		left := time.Until(end)
		if left <= 0 {
			return 0, fmt.Errorf("%w to %02X within %s", ErrTimeout, cmd, wait)
		}
		// Short reads keep a cancelled context from waiting out a dispense.
		if err := m.P.SetReadTimeout(min(left, 100*time.Millisecond)); err != nil {
			return 0, fmt.Errorf("exe: %w", err)
		}
		n, err := m.P.Read(b[:])
		if n == 1 {
			return b[0], nil
		}
		var te interface{ Timeout() bool }
		if err != nil && !(errors.As(err, &te) && te.Timeout()) {
			return 0, fmt.Errorf("exe: read: %w", err)
		}
	}
}

// drain drops what the machine sent after an earlier command's deadline,
// so a late answer is never taken for this command's.
func (m *Master) drain() error {
	var b [64]byte
	for range 16 {
		if err := m.P.SetReadTimeout(time.Millisecond); err != nil {
			return fmt.Errorf("exe: %w", err)
		}
		if n, _ := m.P.Read(b[:]); n == 0 {
			return nil
		}
	}
	return errors.New("exe: the line does not fall silent")
}

func (m *Master) response() time.Duration {
	if m.Response > 0 {
		return m.Response
	}
	return 100 * time.Millisecond
}

// Status asks the machine for its state.
func (m *Master) Status(ctx context.Context) (Status, error) {
	b, err := m.call(ctx, CmdStatus, m.response())
	if err != nil {
		return Status{}, err
	}
	return Status{FreeVend: b&0x80 != 0, Inhibited: b&0x40 != 0, Audit: b & 0x0F}, nil
}

// Credit asks for a vend request: the selection, and whether there is one.
func (m *Master) Credit(ctx context.Context) (byte, bool, error) {
	b, err := m.call(ctx, CmdCredit, m.response())
	if err != nil {
		return 0, false, err
	}
	return b, b != NoVendRequest, nil
}

// ErrVendFailed is a machine that reports the vend it was allowed failed.
var ErrVendFailed = errors.New("exe: the machine reports the vend failed")

// Vend allows the requested vend and waits for the machine's outcome.
func (m *Master) Vend(ctx context.Context) error {
	wait := m.VendTimeout
	if wait <= 0 {
		wait = time.Minute
	}
	b, err := m.call(ctx, CmdVend, wait)
	if err != nil {
		return err
	}
	if b != 0x00 {
		return fmt.Errorf("%w (answer %02X)", ErrVendFailed, b)
	}
	return nil
}

// Payer pays for a selection: it returns the amount taken (minor units),
// or an error when the vend may not go ahead. Settle is told the
// outcome, so a payment is kept for a vend made and given back otherwise;
// it is not called when the cycle is stopped (ctx) during the dispense.
type Payer interface {
	Pay(ctx context.Context, selection byte) (int64, error)
	Settle(ctx context.Context, selection byte, amount int64, made bool)
}

// Sale is one vend cycle's outcome.
type Sale struct {
	Selection byte
	Amount    int64
	Made      bool
	// Refused is why the payer did not pay ("" when it did).
	Refused string
}

// Sell runs one cycle: CREDIT; with a vend request, payment first, then
// VEND and the outcome settled with the payer. ok is false when nobody
// asked for anything. A machine that is inhibited is not offered a vend.
func (m *Master) Sell(ctx context.Context, p Payer) (s Sale, ok bool, err error) {
	st, err := m.Status(ctx)
	if err != nil || st.Inhibited {
		return Sale{}, false, err
	}
	sel, req, err := m.Credit(ctx)
	if err != nil || !req {
		return Sale{}, false, err
	}
	s.Selection = sel
	if st.FreeVend {
		s.Made = m.Vend(ctx) == nil
		return s, true, nil
	}
	amt, err := p.Pay(ctx, sel)
	if err != nil {
		s.Refused = err.Error()
		return s, true, nil
	}
	s.Amount = amt
	verr := m.Vend(ctx)
	if ctx.Err() != nil {
		// Stopped while the machine dispenses: whether it vended is not
		// known, so the payer is told nothing and settles it as an open
		// payment (for an MDB terminal a sale, MDB 4.2 §7.4.7).
		return s, true, ctx.Err()
	}
	s.Made = verr == nil
	p.Settle(ctx, sel, amt, s.Made)
	if verr != nil && !errors.Is(verr, ErrVendFailed) {
		return s, true, verr
	}
	return s, true, nil
}
