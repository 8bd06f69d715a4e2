package voucherpay

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
)

// Build makes the voucher service of the configuration ([smartnow] with
// vouchers on) over the wall and its store; terminal lists the lines the
// running MDB terminal sells.
func Build(cfg *config.Config, wall Wall, store *storage.Store, terminal []int, now func() time.Time, log *slog.Logger) (*Service, error) {
	sn := cfg.SmartNow
	c := smartnow.NewClient(smartnow.Config{BaseURL: sn.URL, Username: sn.Username, Password: sn.Password, Paths: sn.Paths,
		Timeout: sn.Timeout.Duration, TokenLifetime: sn.TokenLifetime.Duration, Log: log})
	view, err := store.Sink(smartnow.SinkName)
	if err != nil {
		return nil, err
	}
	plus := make(map[int]int, len(cfg.Lines))
	var longest time.Duration
	for _, l := range cfg.Lines {
		plus[l.ID] = l.PLU
		longest = max(longest, l.AuthTimeout.Duration+l.MaxDuration.Duration+l.SettleTime.Duration)
	}
	s := New(Options{Config: sn, PLUs: plus, Terminal: terminal, LongestPour: longest, Wall: wall, SmartNow: c,
		Pending: func(code string) (bool, error) { return Pending(view, code) }, Journal: store, Now: now, Log: log})
	if err := s.loadOffline(); err != nil {
		return nil, err
	}
	return s, nil
}

// Outbox is a sink's view of the records it has not taken yet.
type Outbox interface {
	Outbox(after uint64, n int) ([]storage.Record, error)
}

// pendingScan bounds how much of the outbox Pending reads.
const (
	pendingBatch   = 500
	pendingBatches = 20
)

// Pending says whether a record paid with code still waits in the SmartNow
// sink's outbox (its redeem not done yet). It reads at most the oldest
// 10,000 records: a backlog deeper than that is a SmartNow long away, and
// a voucher validated meanwhile is locked to this machine anyway.
func Pending(o Outbox, code string) (bool, error) {
	var after uint64
	for range pendingBatches {
		recs, err := o.Outbox(after, pendingBatch)
		if err != nil {
			return false, err
		}
		for _, r := range recs {
			if r.Ref.Voucher == code {
				return true, nil
			}
			after = r.Seq
		}
		if len(recs) < pendingBatch {
			return false, nil
		}
	}
	return false, nil
}

// Start sweeps the arms and, with a scanner configured, reads codes from
// it (opened with open, reopened with backoff when it fails or vanishes)
// until the returned stop is called.
func (s *Service) Start(ctx context.Context, open func() (io.ReadCloser, error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	n := 1
	go func() { s.Run(ctx); done <- struct{}{} }()
	if s.o.Config.Scanner != "" && open != nil {
		n++
		sc := &Scanner{Open: open, Line: s.o.Config.ScannerLine, Scan: s.Scan, Report: s.o.Wall.Report, Log: s.o.Log}
		go func() { sc.Run(ctx); done <- struct{}{} }()
	}
	return func() {
		cancel()
		for range n {
			<-done
		}
	}
}
