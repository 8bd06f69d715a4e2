package voucherpay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
)

// BenchmarkScanToArmed is one scan of a partial voucher on a terminal
// line: SmartNow's validate on loopback (the emulator), pricing and the
// arm, i.e. the wait between a scan and the terminal asking the rest.
func BenchmarkScanToArmed(b *testing.B) {
	r := newRig(b, rigOptions{terminal: []int{1}})
	r.voucherWith("BENCH-0001", "discount", 200, func(v *snemu.VoucherRequest) {})
	ctx := context.Background()
	for b.Loop() {
		if err := r.svc.Scan(ctx, 1, "BENCH-0001", "bench"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, ok := r.svc.TakeVoucher(1); !ok {
			b.Fatal("not armed")
		}
		r.clk.Advance(time.Hour) // past the lock: the code may be scanned again
		r.svc.Sweep()
		b.StartTimer()
	}
}

// BenchmarkLineParser is the scanner's parser on CR LF-terminated codes.
func BenchmarkLineParser(b *testing.B) {
	var in []byte
	for i := range 100 {
		in = fmt.Appendf(in, "00000-%08X\r\n", i)
	}
	b.SetBytes(int64(len(in)))
	var p voucherpay.LineParser
	for b.Loop() {
		if n := len(p.Feed(in)); n != 100 {
			b.Fatal(n)
		}
	}
}
