package smartnow

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/storage"
)

// BenchmarkSinkDelay measures, per sink, the delay from a booking's commit
// to the sink having taken it, with both sinks running and the outbox
// loaded by 8 writers booking 2,000 records as fast as the disk commits.
func BenchmarkSinkDelay(b *testing.B) {
	const n, writers = 2000, 8
	for i := 0; i < b.N; i++ {
		w := newWall(b)
		ctx, cancel := context.WithCancel(context.Background())
		w.up.Start(func(device.Event) {})
		var runs sync.WaitGroup
		runs.Add(1)
		go func() { defer runs.Done(); w.pump.Run(ctx) }()
		booked := make([]time.Time, n+1)
		var mu sync.Mutex
		views := map[string]*storage.SinkView{}
		for _, name := range []string{storage.DefaultSink, SinkName} {
			views[name], _ = w.store.Sink(name)
		}
		delays := map[string][]time.Duration{}
		done := make(chan struct{})
		go func() { // the watcher: when each sink's cursor passes a record
			defer close(done)
			seen := map[string]uint64{}
			t0 := time.Now()
			for seen[storage.DefaultSink] < n || seen[SinkName] < n {
				now := time.Now()
				for name, v := range views {
					c, _ := v.Cursor()
					mu.Lock()
					for q := seen[name] + 1; q <= c && q <= n; q++ {
						delays[name] = append(delays[name], now.Sub(booked[q]))
					}
					mu.Unlock()
					seen[name] = max(seen[name], min(c, n))
				}
				time.Sleep(time.Millisecond)
				if time.Since(t0) > 10*time.Second {
					b.Errorf("sinks behind after 10 s: %v of %d", seen, n)
					return
				}
			}
		}()
		var wg sync.WaitGroup
		start := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
		for wr := 0; wr < writers; wr++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := wr; j < n; j += writers {
					seq := w.bookAt(b, start.Add(time.Duration(j)*time.Second), j)
					mu.Lock()
					booked[seq] = time.Now()
					mu.Unlock()
					w.up.Syncer.Kick()
					w.pump.Kick()
				}
			}()
		}
		wg.Wait()
		<-done
		cancel()
		runs.Wait()
		for _, name := range []string{storage.DefaultSink, SinkName} {
			d := delays[name]
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Milliseconds()), name+"-p50-ms")
			b.ReportMetric(float64(d[len(d)*99/100].Milliseconds()), name+"-p99-ms")
		}
	}
}

// BenchmarkDrainAfterOutage measures how fast SmartNow's backlog drains
// once it is back after an outage (10,000 records; the TTG sink is
// current throughout), one request per record.
func BenchmarkDrainAfterOutage(b *testing.B) {
	const n = 10_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newWall(b)
		start := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
		for j := 0; j < n; j++ {
			w.bookAt(b, start.Add(time.Duration(j)*time.Second), j)
		}
		if err := w.up.Syncer.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := w.pump.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		el := time.Since(t0)
		b.StopTimer()
		if _, _, nrev, _ := w.cloud.counts(); nrev != n {
			b.Fatalf("smartnow holds %d", nrev)
		}
		b.ReportMetric(n/el.Seconds(), "records/s")
	}
}
