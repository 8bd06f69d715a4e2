package pn532

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Transport moves frames between the host and the PN532.
type Transport interface {
	// Send writes one host frame (an information frame, ACK or NACK).
	Send(frame []byte) error
	// Receive returns the next frame from the PN532, waiting at most
	// timeout; a timeout is ErrTimeout.
	Receive(timeout time.Duration) (Frame, error)
	Close() error
}

// ErrTimeout is a PN532 that did not answer in time.
var ErrTimeout = errors.New("pn532: no answer")

// ErrUncertain is a command the PN532 may or may not have carried out: it
// was sent, but its answer never came. The driver aborted it and
// resynchronises before the next command; it never sends it again by
// itself, because a card command that changes value or files must not run
// twice. The caller finds out on the card what happened.
var ErrUncertain = errors.New("pn532: command sent, outcome unknown")

// errNotSent: the line could not be resynchronised, so the command was
// not sent at all.
var errNotSent = errors.New("not sent")

// ErrSyntax is the PN532's syntax-error frame: it could not parse what we sent.
var ErrSyntax = errors.New("pn532: the controller reported a syntax error")

// RFError is a non-zero status of an RF command (§7.1): 0x01 timeout (the
// card did not answer: usually it left the field), 0x02 CRC, 0x03 parity,
// 0x13 ISO 14443-4 format, 0x27 wrong context, 0x29 released.
type RFError struct {
	Cmd    byte
	Status byte
}

// Error names the command and the RF status.
func (e *RFError) Error() string {
	return fmt.Sprintf("pn532 command %02X: RF status %02X", e.Cmd, e.Status)
}

// Gone reports whether the status means the card is no longer answering.
func (e *RFError) Gone() bool {
	switch e.Status {
	case 0x01, 0x29, 0x2B, 0x0A:
		return true
	}
	return false
}

// Options tune a Device.
type Options struct {
	// AckTimeout is how long the PN532 has to ACK a command (15 ms in the
	// manual, more with a USB serial bridge or a busy host). A late ACK is
	// not a lost command: commands that are harmless to repeat (firmware,
	// configuration, activation, release) are aborted, resynchronised and
	// sent again; a card exchange is waited for until its own timeout.
	AckTimeout time.Duration
	// Retries is how often a harmless command is sent again, a damaged
	// answer asked for again with NACK, and a resynchronisation tried.
	Retries int
}

// Device is a PN532 on a transport; its methods are serialised.
type Device struct {
	mu sync.Mutex
	t  Transport
	o  Options
	// dirty: a command was aborted without its answer, so a late ACK or
	// answer may still be on its way; the next command resynchronises
	// first.
	dirty bool

	// smu guards stats alone, so Stats never waits for a command in
	// progress (WaitTarget holds mu up to its whole wait).
	smu   sync.Mutex
	stats Stats
}

// Stats is the reader's health.
type Stats struct {
	Firmware  string
	Frames    int // frames exchanged
	Errors    int // timeouts, checksum errors, syntax errors
	LastError string
	LastSeen  time.Time // last frame from the PN532
	// Stray counts frames that answered no command in progress (late
	// answers of aborted commands, duplicates): skipped, never taken as
	// the answer to the wrong command.
	Stray int
	// Resyncs counts resynchronisations after an uncertain exchange.
	Resyncs int
}

// NewDevice wraps a transport.
func NewDevice(t Transport, o Options) *Device {
	if o.AckTimeout <= 0 {
		o.AckTimeout = 50 * time.Millisecond
	}
	if o.Retries <= 0 {
		o.Retries = 2
	}
	return &Device{t: t, o: o}
}

// Stats returns the health counters.
func (d *Device) Stats() Stats {
	d.smu.Lock()
	defer d.smu.Unlock()
	return d.stats
}

// note updates the health counters.
func (d *Device) note(f func(s *Stats)) {
	d.smu.Lock()
	f(&d.stats)
	d.smu.Unlock()
}

// heardNothing reports whether the chip never sent a frame.
func (d *Device) heardNothing() bool {
	d.smu.Lock()
	defer d.smu.Unlock()
	return d.stats.LastSeen.IsZero()
}

// Close releases the transport.
func (d *Device) Close() error { return d.t.Close() }

// repeatable tells the commands that may be sent twice without harm:
// they neither reach a card's memory nor depend on an earlier answer.
func repeatable(cmd byte) bool {
	switch cmd {
	case cmdGetFirmwareVersion, cmdSAMConfiguration, cmdRFConfiguration, cmdInListPassiveTarget, cmdInRelease:
		return true
	}
	return false
}

// Call sends a command and returns its answer's parameters (after the
// response code). timeout bounds the wait for the answer after the ACK.
func (d *Device) Call(ctx context.Context, cmd byte, params []byte, timeout time.Duration) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.call(ctx, cmd, params, timeout)
	d.failed(err)
	return res, err
}

func (d *Device) failed(err error) {
	if err != nil {
		d.note(func(s *Stats) { s.Errors, s.LastError = s.Errors+1, err.Error() })
	}
}

