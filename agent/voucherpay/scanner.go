package voucherpay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tapagent/tapagent/device"
)

// LineParser splits a QR/barcode scanner's byte stream into codes. A USB
// or serial scanner sends the code then CR or CR LF; LF alone ends a code
// too. Other control bytes are dropped; a line longer than MaxCode bytes,
// or one holding bytes that are not printable ASCII, is garbage, reported
// once at its end. The zero value is ready.
type LineParser struct {
	buf     []byte
	over    bool // the line passed MaxCode bytes
	garbage bool // the line holds a byte above 0x7E
}

// Scanned is one line the parser ended: a code, or Err for garbage.
type Scanned struct {
	Code string
	Err  error
}

// Errors of a scanned line.
var (
	ErrLineTooLong = fmt.Errorf("scanned line longer than %d bytes", MaxCode)
	ErrGarbage     = errors.New("scanned line is not printable ASCII")
)

// Feed takes bytes as they arrive and returns the lines they end; a
// partial line waits for the next Feed.
func (p *LineParser) Feed(b []byte) []Scanned {
	var out []Scanned
	for _, c := range b {
		switch {
		case c == '\r' || c == '\n':
			if s, ok := p.end(); ok {
				out = append(out, s)
			}
		case c < ' ' || c == 0x7F:
			// control bytes (a scanner's prefix, STX/ETX, NUL): dropped
		case c > 0x7F:
			p.garbage = true
		case len(p.buf) >= MaxCode:
			p.over = true
		default:
			p.buf = append(p.buf, c)
		}
	}
	return out
}

// Reset drops a partial line (the port closed under it).
func (p *LineParser) Reset() { p.buf, p.over, p.garbage = p.buf[:0], false, false }

// end finishes a line; an empty one (the LF after a CR) is no line.
func (p *LineParser) end() (Scanned, bool) {
	defer p.Reset()
	switch {
	case p.over:
		return Scanned{Err: ErrLineTooLong}, true
	case p.garbage:
		return Scanned{Err: ErrGarbage}, true
	case len(p.buf) == 0:
		return Scanned{}, false
	}
	return Scanned{Code: string(p.buf)}, true
}

// Scanner reads codes from a scanner's port and scans each on Line. A port
// that fails or vanishes is reopened, after reopenFirst and then twice as
// long each time up to reopenMax.
type Scanner struct {
	Open   func() (io.ReadCloser, error)
	Line   int
	Scan   func(ctx context.Context, line int, code, via string) error
	Report func(device.Event)
	Log    *slog.Logger
}

// Reopening the scanner's port.
const (
	reopenFirst = 500 * time.Millisecond
	reopenMax   = 10 * time.Second
)

// Run reads until ctx ends.
func (s *Scanner) Run(ctx context.Context) {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	wait := reopenFirst
	faulted := false
	for ctx.Err() == nil {
		port, err := s.Open()
		if err == nil {
			if faulted {
				s.Log.Info("voucher scanner open again")
			}
			faulted = false
			wait = reopenFirst
			err = s.read(ctx, port)
		}
		if ctx.Err() != nil {
			return
		}
		if !faulted {
			s.Report(device.Event{Type: device.EventScannerFault, Line: s.Line, Detail: err.Error() + "; reopening"})
			faulted = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, reopenMax)
	}
}

// read scans every line from port until it fails; ctx's end closes it.
func (s *Scanner) read(ctx context.Context, port io.ReadCloser) error {
	stop := context.AfterFunc(ctx, func() { _ = port.Close() })
	defer func() {
		if stop() {
			_ = port.Close()
		}
	}()
	var p LineParser
	buf := make([]byte, 256)
	for {
		n, err := port.Read(buf)
		for _, l := range p.Feed(buf[:n]) {
			if l.Err != nil {
				s.Report(device.Event{Type: device.EventVoucherRefused, Line: s.Line, Reason: l.Err.Error(), Detail: "scanner: " + l.Err.Error()})
				continue
			}
			_ = s.Scan(ctx, s.Line, l.Code, "scanner") // refusals are reported as events
		}
		switch {
		case err == io.EOF || (err == nil && n == 0):
			return fmt.Errorf("scanner: port closed")
		case err != nil:
			return fmt.Errorf("scanner: %w", err)
		}
	}
}
