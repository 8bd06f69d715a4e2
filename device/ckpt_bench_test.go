package device_test

import (
	"context"
	"fmt"
	"github.com/tapagent/tapagent/internal/testwait"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/storage"
)

// BenchmarkCheckpointAgeUnderLoad measures how old a pour's durable
// checkpoint gets (the promise is at most storage.checkpoint_interval,
// 250 ms) in real time, with every core saturated by busy goroutines (two
// per core) and the writer kept busy by a flood of events and bookings from
// other goroutines. Eight lines pour at once, fed edges at 60 mL/s by one
// goroutine each, while Run ticks the agent every 10 ms. A sampler reads the
// intents as a restarted process would and records, per line, now minus
// the moment the newest durable checkpoint was taken (the intent's open
// time before the first). Each iteration is one round of 8 pours of 3 s.
func BenchmarkCheckpointAgeUnderLoad(b *testing.B) {
	for _, load := range []struct {
		name   string
		cpu    stress
		writer bool
	}{
		{"idle", noStress, false},
		{"writer", noStress, true},
		{"cpu=processes", processStress, false},
		{"cpu=processes+writer", processStress, true},
		// The packaged unit runs the agent at Nice=-10: other processes at
		// the default priority are modelled by stress at nice +10.
		{"cpu=processes-below-agent", niceProcessStress, false},
		{"cpu=processes-below-agent+writer", niceProcessStress, true},
		{"cpu=goroutines", goroutineStress, false},
		{"cpu=goroutines+writer", goroutineStress, true},
	} {
		b.Run(load.name, func(b *testing.B) { benchCheckpointAge(b, load.cpu, load.writer) })
	}
}

// stress is how the cores are saturated: by other processes (the kernel
// shares the CPU between them and the agent) or by goroutines of the agent
// itself (the Go scheduler shares it, with no priorities).
type stress int

const (
	noStress stress = iota
	processStress
	niceProcessStress // processes ten nice levels below the agent
	goroutineStress
)

// burn saturates every core twice over until ctx ends.
func burn(ctx context.Context, b *testing.B, how stress, wg *sync.WaitGroup) {
	for i := 0; i < 2*runtime.NumCPU(); i++ {
		switch how {
		case goroutineStress:
			wg.Add(1)
			go func() { defer wg.Done(); spin(ctx) }()
		case processStress, niceProcessStress:
			args := []string{"sh", "-c", "while :; do :; done"}
			if how == niceProcessStress {
				args = append([]string{"nice", "-n", "10"}, args...)
			}
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() { defer wg.Done(); cmd.Wait() }()
		}
	}
}

func benchCheckpointAge(b *testing.B, cpu stress, writer bool) {
	const lines = 8
	cfg, store := benchWall(b, lines)
	clk := clock.System{}
	opts := device.Options{Config: cfg, Clock: clk, Store: store, Valves: map[int]board.Valve{}, Meters: map[int]board.PulseSource{}}
	for i := 1; i <= lines; i++ {
		opts.Valves[i], opts.Meters[i] = &stampValve{}, sim.NullMeter{}
	}
	agent, err := device.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() { cancel(); bg.Wait() }()
	bg.Add(1)
	go func() { defer bg.Done(); agent.Run(ctx, cfg.Device.Tick.Duration, time.Second) }()
	burn(ctx, b, cpu, &bg)
	if writer {
		bg.Add(2)
		go func() { defer bg.Done(); floodEvents(ctx, agent) }()
		go func() { defer bg.Done(); floodBookings(ctx, store) }()
	}

	var ages []time.Duration
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		for i := 1; i <= lines; i++ {
			if _, err := agent.Authorise(i, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err != nil {
				b.Fatal(err)
			}
		}
		pourCtx, stopPour := context.WithTimeout(ctx, 3*time.Second)
		var feed sync.WaitGroup
		for i := 1; i <= lines; i++ {
			feed.Add(1)
			go func(i int) { defer feed.Done(); feedEdges(pourCtx, agent, clk, i) }(i)
		}
		ages = append(ages, sampleAges(pourCtx, store)...)
		feed.Wait()
		stopPour()
		for i := 1; i <= lines; i++ {
			agent.Stop(i)
		}
		// settle_time passes in real time
		if !testwait.For(time.Minute, func() bool { return !agent.Busy() }) {
			b.Fatal("the lines never came to rest")
		}
	}
	b.StopTimer()
	if len(ages) == 0 {
		b.Fatal("no samples")
	}
	slices.Sort(ages)
	q := func(p float64) float64 { return float64(ages[int(float64(len(ages)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-age-ms")
	b.ReportMetric(q(0.99), "p99-age-ms")
	b.ReportMetric(q(1), "worst-age-ms")
}

// spin burns a core until ctx ends.
func spin(ctx context.Context) {
	x := 0
	for ctx.Err() == nil {
		for i := 0; i < 1_000_000; i++ {
			x = x*31 + i
		}
	}
	_ = x
}

// floodEvents raises 2,000 events a second (a storm far beyond a real
// wall's), each one a write for the storage writer.
func floodEvents(ctx context.Context, a *device.Agent) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Report(device.Event{Type: device.EventAgentStarted, Detail: "flood"})
			a.Report(device.Event{Type: device.EventAgentStarted, Detail: "flood"})
		}
	}
}

// floodBookings books records from many goroutines at once, so the writer
// always has a full queue of durable work.
func floodBookings(ctx context.Context, s *storage.Store) {
	var n atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := n.Add(1)
				s.Book(storage.Booking{Record: storage.Record{ID: fmt.Sprintf("flood-%d", i), Kind: storage.KindCleaning,
					Line: 99, StartedAt: 1, EndedAt: 2, Pour: flow.Result{Volume: 10}}})
			}
		}()
	}
	wg.Wait()
}

// feedEdges gives a line one meter edge per 3 ms (about 60 mL/s).
func feedEdges(ctx context.Context, a *device.Agent, clk clock.Clock, line int) {
	t := time.NewTicker(3 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.HandleEdge(board.Edge{Line: line, Time: clk.Mono()})
		}
	}
}

// sampleAges reads the durable intents until ctx ends and returns, for
// every open pour at every sample, how old its durable progress is.
func sampleAges(ctx context.Context, s *storage.Store) []time.Duration {
	var out []time.Duration
	for ctx.Err() == nil {
		ins, err := s.Intents()
		if err != nil {
			return out
		}
		now := time.Now().UnixMilli()
		for _, in := range ins {
			at := in.CheckpointAt
			if at == 0 {
				at = in.OpenedAt
			}
			out = append(out, time.Duration(now-at)*time.Millisecond)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return out
}
