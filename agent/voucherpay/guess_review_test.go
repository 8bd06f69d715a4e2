package voucherpay_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/smartnow"
)

type guessWall struct{}

func (guessWall) Authorise(int, device.Request) (string, error) { return "p1", nil }
func (guessWall) PortionPrice(int, flow.Vol) (int64, error)     { return 650, nil }
func (guessWall) CanPour(int) string                            { return "" }
func (guessWall) Report(device.Event)                           {}

type countingValidator struct{ n atomic.Int64 }

func (c *countingValidator) Validate(context.Context, string, string, time.Duration, int64) (smartnow.Voucher, error) {
	c.n.Add(1)
	return smartnow.Voucher{}, &smartnow.Refusal{Reason: "unknown voucher"}
}

// TestReviewCodeGuessingIsThrottled: a guest at the scanner (a phone
// showing QR codes), a staff login or a script on the dashboard can try
// codes without end; every guess reaches SmartNow, and a hit pours. After
// a run of unknown codes on a line the service should stop asking.
func TestReviewCodeGuessingIsThrottled(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	v := &countingValidator{}
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	svc := voucherpay.New(voucherpay.Options{Config: cfg.SmartNow, PLUs: map[int]int{1: 101}, Wall: guessWall{}, SmartNow: v,
		Now: func() time.Time { return now }})
	for i := range 1000 {
		_ = svc.Scan(context.Background(), 1, fmt.Sprintf("GUESS-%06d", i), "scanner")
		now = now.Add(100 * time.Millisecond)
	}
	if n := v.n.Load(); n > 50 {
		t.Fatalf("1000 made-up codes in 100 s: %d validations sent to SmartNow, none throttled", n)
	}
}
