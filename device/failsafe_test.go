package device_test

import (
	"context"
	"path/filepath"
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

// faultyClock panics once armed: a stand-in for any bug in the loop.
type faultyClock struct {
	clock.System
	armed atomic.Bool
}

func (c *faultyClock) Mono() time.Duration {
	if c.armed.Load() {
		panic("injected fault")
	}
	return c.System.Mono()
}

type countValve struct{ open atomic.Bool }

func (v *countValve) Open() error  { v.open.Store(true); return nil }
func (v *countValve) Close() error { v.open.Store(false); return nil }

func TestPanicInLoopClosesValves(t *testing.T) {
	cfg, _ := config.Default()
	cfg.Device.DataDir = t.TempDir()
	store, err := storage.Open(filepath.Join(cfg.Device.DataDir, "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clk := &faultyClock{}
	opts := device.Options{Config: cfg, Clock: clk, Store: store, Valves: map[int]board.Valve{}, Meters: map[int]board.PulseSource{}}
	valves := map[int]*countValve{}
	for _, l := range cfg.Lines {
		valves[l.ID] = &countValve{}
		opts.Valves[l.ID], opts.Meters[l.ID] = valves[l.ID], sim.NullMeter{}
	}
	a, err := device.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	for id := range valves {
		if _, err := a.Authorise(id, device.Request{Auth: flow.Auth{Mode: flow.ModeCleaning}}); err != nil {
			t.Fatal(err)
		}
	}
	clk.armed.Store(true)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the injected panic did not propagate")
			}
		}()
		a.Run(context.Background(), time.Millisecond, time.Second)
	}()
	for id, v := range valves {
		if v.open.Load() {
			t.Errorf("valve %d left open after a panic", id)
		}
	}
}
