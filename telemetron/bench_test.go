package telemetron_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/telemetron"
)

var benchSinks = []string{storage.DefaultSink, smartnow.SinkName, telemetron.SinkName}

// BenchmarkSinkDelay measures, per sink, the delay from a booking's commit
// to the sink having taken it, with TTG, SmartNow and Telemetron running
// and 8 writers booking 2,000 records as fast as the disk commits.
func BenchmarkSinkDelay(b *testing.B) {
	const n, writers = 2000, 8
	for range b.N {
		w := newThreeSinks(b)
		ctx, cancel := context.WithCancel(context.Background())
		w.up.Start(func(device.Event) {})
		var runs sync.WaitGroup
		for _, p := range []interface{ Run(context.Context) }{w.snPump, w.tmPump} {
			runs.Add(1)
			go func() { defer runs.Done(); p.Run(ctx) }()
		}
		booked := make([]time.Time, n+1)
		var mu sync.Mutex
		views := map[string]*storage.SinkView{}
		for _, name := range benchSinks {
			views[name], _ = w.store.Sink(name)
		}
		delays := map[string][]time.Duration{}
		done := make(chan struct{})
		go func() { // the watcher: when each sink's cursor passes a record
			defer close(done)
			seen := map[string]uint64{}
			t0 := time.Now()
			for slices.ContainsFunc(benchSinks, func(s string) bool { return seen[s] < n }) {
				now := time.Now()
				for name, v := range views {
					c, _ := v.Cursor()
					mu.Lock()
					// A sink can take a record before its writer has noted
					// the commit time: that one waits for the next look.
					for q := seen[name] + 1; q <= c && q <= n && !booked[q].IsZero(); q++ {
						delays[name] = append(delays[name], max(now.Sub(booked[q]), 0))
						seen[name] = q
					}
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
				if time.Since(t0) > 20*time.Second {
					b.Errorf("sinks behind after 20 s: %v of %d", seen, n)
					return
				}
			}
		}()
		var wg sync.WaitGroup
		start := w.clk.Now()
		for wr := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := wr; j < n; j += writers {
					seq := w.bookAt(b, start.Add(time.Duration(j)*time.Second), j)
					mu.Lock()
					booked[seq] = time.Now()
					mu.Unlock()
					w.up.Syncer.Kick()
					w.snPump.Kick()
					w.tmPump.Kick()
				}
			}()
		}
		wg.Wait()
		<-done
		cancel()
		runs.Wait()
		for _, name := range benchSinks {
			d := delays[name]
			if len(d) == 0 {
				continue
			}
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Milliseconds()), name+"-p50-ms")
			b.ReportMetric(float64(d[len(d)*99/100].Milliseconds()), name+"-p99-ms")
		}
	}
}

// BenchmarkDrainAfterOutage measures how fast Telemetron's backlog drains
// once it is back after an outage (10,000 records; TTG and SmartNow are
// current throughout), 100 vend rows per request.
func BenchmarkDrainAfterOutage(b *testing.B) {
	const n = 10_000
	for range b.N {
		b.StopTimer()
		w := newThreeSinks(b)
		start := w.clk.Now()
		for j := range n {
			w.bookAt(b, start.Add(time.Duration(j)*time.Second), j)
		}
		ctx := context.Background()
		if err := w.up.Syncer.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := w.snPump.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := w.tmPump.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		el := time.Since(t0)
		b.StopTimer()
		if got := w.tm.Received(machineID).Sales; got != n {
			b.Fatalf("telemetron holds %d", got)
		}
		b.ReportMetric(n/el.Seconds(), "records/s")
	}
}
