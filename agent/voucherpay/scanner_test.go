package voucherpay_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/testwait"
	"github.com/tapagent/tapagent/sim/scannersim"
	"github.com/tapagent/tapagent/transport"
)

func TestLineParser(t *testing.T) {
	long := strings.Repeat("A", voucherpay.MaxCode+1)
	for _, tc := range []struct {
		name  string
		feeds []string
		codes []string
		errs  int
	}{
		{"CR", []string{"ABC-1\r"}, []string{"ABC-1"}, 0},
		{"CR LF", []string{"ABC-1\r\nDEF-2\r\n"}, []string{"ABC-1", "DEF-2"}, 0},
		{"LF only", []string{"ABC-1\nDEF-2\n"}, []string{"ABC-1", "DEF-2"}, 0},
		{"split across reads", []string{"AB", "C-", "1\r", "\n"}, []string{"ABC-1"}, 0},
		{"control bytes stripped", []string{"\x02ABC\x00-1\x03\r"}, []string{"ABC-1"}, 0},
		{"partial line waits", []string{"ABC"}, nil, 0},
		{"empty lines", []string{"\r\n\r\n\n"}, nil, 0},
		{"64 bytes", []string{long[:voucherpay.MaxCode] + "\r"}, []string{long[:voucherpay.MaxCode]}, 0},
		{"too long", []string{long + "\rOK-1\r"}, []string{"OK-1"}, 1},
		{"garbage", []string{"\xff\xfe\x80\rOK-2\r"}, []string{"OK-2"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p voucherpay.LineParser
			var codes []string
			errs := 0
			for _, f := range tc.feeds {
				for _, s := range p.Feed([]byte(f)) {
					if s.Err != nil {
						errs++
					} else {
						codes = append(codes, s.Code)
					}
				}
			}
			if !slices.Equal(codes, tc.codes) || errs != tc.errs {
				t.Fatalf("codes %q errors %d, want %q %d", codes, errs, tc.codes, tc.errs)
			}
		})
	}
}

func FuzzLineParser(f *testing.F) {
	for _, s := range []string{"ABC-1\r\n", "\x02X\x03\n", strings.Repeat("Z", 70) + "\r", "\xff\r", "A\rB\nC"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p voucherpay.LineParser
		lines := p.Feed(b)
		if len(lines) > bytes.Count(b, []byte{'\r'})+bytes.Count(b, []byte{'\n'}) {
			t.Fatalf("%d lines from %q", len(lines), b)
		}
		for _, s := range lines {
			if s.Err != nil {
				continue
			}
			if s.Code == "" || len(s.Code) > voucherpay.MaxCode || strings.ContainsFunc(s.Code, func(c rune) bool { return c < ' ' || c > '~' }) {
				t.Fatalf("line %q", s.Code)
			}
			if code, err := voucherpay.CleanCode(s.Code); err == nil && code != strings.TrimSpace(s.Code) {
				t.Fatalf("line %q cleaned to %q", s.Code, code)
			}
		}
	})
}

// TestScannerOverAPty: a simulated USB-serial scanner on a real
// pseudo-terminal, opened by name through transport as a real one: codes
// with each terminator arrive, junk and over-long lines are refused, and a
// scanner unplugged mid-line is reopened once it is back.
func TestScannerOverAPty(t *testing.T) {
	r := newRig(t, rigOptions{})
	path := filepath.Join(t.TempDir(), "scanner")
	sc, err := scannersim.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	cfg := r.cfg.SmartNow
	cfg.Scanner, cfg.ScannerLine = path, 1
	svc := voucherpay.New(voucherpay.Options{Config: cfg, PLUs: map[int]int{1: 101}, Wall: r.agent, SmartNow: r.client, Now: r.clk.Now})
	stop := svc.Start(context.Background(), func() (io.ReadCloser, error) { return transport.OpenScanner(cfg) })
	defer stop()
	seen := func(last4 string) func() bool {
		return func() bool {
			return slices.ContainsFunc(r.ev.All(), func(ev device.Event) bool {
				return (ev.Type == device.EventVoucherRefused || ev.Type == device.EventVoucherAccepted) && strings.Contains(ev.Detail, last4)
			})
		}
	}
	refusedWith := func(reason string) func() bool {
		return func() bool {
			return slices.ContainsFunc(r.ev.All(), func(ev device.Event) bool {
				return ev.Type == device.EventVoucherRefused && strings.Contains(ev.Reason, reason)
			})
		}
	}
	r.voucher("SCAN-0001", "discount", 2000)
	if err := sc.Type("SCAN-0001", scannersim.CR); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "the first code accepted", r.ev.Has(device.EventVoucherAccepted))
	for _, code := range []string{"NEXT-0002", "NEXT-0003"} {
		term := map[string]string{"NEXT-0002": scannersim.CRLF, "NEXT-0003": scannersim.LF}[code]
		if err := sc.Type(code, term); err != nil {
			t.Fatal(err)
		}
		testwait.Until(t, 10*time.Second, code+" read", seen(code[len(code)-4:]))
	}
	_ = sc.Send([]byte("\xff\xfe junk\r"))
	testwait.Until(t, 10*time.Second, "junk refused", refusedWith("not printable"))
	_ = sc.Type(strings.Repeat("L", 80), scannersim.CR)
	testwait.Until(t, 10*time.Second, "over-long line refused", refusedWith("longer than"))
	_ = sc.Send([]byte("PARTIAL-"))
	sc.Vanish()
	testwait.Until(t, 10*time.Second, "scanner fault", r.ev.Has(device.EventScannerFault))
	if err := sc.Plug(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Type("BACK-0004", scannersim.CRLF); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 15*time.Second, "a code after the scanner came back", seen("0004"))
	if slices.ContainsFunc(r.ev.All(), func(ev device.Event) bool { return strings.Contains(ev.Detail, "PARTIAL") }) {
		t.Fatal("the partial line was taken as a code")
	}
}
