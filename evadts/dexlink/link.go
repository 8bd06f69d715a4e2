// Package dexlink is the DEX/UCS link (EVA-DTS 6.x chapter 4): the half
// duplex 9600 8N1 exchange between a vending machine (VMD) and a data
// carrier (handheld, telemetry modem). Both roles are here: Serve answers as
// the machine and sends an audit; Read acts as the data carrier and
// collects one. Framing: DLE-escaped control sequences, blocks of at most
// 243 data bytes, CRC-16/ARC (low byte first) over the block without its
// DLEs, alternating DLE '0'/'1' acknowledgements.
package dexlink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tapagent/tapagent/evadts"
)

// Control characters.
const (
	SOH = 0x01
	STX = 0x02
	ETX = 0x03
	EOT = 0x04
	ENQ = 0x05
	DLE = 0x10
	NAK = 0x15
	SYN = 0x16
	ETB = 0x17
)

// MaxBlock is the most data bytes in one block.
const MaxBlock = 243

// Port is a serial line: a pseudo-terminal in tests, go.bug.st/serial on
// hardware. A read that times out returns (0, nil) or an error satisfying
// os.ErrDeadlineExceeded.
type Port interface {
	io.Reader
	io.Writer
	SetReadTimeout(time.Duration) error
}

// Timers of §4.5.8; tests shorten them.
type Timers struct {
	Turnaround time.Duration // wait before answering (>= 10 ms)
	Session    time.Duration // pause before the second and third session (>= 100 ms)
	A          time.Duration // response timeout (1 s)
	B          time.Duration // between characters of a block (100 ms)
	Retries    int           // attempts per block or handshake
}

// SpecTimers are the spec's values.
var SpecTimers = Timers{Turnaround: 10 * time.Millisecond, Session: 100 * time.Millisecond, A: time.Second, B: 100 * time.Millisecond, Retries: 5}

// Errors.
var (
	ErrTimeout  = errors.New("dex: timed out")
	ErrProtocol = errors.New("dex: protocol error")
	ErrRefused  = errors.New("dex: the other side refused")
)

// pollRead bounds one blocking read, so that a cancelled context is
// noticed within it even while the other side is silent.
const pollRead = 100 * time.Millisecond

// link is one end of the cable.
type link struct {
	ctx    context.Context
	p      Port
	t      Timers
	r      []byte // bytes read but not used
	buf    []byte // read buffer, reused
	sent   int    // bytes written (for line-rate figures)
	writes int    // writes, each after a turnaround pause
}

func newLink(ctx context.Context, p Port, t Timers) *link {
	return &link{ctx: ctx, p: p, t: t, buf: make([]byte, 512)}
}

// sleep waits d or until the session is cancelled.
func (l *link) sleep(d time.Duration) error {
	if d <= 0 {
		return l.ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-l.ctx.Done():
		return fmt.Errorf("dex: %w", l.ctx.Err())
	case <-tm.C:
		return nil
	}
}

// abandon ends a cancelled session as either side may end one: an EOT, so
// the other side stops waiting at once instead of running into its
// timeouts, and leaves the line idle for the next session.
func (l *link) abandon(err error) error {
	if l.ctx.Err() != nil {
		_, _ = l.p.Write([]byte{EOT})
	}
	return err
}

