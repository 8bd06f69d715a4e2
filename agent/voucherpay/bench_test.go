package voucherpay_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	"github.com/tapagent/tapagent/storage"
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

// BenchmarkLockedOutScan is a scan from a source locked out for guessing:
// refused without asking SmartNow (what a guesser costs the wall).
func BenchmarkLockedOutScan(b *testing.B) {
	r := newRig(b, rigOptions{})
	r.guess("scanner", voucherpay.GuessesPerWindow, time.Second)
	ctx := context.Background()
	for b.Loop() {
		if err := r.svc.Scan(ctx, 1, "GUESS-MORE", "scanner"); err == nil {
			b.Fatal("not locked out")
		}
	}
}

// BenchmarkRestartWithOfflineJournal is the voucher service built at
// start over a store holding 1000 offline pours of the last day (read
// back for the hourly limit and the codes seen).
func BenchmarkRestartWithOfflineJournal(b *testing.B) {
	r := newRig(b, rigOptions{offline: "accept"})
	now := r.clk.Now()
	err := r.store.Update(voucherpay.OfflineBucket, func(bk storage.Bucket) error {
		for i := range 1000 {
			at := now.Add(-time.Duration(i) * time.Minute)
			if err := bk.Put(append(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())), fmt.Sprintf("OFF-%06d", i)...), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r.restart()
	}
}
