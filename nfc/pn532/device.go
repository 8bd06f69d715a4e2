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
	// AckTimeout is how long the PN532 has to ACK a command before it is
	// sent again: 15 ms in the manual, more with a USB serial bridge.
	AckTimeout time.Duration
	// Retries is how often a command is resent after no ACK or a damaged
	// answer (answers are asked again with NACK).
	Retries int
}

// Device is a PN532 on a transport; its methods are serialised.
type Device struct {
	mu sync.Mutex
	t  Transport
	o  Options

	stats Stats
}

// Stats is the reader's health.
type Stats struct {
	Firmware  string
	Frames    int // frames exchanged
	Errors    int // timeouts, checksum errors, syntax errors
	LastError string
	LastSeen  time.Time // last frame from the PN532
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
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Close releases the transport.
func (d *Device) Close() error { return d.t.Close() }

// Call sends a command and returns its answer's parameters (after the
// response code). timeout bounds the wait for the answer after the ACK.
func (d *Device) Call(ctx context.Context, cmd byte, params []byte, timeout time.Duration) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out, err := Encode(hostToPN532, append([]byte{cmd}, params...))
	if err != nil {
		return nil, err
	}
	res, err := d.call(ctx, cmd, out, timeout)
	if err != nil {
		d.stats.Errors++
		d.stats.LastError = err.Error()
	}
	return res, err
}

func (d *Device) call(ctx context.Context, cmd byte, out []byte, timeout time.Duration) ([]byte, error) {
	var last error
	for try := 0; try <= d.o.Retries; try++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := d.t.Send(out); err != nil {
			return nil, fmt.Errorf("pn532 command %02X: %w", cmd, err)
		}
		d.stats.Frames++
		f, err := d.receive(d.o.AckTimeout)
		switch {
		case err != nil:
			last = fmt.Errorf("pn532 command %02X: no ACK: %w", cmd, err)
			continue
		case f.Kind == SyntaxError:
			return nil, fmt.Errorf("pn532 command %02X: %w", cmd, ErrSyntax)
		case f.Kind != Ack:
			last = fmt.Errorf("pn532 command %02X: expected ACK", cmd)
			continue
		}
		return d.answer(ctx, cmd, timeout)
	}
	return nil, last
}

// answer waits for the response, asking again with NACK when it arrives
// damaged.
func (d *Device) answer(ctx context.Context, cmd byte, timeout time.Duration) ([]byte, error) {
	for try := 0; ; try++ {
		f, err := d.receive(timeout)
		if err == nil && f.Kind == Info {
			return d.check(cmd, f.Data)
		}
		if err == nil && f.Kind == SyntaxError {
			return nil, fmt.Errorf("pn532 command %02X: %w", cmd, ErrSyntax)
		}
		if errors.Is(err, ErrTimeout) || try >= d.o.Retries || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("unexpected frame kind %d", f.Kind)
			}
			// An ACK from the host aborts the command, so the PN532 is
			// ready for the next one (§6.2.2).
			d.t.Send(ackFrame)
			return nil, fmt.Errorf("pn532 command %02X: %w", cmd, err)
		}
		d.t.Send(nackFrame)
	}
}

func (d *Device) receive(timeout time.Duration) (Frame, error) {
	f, err := d.t.Receive(timeout)
	if err == nil {
		d.stats.LastSeen = time.Now()
		d.stats.Frames++
	}
	return f, err
}

func (d *Device) check(cmd byte, data []byte) ([]byte, error) {
	if len(data) < 2 || data[0] != pn532ToHost || data[1] != cmd+1 {
		return nil, fmt.Errorf("pn532 command %02X: answer % X is not its response", cmd, data)
	}
	return data[2:], nil
}