// readByte waits up to d for one byte.
func (l *link) readByte(d time.Duration) (byte, error) {
	if len(l.r) > 0 {
		c := l.r[0]
		l.r = l.r[1:]
		return c, nil
	}
	deadline := time.Now().Add(d)
	buf := l.buf
	for {
		if err := l.ctx.Err(); err != nil {
			return 0, fmt.Errorf("dex: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, ErrTimeout
		}
		if err := l.p.SetReadTimeout(min(left, pollRead)); err != nil {
			return 0, err
		}
		n, err := l.p.Read(buf)
		if n > 0 {
			l.r = append(l.r, buf[1:n]...)
			return buf[0], nil
		}
		if err != nil && !isTimeout(err) {
			return 0, fmt.Errorf("dex: read: %w", err)
		}
	}
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	var t timeout
	return errors.As(err, &t) && t.Timeout()
}

func (l *link) write(b ...byte) error {
	if err := l.sleep(l.t.Turnaround); err != nil {
		return err
	}
	n, err := l.p.Write(b)
	l.sent += n
	l.writes++
	if err != nil {
		return fmt.Errorf("dex: write: %w", err)
	}
	return nil
}

// expect reads until the control sequence want arrives (skipping line
// noise), or fails on timeout or an unexpected control.
func (l *link) expectDLE(want byte, d time.Duration) error {
	for {
		c, err := l.readByte(d)
		if err != nil {
			return err
		}
		switch c {
		case DLE:
			c2, err := l.readByte(l.t.B)
			if err != nil {
				return err
			}
			if c2 == want {
				return nil
			}
			if c2 == ';' { // WACK: the other side is busy; wait and go on
				continue
			}
			return fmt.Errorf("%w: DLE %q where DLE %q was due", ErrProtocol, c2, want)
		case NAK:
			return fmt.Errorf("%w: NAK", ErrRefused)
		case EOT:
			return fmt.Errorf("%w: EOT where DLE %q was due", ErrProtocol, want)
		}
	}
}

func (l *link) expect(want byte, d time.Duration) error {
	for {
		c, err := l.readByte(d)
		if err != nil {
			return err
		}
		if c == want {
			return nil
		}
		if c == NAK {
			return fmt.Errorf("%w: NAK", ErrRefused)
		}
	}
}

// frame builds DLE start data DLE end crcLo crcHi.
func frame(start, end byte, data []byte) []byte {
	crc := evadts.CRC16(0, data)
	crc = evadts.CRC16(crc, []byte{end})
	out := make([]byte, 0, len(data)+6)
	out = append(out, DLE, start)
	out = append(out, data...)
	return append(out, DLE, end, byte(crc), byte(crc>>8))
}

// readFrame reads DLE start ... DLE ETB|ETX crc crc after the DLE start
// has been seen; it returns the data and the end character.
func (l *link) readFrame() ([]byte, byte, error) {
	var data []byte
	for len(data) <= MaxBlock+2 {
		c, err := l.readByte(l.t.B)
		if err != nil {
			return nil, 0, err
		}
		if c == SYN {
			continue
		}
		if c != DLE {
			data = append(data, c)
			continue
		}
		c2, err := l.readByte(l.t.B)
		if err != nil {
			return nil, 0, err
		}
		switch c2 {
		case ETB, ETX:
			lo, err1 := l.readByte(l.t.B)
			hi, err2 := l.readByte(l.t.B)
			if err := errors.Join(err1, err2); err != nil {
				return nil, 0, err
			}
			crc := evadts.CRC16(evadts.CRC16(0, data), []byte{c2})
			if uint16(lo)|uint16(hi)<<8 != crc {
				return nil, 0, fmt.Errorf("%w: block CRC %02X%02X, computed %04X", ErrProtocol, hi, lo, crc)
			}
			return data, c2, nil
		case SYN: // DLE SYN: time fill
		case DLE:
			data = append(data, DLE)
		default:
			return nil, 0, fmt.Errorf("%w: DLE %q inside a block", ErrProtocol, c2)
		}
	}
	return nil, 0, fmt.Errorf("%w: block longer than %d bytes", ErrProtocol, MaxBlock)
}

// waitFor reads until start (after DLE) or a bare control char arrives.
func (l *link) waitStart(d time.Duration) (byte, error) {
	for {
		c, err := l.readByte(d)
		if err != nil {
			return 0, err
		}
		switch c {
		case EOT, ENQ, NAK:
			return c, nil
		case DLE:
			c2, err := l.readByte(l.t.B)
			if err != nil {
				return 0, err
			}
			if c2 == SOH || c2 == STX {
				return c2, nil
			}
		}
	}
}

// Stats are what one session moved.
type Stats struct {
	Payload  int           // audit bytes
	Wire     int           // bytes this side wrote
	Writes   int           // turnarounds this side made
	Duration time.Duration // whole session
}

// LineTime is how long a session takes on a real 9600 8N1 line (960
// bytes/s), both sides' bytes and turnaround pauses included, given the
// two sides' stats and the timers used.
func LineTime(a, b Stats, t Timers) time.Duration {
	bytesOnWire := a.Wire + b.Wire
	return time.Duration(bytesOnWire)*time.Second/960 +
		time.Duration(a.Writes+b.Writes)*t.Turnaround + 2*t.Session
}
