package dexlink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
)

var fast = Timers{Turnaround: time.Millisecond, Session: 5 * time.Millisecond, A: 300 * time.Millisecond, B: 100 * time.Millisecond, Retries: 5}

// Frames from the shared protocol notes (§5.5), computed with the
// verified CRC.
func TestFrameVectors(t *testing.T) {
	first := frame(SOH, ETX, []byte("XYZ1234567RR00L06"))
	want := []byte{0x10, 0x01, 0x58, 0x59, 0x5A, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x52, 0x52, 0x30, 0x30, 0x4C, 0x30, 0x36, 0x10, 0x03, 0x7B, 0x06}
	if !bytes.Equal(first, want) {
		t.Fatalf("first handshake % X", first)
	}
	second := frame(SOH, ETX, []byte("00QRS7654321R00L06"))
	if !bytes.HasSuffix(second, []byte{0x10, 0x03, 0x53, 0x11}) {
		t.Fatalf("second handshake % X", second)
	}
	crane := frame(SOH, ETX, []byte("CNV   DE32SR01L01"))
	if !bytes.HasSuffix(crane, []byte{0x75, 0x9B}) {
		t.Fatalf("Crane capture % X", crane)
	}
}

func fixed(b []byte) func() ([]byte, error) { return func() ([]byte, error) { return b, nil } }

func report(n int) []byte {
	var b bytes.Buffer
	b.WriteString("DXS*TAP0001001*VA*V0/6*1\r\nST*001*0001\r\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "PA1*%d*650*Product %d\r\nPA2*%d*%d*0*0\r\n", i, i, i, i*650)
	}
	return b.Bytes()
}

type end struct {
	master, slave *os.File
}

func pair(t *testing.T) end {
	m, s, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return end{m, s}
}

func TestRoundTripOverPTY(t *testing.T) {
	e := pair(t)
	audit := report(20_000)
	errc := make(chan error, 1)
	go func() {
		_, err := Serve(context.Background(), pty.File{File: e.slave}, "TAP0001001", fixed(audit), fast)
		errc <- err
	}()
	got, st, err := Read(context.Background(), pty.File{File: e.master}, "HHT0000042", fast)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, audit) || st.Payload != len(audit) {
		t.Fatalf("received %d bytes of %d", len(got), len(audit))
	}
}

// relay joins two pty pairs, with a fault hook on each direction.
type relay struct {
	vmd, dc end
	// toDC and toVMD may rewrite a chunk on its way; nil passes it.
	toDC, toVMD func([]byte) []byte
	cut         atomic.Bool
}

func newRelay(t *testing.T) *relay {
	r := &relay{vmd: pair(t), dc: pair(t)}
	pump := func(from, to *os.File, hook *func([]byte) []byte) {
		buf := make([]byte, 512)
		for {
			n, err := from.Read(buf)
			if err != nil {
				return
			}
			chunk := append([]byte(nil), buf[:n]...)
			if r.cut.Load() {
				continue
			}
			if *hook != nil {
				chunk = (*hook)(chunk)
			}
			if _, err := to.Write(chunk); err != nil {
				return
			}
		}
	}
	go pump(r.vmd.master, r.dc.master, &r.toDC)
	go pump(r.dc.master, r.vmd.master, &r.toVMD)
	return r
}

func (r *relay) run(t *testing.T, audit []byte) ([]byte, error, error) {
	var wg sync.WaitGroup
	var serveErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, serveErr = Serve(context.Background(), pty.File{File: r.vmd.slave}, "TAP0001001", fixed(audit), fast)
	}()
	got, _, readErr := Read(context.Background(), pty.File{File: r.dc.slave}, "HHT0000042", fast)
	wg.Wait()
	return got, readErr, serveErr
}

