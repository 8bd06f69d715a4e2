package mdb

import (
	"context"
	"errors"
	"testing"
	"time"
)

// ttyBytes is what a kernel tty would hand the UART transport: fixed bytes,
// delivered in chunks, then silence.
type ttyBytes struct {
	in    []byte
	chunk int
}

func (l *ttyBytes) SetMark(bool) error          { return nil }
func (l *ttyBytes) Write(b []byte) (int, error) { return len(b), nil }
func (l *ttyBytes) Flush() error                { return nil }
func (l *ttyBytes) Close() error                { return nil }
func (l *ttyBytes) ReadTimeout(b []byte, _ time.Duration) (int, error) {
	n := min(len(l.in), len(b), max(l.chunk, 1))
	copy(b, l.in[:n])
	l.in = l.in[n:]
	return n, nil
}

// FuzzUARTReply: whatever bytes a tty delivers after a command, the UART
// transport returns a well-formed reply or an error, never a data reply
// longer than a block, and never hangs.
func FuzzUARTReply(f *testing.F) {
	for _, s := range []string{"ff0000", "021641ff0059", "73ffff04ff0076", "0bff0001", "0b", "ff00ff", ""} {
		f.Add(hx(s), byte(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk byte) {
		u := &UART{L: &ttyBytes{in: in, chunk: int(chunk)}}
		r, err := u.Send(context.Background(), []Word{0x112, 0x12})
		var ce *ChecksumError
		switch {
		case err == nil && r.Kind == ReplyData && (len(r.Data) == 0 || len(r.Data) >= MaxBlock):
			t.Fatalf("% X gave %+v", in, r)
		case err != nil && !errors.Is(err, ErrTimeout) && !errors.As(err, &ce) && err.Error() == "":
			t.Fatal("an error without words")
		}
	})
}

// TestUARTVectors: the PARMRK vectors of the shared notes through the
// transport, fed whole and a byte at a time.
func TestUARTVectors(t *testing.T) {
	for _, chunk := range []int{64, 1} {
		for _, tc := range []struct {
			in   string
			kind ReplyKind
			data string
			err  bool
		}{
			{"ff0000", ReplyACK, "", false},
			{"021641ff0059", ReplyData, "021641", false},
			{"73ffff04ff0076", ReplyData, "73ff04", false},
			{"0bff0001", 0, "", true},
			{"0b", 0, "", true},
		} {
			u := &UART{L: &ttyBytes{in: hx(tc.in), chunk: chunk}}
			r, err := u.Send(context.Background(), []Word{0x112, 0x12})
			if (err != nil) != tc.err || err == nil && (r.Kind != tc.kind || string(r.Data) != string(hx(tc.data))) {
				t.Errorf("%s in chunks of %d: %+v, %v", tc.in, chunk, r, err)
			}
		}
	}
}
