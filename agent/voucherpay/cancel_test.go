package voucherpay_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/sim/cloudemu"
)

// TestCancelledCallerIsRefusedNeverOffline: a caller gone before the scan
// (a dashboard request dropped, a cancelled or expired context) is a
// refusal, never "SmartNow unreachable": with offline = "accept" a
// made-up code must not pour, whether SmartNow is up or down.
func TestCancelledCallerIsRefusedNeverOffline(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		down bool
	}{
		{"cancelled, SmartNow up", cancelled, false},
		{"cancelled, SmartNow down", cancelled, true},
		{"past its deadline, SmartNow down", expired, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{offline: "accept"})
			r.down(tc.down)
			err := r.svc.Scan(tc.ctx, 1, "MADE-UP-0001", "web:alice")
			if !errors.Is(err, voucherpay.ErrRefused) || !strings.Contains(r.refused(), "cancelled") {
				t.Fatalf("scan: %v, refused %q", err, r.refused())
			}
			if r.ev.Count(device.EventVoucherAccepted) != 0 {
				t.Fatalf("poured: %s", r.ev.String())
			}
		})
	}
}

// TestDroppedRequestDuringValidateChangesNothing: once SmartNow is asked,
// it is asked under the service's own deadline ([smartnow] timeout): the
// caller's deadline passing meanwhile neither cuts the validate short nor
// turns it into an offline pour; the valid voucher pours.
func TestDroppedRequestDuringValidateChangesNothing(t *testing.T) {
	r := newRig(t, rigOptions{offline: "accept"})
	r.voucher("FREE-0002", "discount", 2000)
	r.emu.SetFaults(cloudemu.Faults{Latency: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.svc.Scan(ctx, 1, "FREE-0002", "web:alice"); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == nil {
		t.Fatal("the caller's deadline had not passed during the validate: the test proves nothing")
	}
	r.pour(1, 8)
	if rec := r.booked(1)[0]; rec.Ref.Voucher != "FREE-0002" || rec.Ref.VoucherOffline != "" {
		t.Fatalf("record %+v: not the validated voucher", rec.Ref)
	}
}
