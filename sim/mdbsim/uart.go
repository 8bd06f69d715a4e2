package mdbsim

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tapagent/tapagent/payment/mdb"
)

// UARTLine is a board UART with a reader on the other end, as the kernel
// presents it to a VMC doing 9-bit emulation: bytes written carry the
// stick parity in force as their ninth bit, and the reader's reply comes
// back PARMRK-escaped against space parity (a mode-bit byte as FF 00 X, a
// literal FF doubled). The reader sees a block once the VMC turns to read
// its reply; 9600 baud timing is kept (about 1.04 ms per 11-bit byte).
type UARTLine struct {
	R *Reader
	// Sent records every word written, for tests.
	Sent []mdb.Word
	// ParityChanges counts SetMark calls that changed the parity.
	ParityChanges int

	mu      sync.Mutex
	mark    bool
	block   []mdb.Word
	in      []byte
	replied bool // a data reply was delivered; the next lone byte answers it
	closed  bool
}

// byteTime is one 11-bit character at 9600 baud.
const byteTime = 11 * time.Second / 9600

// SetMark implements mdb.Line.
func (l *UARTLine) SetMark(mark bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mark != mark {
		l.ParityChanges++
	}
	l.mark = mark
	return nil
}

// Write implements mdb.Line.
func (l *UARTLine) Write(b []byte) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, errors.New("closed")
	}
	for _, c := range b {
		w := mdb.Word(c)
		if l.mark {
			w |= mdb.ModeBit
		}
		l.Sent = append(l.Sent, w)
		if len(l.block) == 0 && !w.Mode() {
			// A data byte outside a block: the VMC's ACK, NAK or RET to
			// the reply just sent; a peripheral ignores any other.
			if l.replied {
				l.replied = false
				l.mu.Unlock()
				l.R.Answer(c)
				l.mu.Lock()
			}
			continue
		}
		l.block = append(l.block, w)
	}
	l.mu.Unlock()
	time.Sleep(time.Duration(len(b)) * byteTime)
	return len(b), nil
}

// ReadTimeout implements mdb.Line: the block written so far goes to the
// reader, its reply arrives escaped; silence lasts d.
func (l *UARTLine) ReadTimeout(b []byte, d time.Duration) (int, error) {
	l.mu.Lock()
	if len(l.block) > 0 {
		block := l.block
		l.block = nil
		l.mu.Unlock()
		r, err := l.R.Send(context.Background(), block)
		l.mu.Lock()
		l.in = append(l.in, escape(r, err)...)
		var ce *mdb.ChecksumError
		l.replied = err == nil && r.Kind == mdb.ReplyData || errors.As(err, &ce)
	}
	if len(l.in) == 0 {
		l.mu.Unlock()
		time.Sleep(d)
		return 0, nil
	}
	n := copy(b, l.in)
	l.in = l.in[n:]
	l.mu.Unlock()
	return n, nil
}

// escape is a reply as the VMC's tty delivers it.
func escape(r mdb.Reply, err error) []byte {
	var ce *mdb.ChecksumError
	switch {
	case errors.As(err, &ce):
		return []byte{0x03, 0xFF, 0x00, 0x00} // damaged on the line: 03 then a wrong CHK
	case err != nil:
		return nil
	case r.Kind == mdb.ReplyACK:
		return []byte{0xFF, 0x00, mdb.ACK}
	case r.Kind == mdb.ReplyNAK:
		return []byte{0xFF, 0x00, mdb.NAK}
	}
	var out []byte
	for _, c := range r.Data {
		if c == 0xFF {
			out = append(out, 0xFF)
		}
		out = append(out, c)
	}
	return append(out, 0xFF, 0x00, mdb.Checksum(r.Data...))
}

// Flush implements mdb.Line.
func (l *UARTLine) Flush() error {
	l.mu.Lock()
	l.in = nil
	l.mu.Unlock()
	return nil
}

// Close implements mdb.Line.
func (l *UARTLine) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return nil
}
