package mdb

import (
	"context"
	"fmt"
	"time"
)

// Line is a plain 8-bit serial line that can stand in for MDB's nine
// bits: the ninth bit is sent as a stuck parity bit (mark for the address
// byte, space for data) and received as a parity error against space
// parity, which the kernel marks in the byte stream (PARMRK).
type Line interface {
	// SetMark sets the parity bit of the bytes written next (mark = 1),
	// after the bytes already written have left the UART.
	SetMark(mark bool) error
	Write(b []byte) (int, error)
	// ReadTimeout reads what has arrived, waiting at most d for a first
	// byte; nothing within d is (0, nil).
	ReadTimeout(b []byte, d time.Duration) (int, error)
	// Flush drops whatever has arrived and was not read.
	Flush() error
	Close() error
}

// UART is the MDB transport on a board's own UART with 9-bit emulation:
// mark/space parity to send, PARMRK decoding to receive. Any failure of
// the line itself (a USB-serial adapter unplugged) is ErrLink.
type UART struct {
	L Line
	// Response is the wait for a reply's first byte, InterByte between its
	// bytes. MDB allows the peripheral 5 ms and 1 ms; the receiver should
	// accept up to 20 ms and 5 ms (App.3 p.A3•3), which are the defaults.
	Response, InterByte time.Duration

	mark  bool
	known bool // mark reflects the line's setting
	dec   Parmrk
	buf   [64]byte
}

func (u *UART) parity(mark bool) error {
	if u.known && u.mark == mark {
		return nil
	}
	if err := u.L.SetMark(mark); err != nil {
		return fmt.Errorf("mdb: setting %s parity: %w: %w", map[bool]string{true: "mark", false: "space"}[mark], ErrLink, err)
	}
	u.mark, u.known = mark, true
	return nil
}

// Send implements Transport: the block goes out in runs of equal ninth
// bit, and the reply is read until its mode-bit byte.
func (u *UART) Send(ctx context.Context, block []Word) (Reply, error) {
	if len(block) == 0 {
		return Reply{}, fmt.Errorf("mdb: empty block")
	}
	// A late answer to an earlier command must not be taken for this one's.
	if err := u.L.Flush(); err != nil {
		return Reply{}, fmt.Errorf("mdb: flush: %w: %w", ErrLink, err)
	}
	u.dec = Parmrk{}
	for i := 0; i < len(block); {
		j := i
		run := make([]byte, 0, len(block))
		for ; j < len(block) && block[j].Mode() == block[i].Mode(); j++ {
			run = append(run, block[j].Byte())
		}
		if err := u.parity(block[i].Mode()); err != nil {
			return Reply{}, err
		}
		if _, err := u.L.Write(run); err != nil {
			return Reply{}, fmt.Errorf("mdb: write: %w: %w", ErrLink, err)
		}
		i = j
	}
	// Replies are read against space parity, so their mode bit shows.
	if err := u.parity(false); err != nil {
		return Reply{}, err
	}
	return u.read(ctx)
}

func (u *UART) read(ctx context.Context) (Reply, error) {
	var ws []Word
	wait := u.Response
	if wait <= 0 {
		wait = 20 * time.Millisecond
	}
	for {
		if err := ctx.Err(); err != nil {
			return Reply{}, err
		}
		n, err := u.L.ReadTimeout(u.buf[:], wait)
		if err != nil {
			return Reply{}, fmt.Errorf("mdb: read: %w: %w", ErrLink, err)
		}
		if n == 0 {
			if len(ws) == 0 && !u.dec.Pending() {
				return Reply{}, ErrTimeout
			}
			// A reply cut short counts as none: the peripheral repeats it.
			return Reply{}, fmt.Errorf("%w: reply cut after %d bytes", ErrTimeout, len(ws))
		}
		ws = append(ws, u.dec.Feed(u.buf[:n])...)
		for _, w := range ws {
			if w.Mode() {
				r, _, err := ParseReply(ws)
				return r, err
			}
		}
		wait = u.InterByte
		if wait <= 0 {
			wait = 5 * time.Millisecond
		}
	}
}

// Answer implements Transport: ACK, NAK or RET as a data byte.
func (u *UART) Answer(code byte) error {
	if err := u.parity(false); err != nil {
		return err
	}
	if _, err := u.L.Write([]byte{code}); err != nil {
		return fmt.Errorf("mdb: write: %w: %w", ErrLink, err)
	}
	return nil
}

// Close closes the line.
func (u *UART) Close() error { return u.L.Close() }
