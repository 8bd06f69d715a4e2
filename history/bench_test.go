package history_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// benchStore holds n pours, one every 30 s on one of 4 lines (30 days of
// a busy wall at 24 h is about 86,000).
func benchStore(b *testing.B, n int) *storage.Store {
	b.Helper()
	st, err := storage.Open(filepath.Join(b.TempDir(), "h.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for i := 0; i < n; i += 1000 {
		err := st.Update(history.Bucket, func(bk storage.Bucket) error {
			for j := i; j < min(i+1000, n); j++ {
				e := history.Entry{Time: t0.Add(time.Duration(j) * 30 * time.Second), Kind: history.KindPour, Line: 1 + j%4,
					Product: "Pils", PLU: 101 + j%4, ID: "1-x", Payment: history.PayCard, Card: "c0ffee00c0ffee00",
					Mode: "free", Reason: "idle", Volume: flow.ML(300), Amount: 390}
				if err := history.Put(bk, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// BenchmarkFindDay: one day's pours (2,880) out of 30 days.
func BenchmarkFindDay(b *testing.B) {
	log := history.New(benchStore(b, 86_400))
	q := history.Query{From: t0.Add(15 * 24 * time.Hour), To: t0.Add(16 * 24 * time.Hour), Limit: history.MaxLimit}
	b.ResetTimer()
	for b.Loop() {
		es, err := log.Find(context.Background(), q)
		if err != nil || len(es) != 2880 {
			b.Fatal(len(es), err)
		}
	}
}

// BenchmarkTotalsByDay30Days: totals per day over all 30 days.
func BenchmarkTotalsByDay30Days(b *testing.B) {
	log := history.New(benchStore(b, 86_400))
	b.ResetTimer()
	for b.Loop() {
		ts, err := log.Totals(context.Background(), history.Query{}, history.ByDay)
		if err != nil || len(ts) < 30 {
			b.Fatal(len(ts), err)
		}
	}
}

// BenchmarkPut: one entry written inside an existing transaction (the
// cost the history adds to a booking's commit, fsync aside).
func BenchmarkPut(b *testing.B) {
	st := benchStore(b, 0)
	e := history.Entry{Time: t0, Kind: history.KindPour, Line: 1, Product: "Pils", PLU: 101, ID: "1-1",
		Payment: history.PayCard, Card: "c0ffee00c0ffee00", Volume: flow.ML(300), Amount: 390}
	b.ResetTimer()
	err := st.Update(history.Bucket, func(bk storage.Bucket) error {
		for i := 0; b.Loop(); i++ {
			e.Time = t0.Add(time.Duration(i) * time.Second)
			if err := history.Put(bk, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
