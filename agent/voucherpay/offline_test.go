package voucherpay_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
)

// restart builds the voucher service again over the rig's store, as the
// agent does after a watchdog reset or a power cut.
func (r *rig) restart() *voucherpay.Service {
	r.t.Helper()
	svc, err := voucherpay.Build(r.cfg, r.agent, r.store, nil, r.clk.Now, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return svc
}

// TestOfflineLimitSurvivesRestart: offline_max bounds the vouchers poured
// unvalidated per hour across restarts: the pours are kept in the store
// (bucket voucher_offline) before the line opens, and a new service counts
// those of the last hour.
func TestOfflineLimitSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		pours bool
	}{
		{"a minute later", time.Minute, false},
		{"59 minutes later", 59 * time.Minute, false},
		{"an hour later", time.Hour + time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{offline: "accept"})
			r.cfg.SmartNow.OfflineMax = 1
			r.down(true)
			if err := r.restart().Scan(context.Background(), 1, "FAKE-0001", "test"); err != nil {
				t.Fatal(err)
			}
			r.pour(1, 8)
			r.booked(1)
			r.clk.Advance(tc.after)
			err := r.restart().Scan(context.Background(), 2, "FAKE-0002", "test")
			if tc.pours != (err == nil) || (err != nil && (!errors.Is(err, voucherpay.ErrRefused) || !strings.Contains(r.refused(), "limit"))) {
				t.Fatalf("second offline code: %v, refused %q", err, r.refused())
			}
		})
	}
}

// TestOfflineCodeOnceAcrossRestart: a code poured offline is refused
// offline again after a restart, while its record waits in the SmartNow
// outbox and after the sink took it (the store remembers it for a day).
func TestOfflineCodeOnceAcrossRestart(t *testing.T) {
	for _, delivered := range []bool{false, true} {
		name := map[bool]string{false: "waiting in the outbox", true: "delivered"}[delivered]
		t.Run(name, func(t *testing.T) {
			r := newRig(t, rigOptions{offline: "accept"})
			r.down(true)
			if err := r.scan(1, "FAKE-0003"); err != nil {
				t.Fatal(err)
			}
			r.pour(1, 8)
			r.booked(1)
			if delivered {
				r.down(false)
				if err := r.deliver(); err != nil {
					t.Fatal(err)
				}
				r.down(true)
			}
			r.clk.Advance(time.Hour)
			err := r.restart().Scan(context.Background(), 2, "FAKE-0003", "test")
			if !errors.Is(err, voucherpay.ErrRefused) {
				t.Fatalf("the same offline code poured twice across a restart: %v", err)
			}
			if delivered && !strings.Contains(r.refused(), "used offline already") {
				t.Fatalf("refused %q", r.refused())
			}
		})
	}
}

// TestOfflineJournalKeepsADay: the store keeps an offline pour for a day
// (bounded), then drops it with the next offline pour's write.
func TestOfflineJournalKeepsADay(t *testing.T) {
	r := newRig(t, rigOptions{offline: "accept"})
	r.down(true)
	count := func() int {
		n := 0
		if err := r.store.Scan(voucherpay.OfflineBucket, nil, nil, func(k, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i, code := range []string{"FAKE-0004", "FAKE-0005"} {
		if err := r.scan(1+i, code); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 2 {
		t.Fatalf("%d offline pours kept, want 2", n)
	}
	r.clk.Advance(24*time.Hour + time.Minute)
	svc := r.restart()
	if err := svc.Scan(context.Background(), 3, "FAKE-0006", "test"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d offline pours kept a day later, want only the new one", n)
	}
}
