// Package retention keeps the agent's database bounded: at start and every
// [history] prune_interval it prunes, oldest first, the history of booked
// pours, card actions, keg changes, cleanings and alarms (by age and by
// size), the dead letters (by age and count), and the parts with rules of
// their own (the cash register's used-up credits, the remote-login replay
// guard). Every deletion is one of storage's small commits, so a booking
// never waits behind a long write. The outbox is never pruned: a record
// leaves it only when the server has acknowledged it.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/storage"
)

// HistoryBucket is the time-keyed bucket of the wall's history (keys start
// with the 8-byte big-endian unix-nanosecond time of the entry).
const HistoryBucket = "history"

// Part is a store with a retention rule of its own.
type Part interface {
	Prune(ctx context.Context, now time.Time) (int, error)
}

// PartFunc makes a Part of a function.
type PartFunc func(ctx context.Context, now time.Time) (int, error)

// Prune calls f.
func (f PartFunc) Prune(ctx context.Context, now time.Time) (int, error) { return f(ctx, now) }

// Options configure the pruner.
type Options struct {
	Store   *storage.Store
	History config.History
	// Buckets are the time-keyed buckets pruned by History's age and size
	// rules; nil is HistoryBucket alone.
	Buckets []string
	// Parts are pruned by their own rules, by name (the event's Kind).
	Parts map[string]Part
	// Now is the wall time the rules are measured against.
	Now func() time.Time
	// Report receives an EventPruned for each store that lost entries.
	Report func(device.Event)
	Log    *slog.Logger
}

// Pruned is what one pass deleted, by store.
type Pruned map[string]int

// Once prunes every store once. A store that fails is logged and reported
// and the others are still pruned; the first error is returned.
func (o Options) Once(ctx context.Context) (Pruned, error) {
	now := o.Now()
	out := Pruned{}
	var first error
	note := func(name, rule string, n int, err error) {
		if n > 0 {
			out[name] += n
			o.report(device.Event{Type: device.EventPruned, Kind: name, Amount: int64(n), Detail: rule})
		}
		if err != nil && ctx.Err() == nil {
			o.report(device.Event{Type: device.EventStorageError, Kind: name, Detail: "pruning: " + err.Error()})
			if first == nil {
				first = fmt.Errorf("retention: %s: %w", name, err)
			}
		}
	}
	h := o.History
	for _, b := range o.buckets() {
		n, err := o.Store.PruneTimeKeyed(ctx, b, now, storage.Retention{MaxAge: h.Retention(), MaxBytes: h.MaxBytes})
		note(b, fmt.Sprintf("older than %d days or beyond %d bytes", h.RetentionDays, h.MaxBytes), n, err)
	}
	n, err := o.Store.PruneDeadLetters(ctx, now, storage.DeadLetterRetention{MaxAge: h.DeadLetterRetention(), MaxCount: h.MaxDeadLetters})
	note("dead_letters", fmt.Sprintf("older than %d days or beyond %d", h.DeadLetterDays, h.MaxDeadLetters), n, err)
	for name, p := range o.Parts {
		n, err := p.Prune(ctx, now)
		note(name, "its own rule", n, err)
	}
	return out, first
}

func (o Options) buckets() []string {
	if o.Buckets == nil {
		return []string{HistoryBucket}
	}
	return o.Buckets
}

func (o Options) report(ev device.Event) {
	if o.Report != nil {
		o.Report(ev)
	}
}

// Run prunes at once and then every History.PruneInterval until ctx ends.
func (o Options) Run(ctx context.Context) {
	t := time.NewTicker(o.History.PruneInterval.Duration)
	defer t.Stop()
	for {
		if _, err := o.Once(ctx); err != nil && o.Log != nil {
			o.Log.Warn("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Start runs the pruner beside the agent; stop ends it and waits.
func Start(ctx context.Context, o Options) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// ForAgent is the pruner of a running agent: its store under the
// [history] rules, the remote-login replay guard and, with a cash
// register, the register's finished credits.
func ForAgent(cfg *config.Config, st *storage.Store, a *device.Agent, pos bool, now func() time.Time, log *slog.Logger) Options {
	parts := map[string]Part{"remote": PartFunc(a.PruneCompletedLogins)}
	if pos {
		parts["pos"] = cashregister.Pruner{St: st, Keep: cfg.History.POSRetention()}
	}
	return Options{Store: st, History: cfg.History, Parts: parts, Now: now, Report: a.Report, Log: log}
}
