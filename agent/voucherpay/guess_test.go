package voucherpay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/device"
)

// unknownAsked counts the scans SmartNow answered "unknown voucher".
func (r *rig) unknownAsked() int {
	n := 0
	for _, ev := range r.ev.All() {
		if ev.Type == device.EventVoucherRefused && ev.Reason == "unknown voucher" {
			n++
		}
	}
	return n
}

// lockouts are the details of the voucher_refused events that start a
// source's lockout.
func (r *rig) lockouts() []string {
	var out []string
	for _, ev := range r.ev.All() {
		if ev.Type == device.EventVoucherRefused && ev.Reason == "too many unknown or invalid codes" {
			out = append(out, ev.Detail)
		}
	}
	return out
}

// guess scans n made-up codes from via, step apart on the rig's clock.
func (r *rig) guess(via string, n int, step time.Duration) {
	for i := range n {
		_ = r.svc.Scan(context.Background(), 1, fmt.Sprintf("GUESS-%s-%06d", via, i), via)
		r.clk.Advance(step)
	}
}

// TestCodeGuessingLocksTheSourceOut: five codes SmartNow refuses from one
// source within a minute lock that source out (a voucher_refused event
// says so, for staff to see); while locked out its codes, valid ones too,
// are refused without asking SmartNow; another source scans on.
func TestCodeGuessingLocksTheSourceOut(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.voucher("FREE-0003", "discount", 2000)
	r.guess("scanner", voucherpay.GuessesPerWindow, time.Second)
	if n, l := r.unknownAsked(), r.lockouts(); n != voucherpay.GuessesPerWindow || len(l) != 1 || !strings.Contains(l[0], "scanner") || !strings.Contains(l[0], "1m0s") {
		t.Fatalf("%d asked, lockouts %q", n, l)
	}
	if err := r.svc.Scan(context.Background(), 1, "FREE-0003", "scanner"); err == nil || !strings.Contains(r.refused(), "too many unknown or invalid codes from scanner; try again in") {
		t.Fatalf("locked-out source: %v, refused %q", err, r.refused())
	}
	if n := r.unknownAsked(); n != voucherpay.GuessesPerWindow {
		t.Fatalf("SmartNow asked while locked out: %d", n)
	}
	if err := r.svc.Scan(context.Background(), 1, "FREE-0003", "web:bob"); err != nil {
		t.Fatalf("another source refused: %v", err)
	}
}

// TestGuessLockoutDoublesToAnHour: each lockout of a source doubles the
// last, from a minute up to an hour; a source quiet for an hour after its
// lockout ends starts again at a minute; refusals spread wider than the
// window never lock out.
func TestGuessLockoutDoublesToAnHour(t *testing.T) {
	r := newRig(t, rigOptions{})
	want := []string{"1m0s", "2m0s", "4m0s", "8m0s", "16m0s", "32m0s", "1h0m0s", "1h0m0s"}
	for i, w := range want {
		r.guess("mqtt", voucherpay.GuessesPerWindow, time.Second)
		l := r.lockouts()
		if len(l) != i+1 || !strings.HasSuffix(l[i], "for "+w) {
			t.Fatalf("lockout %d: %q, want for %s", i+1, l, w)
		}
		r.clk.Advance(voucherpay.MaxGuessLockout)
	}
	r.clk.Advance(voucherpay.MaxGuessLockout)
	r.guess("mqtt", voucherpay.GuessesPerWindow, time.Second)
	if l := r.lockouts(); !strings.HasSuffix(l[len(l)-1], "for 1m0s") {
		t.Fatalf("after an hour's quiet: %q", l[len(l)-1])
	}
	before := len(r.lockouts())
	r.guess("web:carol", 3*voucherpay.GuessesPerWindow, voucherpay.GuessWindow/4)
	if n := len(r.lockouts()); n != before {
		t.Fatalf("a refusal every 15 s locked out: %q", r.lockouts()[before:])
	}
}

// TestCodeGuessingIsBounded: 1000 made-up codes at 10 a second for 100 s
// reach SmartNow ten times (five, a minute's lockout, five more).
func TestCodeGuessingIsBounded(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.guess("scanner", 1000, 100*time.Millisecond)
	if n := r.unknownAsked(); n != 2*voucherpay.GuessesPerWindow {
		t.Fatalf("%d of 1000 made-up codes sent to SmartNow", n)
	}
}
