package retention_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/retention"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// TestOncePrunesEachStoreAndReports: one pass prunes the history by age,
// the dead letters by count, and a part by its own rule, reports each with
// its count, and leaves every record still waiting in the outbox.
func TestOncePrunesEachStoreAndReports(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	err = st.Update(retention.HistoryBucket, func(b storage.Bucket) error {
		for d := range 40 { // one entry a day, 0..39 days old
			k := binary.BigEndian.AppendUint64(nil, uint64(now.Add(-time.Duration(d)*24*time.Hour).UnixNano()))
			if err := b.Put(k, []byte(`{"kind":"pour"}`)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		rec := storage.Record{ID: fmt.Sprint("r", i), Kind: storage.KindPour, Line: 1, Pour: flow.Result{Volume: 3000}}
		if _, err := st.Book(storage.Booking{Record: rec}); err != nil {
			t.Fatal(err)
		}
		if i <= 4 {
			if err := st.Bury(uint64(i), "refused", now.UnixMilli()); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg, err := config.Parse([]byte("[history]\nretention_days = 30\nmax_dead_letters = 1\n[[line]]\nid = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var events []device.Event
	o := retention.Options{Store: st, History: cfg.History, Now: func() time.Time { return now },
		Report: func(ev device.Event) { events = append(events, ev) },
		Parts:  map[string]retention.Part{"pos": retention.PartFunc(func(context.Context, time.Time) (int, error) { return 2, nil })}}
	got, err := o.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 31..39 days old: 9 entries past 30 days (exactly 30 days old stays).
	if got["history"] != 9 || got["dead_letters"] != 3 || got["pos"] != 2 {
		t.Fatalf("pruned %v", got)
	}
	if len(events) != 3 {
		t.Fatalf("events %+v", events)
	}
	for _, ev := range events {
		if ev.Type != device.EventPruned || ev.Amount != int64(got[ev.Kind]) {
			t.Fatalf("event %+v for %v", ev, got)
		}
	}
	if n, _ := st.OutboxLen(); n != 1 {
		t.Fatalf("outbox %d, want the one record not buried", n)
	}
	if again, err := o.Once(context.Background()); err != nil || again["history"] != 0 || again["dead_letters"] != 0 {
		t.Fatalf("second pass %v, %v", again, err)
	}
}
