package voucherpay_test

import (
	"context"
	"testing"
)

// TestReviewCancelledRequestIsNotOffline: with offline = "accept", a
// dashboard user who drops the HTTP request (the web handler passes
// r.Context()) makes Validate fail with context.Canceled, which
// unreachable() takes for "SmartNow unreachable": a made-up code pours
// offline while SmartNow is up and would have refused it.
func TestReviewCancelledRequestIsNotOffline(t *testing.T) {
	r := newRig(t, rigOptions{offline: "accept"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the browser went away
	if err := r.svc.Scan(ctx, 1, "MADE-UP-0001", "web"); err == nil {
		t.Fatalf("a made-up code poured 'offline' with SmartNow up: the caller's cancelled context counted as SmartNow unreachable")
	}
}
