package voucherpay_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
)

// TestReviewOfflineLimitSurvivesRestart: offline_max bounds the vouchers
// poured unvalidated per hour; a restart of the agent (a new Service over
// the same store) must not give a fresh allowance.
func TestReviewOfflineLimitSurvivesRestart(t *testing.T) {
	r := newRig(t, rigOptions{offline: "accept"})
	r.cfg.SmartNow.OfflineMax = 1
	svc, err := voucherpay.Build(r.cfg, r.agent, r.store, nil, r.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.down(true)
	if err := svc.Scan(context.Background(), 1, "FAKE-0001", "test"); err != nil {
		t.Fatal(err)
	}
	r.pour(1, 8)
	r.booked(1)
	r.clk.Advance(time.Minute)
	// The controller restarts (watchdog, power): same store, same hour.
	svc2, err := voucherpay.Build(r.cfg, r.agent, r.store, nil, r.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc2.Scan(context.Background(), 2, "FAKE-0002", "test"); err == nil {
		t.Fatalf("a second unvalidated (made-up) code poured within the hour after a restart: offline_max=1 is not durable")
	}
}

// TestReviewOfflineCodeOnceAcrossRestart (holds): the same code poured
// offline is refused after a restart while its record waits in the
// SmartNow outbox.
func TestReviewOfflineCodeOnceAcrossRestart(t *testing.T) {
	r := newRig(t, rigOptions{offline: "accept"})
	r.down(true)
	if err := r.scan(1, "FAKE-0003"); err != nil {
		t.Fatal(err)
	}
	r.pour(1, 8)
	r.booked(1)
	r.clk.Advance(time.Hour)
	svc2, err := voucherpay.Build(r.cfg, r.agent, r.store, nil, r.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc2.Scan(context.Background(), 2, "FAKE-0003", "test"); err == nil {
		t.Fatal("the same offline code poured twice across a restart")
	}
}
