package serversync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/storage"
)

// BenchmarkDrain100k measures draining 100,000 buffered transactions to
// the emulator on loopback (batches of 100, every batch acknowledged and
// removed from the outbox before the next).
func BenchmarkDrain100k(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg, _ := config.Default()
		cfg.Device.DataDir = b.TempDir()
		store, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		fill(b, store, n)
		up, err := New(cfg, store, true, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := up.Syncer.Refresh(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := up.Syncer.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.StopTimer()
		if got := len(up.Server.Transactions()); got != n {
			b.Fatalf("server has %d", got)
		}
		b.ReportMetric(n/el.Seconds(), "tx/s")
		up.Stop(time.Second)
		store.Close()
	}
}

// fill books n pour records with 32 concurrent writers.
func fill(b *testing.B, s *storage.Store, n int) {
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				at := time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).UnixMilli()
				r := storage.Record{ID: fmt.Sprintf("1001-%d", i+1), Kind: storage.KindPour, Line: 1 + i%4, PLU: 101 + i%4,
					StartedAt: at, EndedAt: at + 5000, ClockSynced: true,
					Pour: flow.Result{Auth: flow.Auth{Mode: flow.ModeFree, Price: flow.Price{Minor: 650, PerVol: 5000}},
						Volume: 3000, Charged: 2970, Amount: 386}}
				if _, err := s.Book(storage.Booking{Record: r}); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
}

// BenchmarkPourCompletion times the tick that books a finished pour (the
// path that must commit before the line is free again) while the syncer
// uploads concurrently to a server that is up, down (every call fails) or
// slow (2 s per reply). Sync must add nothing to it.
func BenchmarkPourCompletion(b *testing.B) {
	for _, mode := range []struct {
		name   string
		faults ttgserver.Faults
	}{{"up", ttgserver.Faults{}}, {"down", ttgserver.Faults{FailAll: true}}, {"slow", ttgserver.Faults{Latency: 2 * time.Second}}} {
		b.Run(mode.name, func(b *testing.B) {
			cfg, _ := config.Default()
			cfg.Device.DataDir = b.TempDir()
			cfg.Sim.Lines = nil
			store, _ := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{})
			defer store.Close()
			up, err := New(cfg, store, true, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer up.Stop(0)
			up.Syncer.Refresh(context.Background())
			up.Server.SetFaults(mode.faults)
			clk := clock.NewManual(time.Now())
			opts := device.Options{Config: cfg, Clock: clk, Store: store, Valves: map[int]board.Valve{}, Meters: map[int]board.PulseSource{},
				Catalog: up.Catalog(), OnBooked: up.Syncer.Kick}
			for _, l := range cfg.Lines {
				opts.Valves[l.ID], opts.Meters[l.ID] = sim.NullValve{}, sim.NullMeter{}
			}
			agent, err := device.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			agent.Start()
			defer agent.Close()
			up.Start(agent.Report)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(50)}}); err != nil {
					b.Fatal(err)
				}
				at := clk.Mono()
				for j := 0; j < 300; j++ {
					at += 3 * time.Millisecond
					agent.HandleEdge(board.Edge{Line: 1, Time: at})
				}
				clk.Set(at + time.Second)
				t0 := time.Now()
				agent.Tick()
				lat = append(lat, time.Since(t0))
				if agent.Busy() {
					b.Fatal("pour not booked")
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
