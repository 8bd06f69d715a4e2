package smartnow

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/delivery"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/storage"
)

// wall is a store delivering to the TTG emulator and to SmartNow.
type wall struct {
	store *storage.Store
	up    *serversync.Uplink
	cloud *cloud
	pump  *delivery.Pump
	clk   *fakeNow
	n     int
}

func newWall(t testing.TB) *wall {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.TTG.TimeZone = "Europe/Berlin"
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{Sinks: []string{storage.DefaultSink, SinkName},
		Stamp: storage.Stamp{Zone: berlin, Currency: "EUR", Decimals: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	up, err := serversync.New(cfg, st, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Stop(0) })
	if err := up.Syncer.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk := &fakeNow{t: time.Now()}
	cl := newCloud(t, clk.Now)
	view, err := st.Sink(SinkName)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(Config{BaseURL: cl.srv.URL, Username: "wall", Password: "secret", Now: clk.Now})
	return &wall{store: st, up: up, cloud: cl, clk: clk,
		pump: delivery.NewPump(NewSink(c, Machine{Hostname: "wall-1"}), view, delivery.Options{Batch: 100, Now: clk.Now})}
}

// pour books one 0.3 L sale ending at at.
func (w *wall) pour(t testing.TB, at time.Time) {
	t.Helper()
	w.n++
	w.bookAt(t, at, w.n)
}

// bookAt books sale n ending at at and returns its outbox sequence; it
// is safe for concurrent use.
func (w *wall) bookAt(t testing.TB, at time.Time, n int) uint64 {
	r := storage.Record{ID: fmt.Sprintf("1001-%d", n), Kind: storage.KindPour, Line: 1 + n%4, PLU: 101 + n%4,
		StartedAt: at.Add(-5 * time.Second).UnixMilli(), EndedAt: at.UnixMilli(), ClockSynced: true,
		Pour: flow.Result{Auth: flow.Auth{Mode: flow.ModeFree, Price: flow.Price{Minor: 650, PerVol: 5000}},
			Volume: 3000, Charged: 2970, Amount: 386}}
	seq, err := w.store.Book(storage.Booking{Record: r})
	if err != nil {
		t.Error(err)
	}
	return seq
}

func (w *wall) depth(t testing.TB, sink string) int {
	t.Helper()
	v, err := w.store.Sink(sink)
	if err != nil {
		t.Fatal(err)
	}
	st, err := v.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st.Depth
}

// TestOneSinkDownADay: a day of pours (one every five minutes) while one
// sink fails every call; the other stays current after every hour, the
// failing one holds only its own backlog, and once it is back it gets
// every record exactly once and the outbox empties.
func TestOneSinkDownADay(t *testing.T) {
	for _, down := range []string{SinkName, storage.DefaultSink} {
		t.Run(down+" down", func(t *testing.T) {
			w := newWall(t)
			ctx := context.Background()
			if down == SinkName {
				w.cloud.mu.Lock()
				w.cloud.fail = 1 << 30
				w.cloud.mu.Unlock()
			} else {
				w.up.Server.SetFaults(ttgserver.Faults{FailAll: true})
			}
			up := storage.DefaultSink
			if down == up {
				up = SinkName
			}
			start := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
			for hour := 0; hour < 24; hour++ {
				for i := 0; i < 12; i++ {
					w.pour(t, start.Add(time.Duration(hour)*time.Hour+time.Duration(i)*5*time.Minute))
				}
				ttgErr := w.up.Syncer.Flush(ctx)
				snErr := w.pump.Flush(ctx)
				if (down == SinkName) != (snErr != nil) || (down == storage.DefaultSink) != (ttgErr != nil) {
					t.Fatalf("hour %d: ttg %v, smartnow %v", hour, ttgErr, snErr)
				}
				if d := w.depth(t, up); d != 0 {
					t.Fatalf("hour %d: %s, which is up, is %d records behind", hour, up, d)
				}
				if d := w.depth(t, down); d != 12*(hour+1) {
					t.Fatalf("hour %d: %s holds %d", hour, down, d)
				}
				w.clk.Add(time.Hour)
			}
			if n, _ := w.store.OutboxLen(); n != 288 {
				t.Fatalf("outbox holds %d, want the day's 288 for %s", n, down)
			}
			// Back up: the backlog drains once.
			w.cloud.mu.Lock()
			w.cloud.fail = 0
			w.cloud.mu.Unlock()
			w.up.Server.SetFaults(ttgserver.Faults{})
			if err := w.up.Syncer.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := w.pump.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if _, _, nrev, _ := w.cloud.counts(); nrev != 288 {
				t.Fatalf("smartnow holds %d revenue transactions", nrev)
			}
			if got := len(w.up.Server.Transactions()); got != 288 {
				t.Fatalf("ttg holds %d transactions", got)
			}
			if n, _ := w.store.OutboxLen(); n != 0 || w.store.IndexLen() != 0 {
				t.Fatalf("outbox %d index %d after both drained", n, w.store.IndexLen())
			}
		})
	}
}
