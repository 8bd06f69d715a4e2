package diagcmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/diagcmd"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

// bench is a simulated wall on virtual time with the service commands.
type bench struct {
	t     testing.TB
	wall  *simwall.Wall
	agent *device.Agent
	svc   *diagcmd.Service
	store *storage.Store
	cfg   *config.Config
	mu    sync.Mutex
	evs   []device.Event
}

func newBench(t testing.TB) *bench {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.Sim.Lines[0].AirBurstsPerMin = 0
	cfg.Sim.Lines[0].KTrue = 5600
	clk := clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))
	b := &bench{t: t}
	if b.wall, err = simwall.NewWall(cfg, clk); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b.store, b.cfg = st, cfg
	b.agent, err = device.New(device.Options{Config: cfg, Clock: clk, Store: st, Valves: b.wall.Valves,
		Meters: b.wall.Meters, Emit: func(ev device.Event) {
			b.svc.Observe(ev)
			b.mu.Lock()
			b.evs = append(b.evs, ev)
			b.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	b.svc = diagcmd.NewService(b.agent)
	if err := b.agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.agent.Close() })
	return b
}

func (b *bench) run(d time.Duration) {
	for end := time.Duration(0); end < d; end += 10 * time.Millisecond {
		b.wall.Board.Advance(10 * time.Millisecond)
		b.agent.Tick()
	}
}

func (b *bench) call(h func(context.Context, json.RawMessage) (int, any), params string, want int) map[string]any {
	b.t.Helper()
	status, body := h(context.Background(), json.RawMessage(params))
	if status != want {
		b.t.Fatalf("%s: %d %v, want %d", params, status, body, want)
	}
	out, _ := body.(map[string]any)
	return out
}

func TestValveTestNeedsServiceMode(t *testing.T) {
	b := newBench(t)
	b.call(b.svc.ValveTest, `{"line": 2}`, 409)
	b.call(b.svc.ValveTest, `{"line": 9}`, 404)
	b.call(b.svc.ValveTest, `{"line": 2, "seconds": 60}`, 400)
	b.call(b.svc.ValveTest, `{"line": "two"}`, 400)
	if err := b.agent.SetLocked(device.Actor{Name: "test", Via: "cli"}, 2, true); err != nil {
		t.Fatal(err)
	}
	b.call(b.svc.ValveTest, `{"line": 2, "seconds": 2}`, 202)
	b.run(time.Second)
	if !b.wall.Board.Line(2).Truth().ValveOpen {
		t.Fatal("valve.test did not open the valve")
	}
	b.run(2 * time.Second)
	if b.wall.Board.Line(2).Truth().ValveOpen {
		t.Fatal("valve.test outlived its two seconds")
	}
}

func TestRemoteCalibration(t *testing.T) {
	b := newBench(t)
	b.call(b.svc.Calibrate, `{"line": 1, "action": "start"}`, 409) // not in service mode
	b.agent.SetLocked(device.Actor{Name: "test", Via: "cli"}, 1, true)
	started := b.call(b.svc.Calibrate, `{"line": 1, "action": "start"}`, 202)
	id := started["pour_id"].(string)
	b.call(b.svc.Calibrate, `{"line": 1, "action": "store", "pour_id": "`+id+`", "measured_ml10": 5000}`, 409) // not booked yet
	ln := b.wall.Board.Line(1)
	ln.Pour([]sim.Point{{T: 0, MLs: 60}, {T: 10 * time.Second, MLs: 60}, {T: 10*time.Second + time.Millisecond, MLs: 0}})
	b.run(11 * time.Second)
	b.call(b.svc.Calibrate, `{"line": 1, "action": "stop"}`, 200)
	b.run(time.Second)
	measured := int64(ln.Truth().DispensedML*10 + 0.5)
	p := func(extra string) string {
		return `{"line": 1, "action": "store", "pour_id": "` + id + `", "measured_ml10": ` + fmt.Sprint(measured) + extra + `}`
	}
	dry := b.call(b.svc.Calibrate, p(`, "dry_run": true`), 200)
	if dry["stored"] != false {
		t.Fatalf("dry run stored: %v", dry)
	}
	got := b.call(b.svc.Calibrate, p(""), 200)
	if got["stored"] != true || got["k_factor"] != dry["k_factor"] {
		t.Fatalf("store: %v (dry run %v)", got, dry)
	}
	k := b.svc.KMilli(1)
	if k < 5_580_000 || k > 5_620_000 {
		t.Fatalf("K %s, want about 5600", device.FormatK(k))
	}
	b.call(b.svc.Calibrate, `{"line": 1, "action": "store", "pour_id": "nope", "measured_ml10": 5000}`, 409)
	b.call(b.svc.Calibrate, `{"line": 1, "action": "dance"}`, 400)
}
