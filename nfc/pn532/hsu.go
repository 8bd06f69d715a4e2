package pn532

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"go.bug.st/serial"
)

// Port is a serial line: go.bug.st/serial on hardware, a pseudo-terminal
// in tests. A read that times out returns (0, nil) or a timeout error.
type Port interface {
	io.Reader
	io.Writer
	SetReadTimeout(time.Duration) error
	Close() error
}

// wakeUp is the HSU wake-up: 55 55 and zeros, long enough for the fifth
// rising edge and T_wakeup (UM0701 §7.2.11); the PN532 ignores it when
// awake, as a preamble.
var wakeUp = append([]byte{0x55, 0x55}, make([]byte, 14)...)

// HSU is the PN532's UART transport.
type HSU struct {
	p      Port
	dr     *deadlineReader
	br     *bufio.Reader
	asleep bool
}

// OpenHSU opens a serial port at 115200 8N1, the PN532's HSU default.
func OpenHSU(path string) (*HSU, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("pn532 port %s: %w", path, err)
	}
	return NewHSU(p), nil
}

// NewHSU runs the HSU protocol on an open port.
func NewHSU(p Port) *HSU {
	dr := &deadlineReader{p: p}
	return &HSU{p: p, dr: dr, br: bufio.NewReaderSize(dr, 512), asleep: true}
}

// Send implements Transport; the first frame, and the first after the
// chip went quiet, carries the wake-up preamble.
func (h *HSU) Send(frame []byte) error {
	out := frame
	if h.asleep {
		out = append(append([]byte{}, wakeUp...), frame...)
		h.asleep = false
	}
	_, err := h.p.Write(out)
	return err
}

// Receive implements Transport.
func (h *HSU) Receive(timeout time.Duration) (Frame, error) {
	h.dr.deadline = time.Now().Add(timeout)
	f, err := ReadFrame(h.br)
	if errors.Is(err, ErrTimeout) {
		h.asleep = true // a silent chip may have been reset: wake it next time
		h.br.Reset(h.dr)
	}
	return f, err
}

// Close implements Transport.
func (h *HSU) Close() error { return h.p.Close() }

// deadlineReader turns a port with read timeouts into a reader that
// fails with ErrTimeout at its deadline.
type deadlineReader struct {
	p        Port
	deadline time.Time
}

func (d *deadlineReader) Read(b []byte) (int, error) {
	for {
		left := time.Until(d.deadline)
		if left <= 0 {
			return 0, ErrTimeout
		}
		if err := d.p.SetReadTimeout(left); err != nil {
			return 0, err
		}
		n, err := d.p.Read(b)
		if n > 0 {
			return n, nil
		}
		if err != nil && !isTimeout(err) {
			return 0, fmt.Errorf("pn532: read: %w", err)
		}
	}
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	var t timeout
	return errors.As(err, &t) && t.Timeout()
}
