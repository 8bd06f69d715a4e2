package smartnowsync_test

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/delivery"
	"github.com/tapagent/tapagent/agent/smartnowsync"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/walltest"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
)

// machineID and hostname are the emulator's machine for the wall.
const (
	machineID = 80
	hostname  = "tap-1"
)

// cloud is a SmartNow emulator on loopback with an operator's client.
type cloud struct {
	emu   *snemu.Server
	url   string
	admin *smartnow.Client
}

func newCloud(t testing.TB, products ...snemu.Product) *cloud {
	t.Helper()
	for i := range products {
		products[i].Machine = machineID
	}
	emu, err := snemu.New(snemu.Options{Machines: []snemu.Machine{{ID: machineID, Hostname: hostname, Location: 2}}, Products: products})
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return &cloud{emu: emu, url: url, admin: smartnow.NewClient(smartnow.Config{BaseURL: url, Username: "tapagent", Password: "tapagent"})}
}

// call is an operator's request to the cloud; it must succeed.
func (c *cloud) call(t testing.TB, method, path string, body any) {
	t.Helper()
	status, raw, err := c.admin.Call(context.Background(), method, path, body)
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s %s: %d %s %v", method, path, status, raw, err)
	}
}

func (c *cloud) setConfig(t testing.TB, text string) {
	c.call(t, http.MethodPut, "/machine/hostname/"+hostname+"/config", map[string]string{"config": text})
}

func (c *cloud) setHours(t testing.TB, hours []snemu.OpeningHour) {
	c.call(t, http.MethodPut, "/openinghours/machine/80", hours)
}

func (c *cloud) queue(t testing.TB, command string, params ...int64) {
	if params == nil {
		params = []int64{}
	}
	c.call(t, http.MethodPost, "/command/"+command+"/hostname/"+hostname, map[string]any{"params": params})
}

// command is the emulator's view of the command queued n-th (from 0).
func (c *cloud) command(t testing.TB, n int) snemu.Command {
	t.Helper()
	cmds := c.emu.Commands()
	if len(cmds) <= n {
		t.Fatalf("the emulator has %d commands, not %d", len(cmds), n+1)
	}
	return cmds[n]
}

// rig is the wall (real device on a simulated board, real bbolt file)
// with its SmartNow sync against the emulator.
type rig struct {
	t     testing.TB
	cloud *cloud
	cfg   *config.Config
	clk   *clock.Manual
	wall  *simwall.Wall
	store *storage.Store
	dev   *device.Agent
	sync  *smartnowsync.Sync
	ev    *walltest.Events
	// hook wraps the wall the sync sees (nil: the device itself).
	hook func(smartnowsync.Wall) smartnowsync.Wall
}

func testConfig(t testing.TB, url string) *config.Config {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.TTG.URL = ""
	cfg.TTG.TimeZone = "Europe/Amsterdam"
	for i := range cfg.Sim.Lines {
		cfg.Sim.Lines[i].AirBurstsPerMin = 0
	}
	s := &cfg.SmartNow
	s.URL, s.Username, s.Password, s.Hostname, s.MachineID = url, "tapagent", "tapagent", hostname, machineID
	s.Prices = true
	s.Timeout.Duration = 2 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newRig(t testing.TB, c *cloud, start time.Time, mutate func(*config.Config)) *rig {
	t.Helper()
	cfg := testConfig(t, c.url)
	if mutate != nil {
		mutate(cfg)
	}
	r := &rig{t: t, cloud: c, cfg: cfg, clk: clock.NewManual(start)}
	var err error
	if r.wall, err = simwall.NewWall(cfg, r.clk); err != nil {
		t.Fatal(err)
	}
	r.open()
	t.Cleanup(r.close)
	return r
}

// open opens the database and builds sync and wall as the assembly does:
// the sync first, its prices and hours read from bbolt.
func (r *rig) open() {
	t := r.t
	t.Helper()
	var err error
	r.store, err = storage.Open(filepath.Join(r.cfg.Device.DataDir, "tapagent.db"),
		storage.Options{Sinks: []string{storage.DefaultSink, smartnow.SinkName}})
	if err != nil {
		t.Fatal(err)
	}
	if r.sync, err = smartnowsync.New(smartnowsync.Options{Config: r.cfg, Store: r.store, Now: r.clk.Now,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}); err != nil {
		t.Fatal(err)
	}
	r.ev = &walltest.Events{}
	r.dev, err = device.New(device.Options{Config: r.cfg, Clock: r.clk, Store: r.store, Valves: r.wall.Valves, Meters: r.wall.Meters,
		Emit: r.ev.Add, Catalog: r.sync.Catalog(), Hours: r.sync.Hours()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Start(); err != nil {
		t.Fatal(err)
	}
}

// attach gives the sync its wall without starting its loops (the tests
// drive Refresh and PollCommands themselves).
func (r *rig) attach() {
	var w smartnowsync.Wall = r.dev
	if r.hook != nil {
		w = r.hook(w)
	}
	r.sync.Attach(w)
}

func (r *rig) close() {
	if r.dev != nil {
		_ = r.dev.Close()
		r.dev = nil
	}
	if r.store != nil {
		_ = r.store.Close()
		r.store = nil
	}
}

// restart closes the wall and the database and opens them again.
func (r *rig) restart() {
	r.close()
	r.open()
}

// at moves the wall's clock to t and ticks the wall.
func (r *rig) at(t time.Time) {
	r.clk.Set(t.Sub(r.clk.Now()) + r.clk.Mono())
	r.dev.Tick()
}

// pump delivers the event log (and outbox) to the emulator.
func (r *rig) pump() *delivery.Pump {
	view, err := r.store.Sink(smartnow.SinkName)
	if err != nil {
		r.t.Fatal(err)
	}
	c := smartnow.NewClient(smartnow.Config{BaseURL: r.cloud.url, Username: "tapagent", Password: "tapagent"})
	return delivery.NewPump(smartnow.NewSink(c, smartnow.Machine{Hostname: hostname, ID: machineID}), view, delivery.Options{})
}

// ctx is a context for one test.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// testWriter sends a log to the test's.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func splitOnce(s string) []string { return strings.SplitN(s, " ", 2) }

func newClock() *clock.Manual { return clock.NewManual(monday) }

func newWall(r *rig) (*simwall.Wall, error) { return simwall.NewWall(r.cfg, r.clk) }
