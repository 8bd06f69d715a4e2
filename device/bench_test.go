package device_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/storage"
)

// stampValve records the instant Close is called.
type stampValve struct{ closed atomic.Int64 }

func (v *stampValve) Open() error  { v.closed.Store(0); return nil }
func (v *stampValve) Close() error { v.closed.CompareAndSwap(0, time.Now().UnixNano()); return nil }

// BenchmarkCapToClose measures, with 8 lines pouring at once (one feeding
// goroutine per line, as the GPIO handlers are), the time from handing the
// agent the edge that reaches a 100 mL cap to the valve's Close call.
// Each iteration is one round of 8 pours, booked with group commit.
func BenchmarkCapToClose(b *testing.B) {
	const lines = 8
	cfg, store := benchWall(b, lines)
	clk := clock.NewManual(time.Now())
	valves := make([]*stampValve, lines+1)
	opts := device.Options{Config: cfg, Clock: clk, Store: store, Valves: map[int]board.Valve{}, Meters: map[int]board.PulseSource{}}
	for i := 1; i <= lines; i++ {
		valves[i] = &stampValve{}
		opts.Valves[i], opts.Meters[i] = valves[i], sim.NullMeter{}
	}
	agent, err := device.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		b.Fatal(err)
	}
	defer agent.Close()
	lat := make([]time.Duration, 0, b.N*lines)
	var mu sync.Mutex
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		start := clk.Mono()
		for i := 1; i <= lines; i++ {
			if _, err := agent.Authorise(i, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(100)}}); err != nil {
				b.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for i := 1; i <= lines; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				at := start
				for valves[i].closed.Load() == 0 {
					at += 3 * time.Millisecond
					t0 := time.Now().UnixNano()
					agent.HandleEdge(board.Edge{Line: i, Time: at})
					if c := valves[i].closed.Load(); c != 0 {
						mu.Lock()
						lat = append(lat, time.Duration(c-t0))
						mu.Unlock()
					}
				}
			}(i)
		}
		wg.Wait()
		clk.Set(start + 5*time.Second)
		agent.Tick() // settle and book all eight
		if agent.Busy() {
			b.Fatal("pours not booked")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Nanoseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(1), "max-µs")
}

// benchWall is the default wall with n lines of the default settings and
// a real bbolt store in a temporary directory, closed with the benchmark.
func benchWall(b *testing.B, n int) (*config.Config, *storage.Store) {
	b.Helper()
	base, _ := config.Default()
	cfg := *base
	cfg.Lines, cfg.Sim.Lines = nil, nil
	for i := 1; i <= n; i++ {
		l := base.Defaults
		l.ID, l.Product = i, fmt.Sprintf("Beer %d", i)
		cfg.Lines = append(cfg.Lines, l)
	}
	cfg.Device.DataDir = b.TempDir()
	store, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return &cfg, store
}