func TestFaults(t *testing.T) {
	audit := report(3000)
	once := func(f func([]byte) []byte) func([]byte) []byte {
		var done atomic.Bool
		return func(b []byte) []byte {
			if !done.Load() {
				if out := f(b); !bytes.Equal(out, b) {
					done.Store(true)
					return out
				}
			}
			return b
		}
	}
	cases := map[string]func(r *relay){
		"garbage before the first ENQ": func(r *relay) {
			r.toVMD = once(func(b []byte) []byte {
				if bytes.IndexByte(b, ENQ) >= 0 {
					return append([]byte("\x00\x7fnoise"), b...)
				}
				return b
			})
		},
		"corrupted data block (NAK, resend)": func(r *relay) {
			r.toDC = once(func(b []byte) []byte {
				if i := bytes.Index(b, []byte("PA1*3*")); i >= 0 {
					c := append([]byte(nil), b...)
					c[i+4] = '9'
					return c
				}
				return b
			})
		},
		"lost acknowledgement (ENQ, repeated ack, no duplicate)": func(r *relay) {
			n := 0
			r.toVMD = func(b []byte) []byte {
				if bytes.Equal(b, []byte{DLE, '1'}) {
					n++
					if n == 3 { // the acknowledgement of the second data block
						return nil
					}
				}
				return b
			}
		},
		// A receiver slow enough that its acknowledgement arrives after the
		// sender's ENQ: the answer to that ENQ (the same acknowledgement
		// again) must not be read as the next block's "previous
		// acknowledgement", which would send that block twice.
		"late acknowledgement (ENQ crosses it, no duplicate)": func(r *relay) {
			var n atomic.Int32
			r.toVMD = func(b []byte) []byte {
				if bytes.Equal(b, []byte{DLE, '1'}) && n.Add(1) == 3 {
					time.Sleep(fast.A + fast.A/3)
				}
				return b
			}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			r := newRelay(t)
			setup(r)
			got, readErr, serveErr := r.run(t, audit)
			if readErr != nil || serveErr != nil {
				t.Fatalf("read %v, serve %v", readErr, serveErr)
			}
			if !bytes.Equal(got, audit) {
				t.Fatalf("got %d bytes, want %d (%q...)", len(got), len(audit), got[:min(60, len(got))])
			}
		})
	}
}

func TestPulledCableAndSilence(t *testing.T) {
	r := newRelay(t)
	audit := report(5000)
	var blocks atomic.Int32
	r.toDC = func(b []byte) []byte {
		if bytes.Contains(b, []byte{DLE, STX}) && blocks.Add(1) == 4 {
			r.cut.Store(true) // the handheld is unplugged mid-transfer
		}
		return b
	}
	got, readErr, serveErr := r.run(t, audit)
	if readErr == nil || serveErr == nil || got != nil {
		t.Fatalf("pulled cable: read %v (%d bytes), serve %v", readErr, len(got), serveErr)
	}
	if !errors.Is(readErr, ErrTimeout) || !errors.Is(serveErr, ErrTimeout) {
		t.Fatalf("errors should be timeouts: %v / %v", readErr, serveErr)
	}
	e := pair(t)
	start := time.Now()
	if _, _, err := Read(context.Background(), pty.File{File: e.master}, "HHT0000042", fast); !errors.Is(err, ErrTimeout) {
		t.Fatalf("no machine: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("gave up too slowly")
	}
}

// memPort feeds fixed bytes to the decoder.
type memPort struct{ r io.Reader }

func (m memPort) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err == io.EOF {
		return 0, os.ErrDeadlineExceeded
	}
	return n, err
}
func (memPort) Write(p []byte) (int, error)        { return len(p), nil }
func (memPort) SetReadTimeout(time.Duration) error { return nil }