func (d *Device) call(ctx context.Context, cmd byte, params []byte, timeout time.Duration) ([]byte, error) {
	out, err := Encode(hostToPN532, append([]byte{cmd}, params...))
	if err != nil {
		return nil, err
	}
	var first error
	for try := 0; ; try++ {
		// A harmless command whose ACK is late is sent again once, in
		// case the frame was lost (§6.2.3); after that, and for any
		// card exchange, the ACK is waited for as long as the answer.
		var ackWait time.Duration
		if try == 0 && repeatable(cmd) {
			ackWait = d.o.AckTimeout
		}
		res, _, err := d.once(ctx, out, cmd, ackWait, timeout)
		if errors.Is(err, errNotSent) && first != nil {
			return nil, first // the chip went silent: its first failure says most
		}
		if err == nil || !errors.Is(err, ErrUncertain) || errors.Is(err, errNotSent) {
			return res, err
		}
		if first == nil {
			first = err
		}
		d.abort()
		if !repeatable(cmd) || try >= d.o.Retries || ctx.Err() != nil {
			return nil, err
		}
		if cmd == cmdInListPassiveTarget {
			d.freeTargets(ctx) // the lost poll may have activated the card
		}
	}
}

// once sends a command frame (after resynchronising if needed) and
// awaits its answer; acked tells whether the PN532 took the command.
func (d *Device) once(ctx context.Context, out []byte, cmd byte, ackWait, timeout time.Duration) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("pn532 command %02X: %w: %w", cmd, errNotSent, err)
	}
	if err := d.ready(ctx); err != nil {
		return nil, false, fmt.Errorf("pn532 command %02X: %w: %w", cmd, errNotSent, err)
	}
	if err := d.t.Send(out); err != nil {
		return nil, false, fmt.Errorf("pn532 command %02X: %w", cmd, err)
	}
	d.note(func(s *Stats) { s.Frames++ })
	return d.await(ctx, cmd, ackWait, timeout)
}

// ready resynchronises first when an earlier command was aborted.
func (d *Device) ready(ctx context.Context) error {
	if !d.dirty {
		return nil
	}
	return d.resync(ctx)
}

// abort sends the host's ACK, which makes the PN532 drop the command in
// progress (§6.2.2), and marks the line for resynchronisation: the
// aborted command's ACK or answer may still arrive.
func (d *Device) abort() {
	d.t.Send(ackFrame)
	d.dirty = true
}

// resync brings the line back to "no answer outstanding": it aborts
// whatever may run and asks for the firmware version, skipping every
// frame until that answer. The PN532 answers in order, so anything late
// from an aborted command comes before it.
func (d *Device) resync(ctx context.Context) error {
	marker, _ := Encode(hostToPN532, []byte{cmdGetFirmwareVersion})
	var last error
	for try := 0; try <= d.o.Retries; try++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.note(func(s *Stats) { s.Resyncs++ })
		d.t.Send(ackFrame)
		if err := d.t.Send(marker); err != nil {
			return fmt.Errorf("resynchronising: %w", err)
		}
		d.note(func(s *Stats) { s.Frames++ })
		// Generous: a chip busy enough to lose an answer is slow now.
		_, _, err := d.await(ctx, cmdGetFirmwareVersion, 0, 4*d.o.AckTimeout+200*time.Millisecond)
		if err == nil {
			d.dirty = false
			return nil
		}
		last = err
		if d.heardNothing() {
			break // never a word from the chip: it is not there, not busy
		}
	}
	return fmt.Errorf("resynchronising: %w", last)
}

// await reads frames until the answer to cmd. An ACK may come late (after
// ackWait, when that is set, the command counts as lost) or not at all
// when the answer follows; frames that answer another command are stray
// and skipped. A damaged frame after the ACK is asked for again with NACK.
func (d *Device) await(ctx context.Context, cmd byte, ackWait, timeout time.Duration) ([]byte, bool, error) {
	start := time.Now()
	deadline := start.Add(d.o.AckTimeout + timeout)
	acked, nacks := false, 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, acked, fmt.Errorf("pn532 command %02X: %w (%w)", cmd, ErrUncertain, err)
		}
		until := deadline
		if !acked && ackWait > 0 {
			until = start.Add(ackWait)
		}
		left := time.Until(until)
		if left <= 0 {
			why := "no answer"
			if !acked {
				why = "no ACK"
			}
			return nil, acked, fmt.Errorf("pn532 command %02X: %s: %w (%w)", cmd, why, ErrUncertain, ErrTimeout)
		}
		f, err := d.receive(left)
		switch {
		case errors.Is(err, ErrTimeout):
			continue
		case errors.Is(err, ErrChecksum):
			if acked && nacks < d.o.Retries {
				nacks++
				d.t.Send(nackFrame)
			}
			continue
		case err != nil:
			return nil, acked, fmt.Errorf("pn532 command %02X: %w (%w)", cmd, ErrUncertain, err)
		}
		switch f.Kind {
		case Ack:
			if acked {
				d.note(func(s *Stats) { s.Stray++ })
			}
			acked = true
		case SyntaxError:
			return nil, acked, fmt.Errorf("pn532 command %02X: %w", cmd, ErrSyntax)
		case Info:
			if len(f.Data) >= 2 && f.Data[0] == pn532ToHost && f.Data[1] == cmd+1 {
				return f.Data[2:], true, nil
			}
			d.note(func(s *Stats) { s.Stray++ })
		}
	}
}

func (d *Device) receive(timeout time.Duration) (Frame, error) {
	f, err := d.t.Receive(timeout)
	if err == nil {
		d.note(func(s *Stats) { s.LastSeen, s.Frames = time.Now(), s.Frames+1 })
	}
	return f, err
}
