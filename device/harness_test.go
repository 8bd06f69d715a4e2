package device_test

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/walltest"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

// harness is the agent on the simulated wall with a real bbolt file, in
// virtual time: minutes of pouring run in milliseconds.
type harness struct {
	t     *testing.T
	cfg   *config.Config
	clk   *clock.Manual
	wall  *simwall.Wall
	store *storage.Store
	agent *device.Agent

	ev walltest.Events
}

func newHarness(t *testing.T, mutate func(*config.Config)) *harness {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	if mutate != nil {
		mutate(cfg)
	}
	h := &harness{t: t, cfg: cfg, clk: clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))}
	if h.wall, err = simwall.NewWall(cfg, h.clk); err != nil {
		t.Fatal(err)
	}
	h.start()
	t.Cleanup(func() {
		if h.agent != nil {
			h.agent.Close()
		}
		if h.store != nil {
			h.store.Close()
		}
	})
	return h
}

func (h *harness) start() {
	h.t.Helper()
	var err error
	h.store, err = storage.Open(filepath.Join(h.cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.agent, err = device.New(device.Options{Config: h.cfg, Clock: h.clk, Store: h.store,
		Valves: h.wall.Valves, Meters: h.wall.Meters, Emit: h.ev.Add})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.agent.Start(); err != nil {
		h.t.Fatal(err)
	}
}

// crash drops the agent the way kill -9 does: no valve closing, no
// booking; the process's file lock and meter handlers die with it.
func (h *harness) crash() {
	for _, m := range h.wall.Meters {
		m.Close()
	}
	h.store.Close()
	h.agent, h.store = nil, nil
}

// stop shuts down the way SIGTERM does.
func (h *harness) stop() {
	h.t.Helper()
	h.agent.StopAll(flow.ReasonShutdown)
	for i := 0; i < 400 && h.agent.Busy(); i++ {
		h.run(5 * time.Millisecond)
	}
	if err := h.agent.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.store.Close()
	h.agent, h.store = nil, nil
}

// run advances virtual time, ticking the agent every 10 ms.
func (h *harness) run(d time.Duration) {
	for end := h.clk.Mono() + d; h.clk.Mono() < end; {
		h.wall.Board.Advance(5 * time.Millisecond)
		h.wall.Board.Advance(5 * time.Millisecond)
		h.agent.Tick()
	}
}

func (h *harness) line(n int) *sim.Line { return h.wall.Board.Line(n) }

func (h *harness) authorise(line int, a flow.Auth) string {
	h.t.Helper()
	id, err := h.agent.Authorise(line, device.Request{Auth: a})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) pour(line int, mls float64, d time.Duration) {
	h.line(line).Pour([]sim.Point{{T: 0, MLs: mls}, {T: d, MLs: mls}, {T: d + time.Millisecond, MLs: 0}})
}

func (h *harness) outbox() []storage.Record {
	h.t.Helper()
	recs, err := h.store.Outbox(0, 100000)
	if err != nil {
		h.t.Fatal(err)
	}
	return recs
}

func (h *harness) count(typ device.EventType) int { return h.ev.Count(typ) }

func (h *harness) alarm(kind string) bool {
	for _, e := range h.ev.All() {
		if e.Type == device.EventAlarm && e.Alarm != nil && e.Alarm.Kind == kind {
			return true
		}
	}
	return false
}

func (h *harness) status(line int) device.LineStatus {
	for _, s := range h.agent.Status() {
		if s.Line == line {
			return s
		}
	}
	h.t.Fatalf("no line %d", line)
	return device.LineStatus{}
}

// within reports whether got (mL×10) is within pct percent of want (mL).
func within(got flow.Vol, wantML, pct float64) bool {
	return math.Abs(float64(got)/10-wantML) <= wantML*pct/100
}

var price = flow.Price{Minor: 650, PerVol: flow.ML(500)}
