package mdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// bootingAdapter is a HAT that rebooted: every command gets p,NACK (a
// timeout) until a restart puts it back into master mode; the first
// restart comes while it is still booting and fails.
type bootingAdapter struct {
	restarts int
	fixed    bool
}

func (b *bootingAdapter) Send(context.Context, []Word) (Reply, error) {
	if b.fixed {
		return Reply{Kind: ReplyACK}, nil
	}
	return Reply{}, ErrTimeout
}

func (b *bootingAdapter) Answer(byte) error { return nil }

func (b *bootingAdapter) Restart(context.Context) error {
	b.restarts++
	if b.restarts == 1 {
		return errors.New("still booting")
	}
	b.fixed = true
	return nil
}

// TestRestartAgainWhileSilent: a restart that fails is tried again after
// the next restartAfter unanswered commands, until the adapter answers.
func TestRestartAgainWhileSilent(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	b := &bootingAdapter{}
	m := &Master{T: b, Addr: Cashless1, Now: func() time.Time { return now }, lastAnswer: now}
	for range 30 {
		_, _ = m.PollOnce(context.Background())
	}
	if b.restarts != 2 || !b.fixed {
		t.Fatalf("%d restarts, answering %v: %v", b.restarts, b.fixed, m.Warnings)
	}
	if len(m.Warnings) != 2 || !strings.Contains(m.Warnings[0], "restart failed") || !strings.Contains(m.Warnings[1], "adapter restarted") {
		t.Fatalf("warnings %q", m.Warnings)
	}
}

// TestSilentReaderWarnsOnce: an adapter whose restarts keep failing (a
// reader silent for its whole non-response time) says so once, not at
// every third POLL.
func TestSilentReaderWarnsOnce(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	b := &deadAdapter{}
	m := &Master{T: b, Addr: Cashless1, Now: func() time.Time { return now }, lastAnswer: now}
	for range 60 {
		_, _ = m.PollOnce(context.Background())
	}
	if b.restarts != 20 || len(m.Warnings) != 1 {
		t.Fatalf("%d restarts, warnings %q", b.restarts, m.Warnings)
	}
}

// deadAdapter never answers and never comes back from a restart.
type deadAdapter struct{ bootingAdapter }

func (d *deadAdapter) Restart(context.Context) error {
	d.restarts++
	return errors.New("still booting")
}