func FuzzReadFrame(f *testing.F) {
	f.Add(frame(STX, ETB, []byte("ST*001*0001\r\n"))[2:])
	f.Add([]byte{'A', DLE, DLE, 'B', DLE, SYN, DLE, ETX, 0, 0})
	f.Add([]byte(strings.Repeat("x", 300)))
	f.Fuzz(func(t *testing.T, b []byte) {
		l := newLink(context.Background(), memPort{bytes.NewReader(b)}, Timers{A: time.Millisecond, B: time.Millisecond})
		data, end, err := l.readFrame()
		if err != nil {
			return
		}
		if len(data) > MaxBlock+2 || (end != ETB && end != ETX) {
			t.Fatalf("accepted %d bytes ending %x", len(data), end)
		}
	})
}

// TestCancelEndsASession: a cancelled context ends a session at once, at
// any point, with the spec's own timers that would otherwise keep it going
// for up to a minute; mid-session the cancelled side sends EOT, and the
// other side takes it as an abandoned transfer, never as a short audit.
func TestCancelEndsASession(t *testing.T) {
	for _, c := range []struct {
		name      string
		cancelVMD bool // else the data carrier is cancelled
	}{{"machine cancelled mid-transfer", true}, {"data carrier cancelled mid-transfer", false}} {
		t.Run(c.name, func(t *testing.T) {
			r := newRelay(t)
			audit := report(5000)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var blocks atomic.Int32
			r.toDC = func(b []byte) []byte {
				if bytes.Contains(b, []byte{DLE, STX}) && blocks.Add(1) == 3 {
					cancel()
				}
				return b
			}
			vmdCtx, dcCtx := context.Background(), context.Background()
			if c.cancelVMD {
				vmdCtx = ctx
			} else {
				dcCtx = ctx
			}
			serveErr := make(chan error, 1)
			go func() {
				_, err := Serve(vmdCtx, pty.File{File: r.vmd.slave}, "TAP0001001", fixed(audit), SpecTimers)
				serveErr <- err
			}()
			readErr := make(chan error, 1)
			go func() {
				got, _, err := Read(dcCtx, pty.File{File: r.dc.slave}, "HHT0000042", SpecTimers)
				if err == nil && len(got) != len(audit) {
					err = fmt.Errorf("short audit of %d bytes taken as complete", len(got))
				}
				readErr <- err
			}()
			for name, ch := range map[string]chan error{"serve": serveErr, "read": readErr} {
				select {
				case err := <-ch:
					cancelled := name == "serve" && c.cancelVMD || name == "read" && !c.cancelVMD
					switch {
					case cancelled && !errors.Is(err, context.Canceled):
						t.Errorf("%s (cancelled): %v", name, err)
					case !cancelled && !errors.Is(err, ErrRefused):
						t.Errorf("%s (the other side): %v, want the EOT seen as a refusal", name, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s still running 5 s after the cancel", name)
				}
			}
		})
	}
	t.Run("machine waiting for a carrier", func(t *testing.T) {
		e := pair(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Serve(ctx, pty.File{File: e.slave}, "TAP0001001", fixed(report(100)), SpecTimers)
			done <- err
		}()
		time.AfterFunc(50*time.Millisecond, cancel)
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("serve still waiting 5 s after the cancel (the spec timer is 60 s)")
		}
	})
}

// FuzzReceive feeds a slave session arbitrary bytes from the other side: it
// never panics, and it takes an audit only when the last block ended with
// ETX before the EOT.
func FuzzReceive(f *testing.F) {
	whole := append([]byte{ENQ}, frame(STX, ETX, []byte("DXS*1\r\n"))...)
	f.Add(append(whole, EOT))
	f.Add(append(append([]byte{ENQ}, frame(STX, ETB, []byte("DXS*1\r\n"))...), EOT))
	f.Add([]byte{ENQ, EOT})
	f.Fuzz(func(t *testing.T, b []byte) {
		l := newLink(context.Background(), memPort{bytes.NewReader(b)}, Timers{A: time.Millisecond, B: time.Millisecond, Retries: 2})
		out, err := l.receive(false)
		if err != nil {
			return
		}
		if !bytes.Contains(b, []byte{DLE, ETX}) {
			t.Fatalf("%q taken as a complete audit %q without an ETX block", b, out)
		}
	})
}
