package telemetron_test

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
	"github.com/tapagent/tapagent/sim/cloudemu"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	tmemu "github.com/tapagent/tapagent/sim/telemetron"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/telemetron"
)

// threeSinks is a store delivering to the TTG emulator, SmartNow's and
// Telemetron's.
type threeSinks struct {
	store      *storage.Store
	up         *serversync.Uplink
	sn         *snemu.Server
	tm         *tmemu.Server
	snPump     *delivery.Pump
	tmPump     *delivery.Pump
	clk        *fakeNow
	telemetron *telemetron.Sink
}

func newThreeSinks(t testing.TB) *threeSinks {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	st, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{
		Sinks: []string{storage.DefaultSink, smartnow.SinkName, telemetron.SinkName},
		Stamp: storage.Stamp{Zone: amsterdam, ZoneName: "Europe/Amsterdam", Currency: "EUR", Decimals: 2}})
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
	clk := &fakeNow{t: time.Now().Add(-24 * time.Hour).Truncate(time.Second)}
	sn, err := snemu.New(snemu.Options{Machines: []snemu.Machine{{ID: 80, Hostname: "wall-1"}}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	snURL, stop, err := sn.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	tm, err := tmemu.New(tmemu.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tmURL, stop, err := tm.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	snView, err := st.Sink(smartnow.SinkName)
	if err != nil {
		t.Fatal(err)
	}
	tmView, err := st.Sink(telemetron.SinkName)
	if err != nil {
		t.Fatal(err)
	}
	snc := smartnow.NewClient(smartnow.Config{BaseURL: snURL, Username: "tapagent", Password: "tapagent", Timeout: 2 * time.Second, Now: clk.Now})
	tmc := telemetron.NewClient(telemetron.Config{BaseURL: tmURL + "/v2", AuthURL: tmURL + "/auth/", ClientID: clientID,
		ClientSecret: clientSecret, Username: user, Password: password, Timeout: 2 * time.Second, Now: clk.Now})
	sink := telemetron.NewSink(tmc, telemetron.SinkOptions{MachineID: machineID, Machine: telemetron.Machine{Zone: amsterdam},
		Lines: []int{1, 2, 3, 4}, Kegs: st.Kegs, Memory: st, Now: clk.Now})
	return &threeSinks{store: st, up: up, sn: sn, tm: tm, clk: clk, telemetron: sink,
		snPump: delivery.NewPump(smartnow.NewSink(snc, smartnow.Machine{Hostname: "wall-1", Zone: amsterdam}), snView, delivery.Options{Batch: 100, Now: clk.Now}),
		tmPump: delivery.NewPump(sink, tmView, delivery.Options{Batch: 100, Now: clk.Now})}
}

// bookAt books sale n ending at at; it is safe for concurrent use.
func (w *threeSinks) bookAt(t testing.TB, at time.Time, n int) uint64 {
	r := storage.Record{ID: fmt.Sprintf("1001-%d", n), Kind: storage.KindPour, Line: 1 + n%4, PLU: 101 + n%4, Product: "Pils",
		StartedAt: at.Add(-5 * time.Second).UnixMilli(), EndedAt: at.UnixMilli(), ClockSynced: true,
		Pour: flow.Result{Auth: flow.Auth{Mode: flow.ModeFree, Price: flow.Price{Minor: 650, PerVol: 5000}},
			Volume: 3000, Charged: 2970, Amount: 386}}
	seq, err := w.store.Book(storage.Booking{Record: r})
	if err != nil {
		t.Error(err)
	}
	return seq
}

func (w *threeSinks) depth(t testing.TB, sink string) int {
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

// TestTelemetronDownADay: a day of pours (one every five minutes) while
// Telemetron is down; TTG and SmartNow are current after every hour,
// Telemetron holds only its own backlog, and once it is back it gets every
// vend row exactly once and the outbox empties.
func TestTelemetronDownADay(t *testing.T) {
	w := newThreeSinks(t)
	ctx := context.Background()
	w.tm.SetFaults(cloudemu.Faults{Down: true})
	start := w.clk.Now()
	n := 0
	for hour := range 24 {
		for i := range 12 {
			n++
			w.bookAt(t, start.Add(time.Duration(hour)*time.Hour+time.Duration(i)*5*time.Minute), n)
		}
		if err := w.up.Syncer.Flush(ctx); err != nil {
			t.Fatalf("hour %d: ttg: %v", hour, err)
		}
		if err := w.snPump.Flush(ctx); err != nil {
			t.Fatalf("hour %d: smartnow: %v", hour, err)
		}
		if err := w.tmPump.Flush(ctx); err == nil {
			t.Fatalf("hour %d: telemetron is down, yet delivered", hour)
		}
		for _, up := range []string{storage.DefaultSink, smartnow.SinkName} {
			if d := w.depth(t, up); d != 0 {
				t.Fatalf("hour %d: %s is %d records behind", hour, up, d)
			}
		}
		if d := w.depth(t, telemetron.SinkName); d != 12*(hour+1) {
			t.Fatalf("hour %d: telemetron holds %d", hour, d)
		}
		w.clk.Add(time.Hour)
	}
	if n, _ := w.store.OutboxLen(); n != 288 {
		t.Fatalf("outbox holds %d, want the day's 288 for telemetron", n)
	}
	w.tm.SetFaults(cloudemu.Faults{})
	if err := w.tmPump.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.tm.Received(machineID).Sales; got != 288 {
		t.Fatalf("telemetron holds %d vend rows", got)
	}
	if got := len(w.sn.RevenueTransactions()); got != 288 {
		t.Fatalf("smartnow holds %d", got)
	}
	if got := len(w.up.Server.Transactions()); got != 288 {
		t.Fatalf("ttg holds %d", got)
	}
	if n, _ := w.store.OutboxLen(); n != 0 || w.store.IndexLen() != 0 {
		t.Fatalf("outbox %d index %d after every sink drained", n, w.store.IndexLen())
	}
}
