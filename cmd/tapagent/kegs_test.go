package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

// runningWall is an agent on the simulated wall, in virtual time, with its
// local API in a fresh data directory: what `tapagent run` looks like to
// the commands.
type runningWall struct {
	dir   string
	wall  *simwall.Wall
	agent *device.Agent
	store *storage.Store
	stop  func()
}

func newRunningWall(t *testing.T) *runningWall {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	for i := range cfg.Sim.Lines {
		cfg.Sim.Lines[i].AirBurstsPerMin = 0
	}
	clk := clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))
	w := &runningWall{dir: cfg.Device.DataDir}
	if w.wall, err = simwall.NewWall(cfg, clk); err != nil {
		t.Fatal(err)
	}
	if w.store, err = storage.Open(filepath.Join(w.dir, "tapagent.db"), storage.Options{}); err != nil {
		t.Fatal(err)
	}
	if w.agent, err = device.New(device.Options{Config: cfg, Clock: clk, Store: w.store, Valves: w.wall.Valves, Meters: w.wall.Meters}); err != nil {
		t.Fatal(err)
	}
	if err := w.agent.Start(); err != nil {
		t.Fatal(err)
	}
	if w.stop, err = localapi.Start(context.Background(), localapi.Options{Path: localapi.SocketPath(w.dir), Agent: w.agent, Store: w.store,
		Audit: evadts.NewAudit(w.store, clk.Now), Identity: evadts.IdentityFrom(cfg, "test"), Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.shutdown)
	return w
}

func (w *runningWall) shutdown() {
	if w.stop != nil {
		w.stop()
		w.agent.Close()
		w.store.Close()
		w.stop = nil
	}
}

// portion pours a 300 mL portion on line: a volume the meter reaches exactly.
func (w *runningWall) portion(t *testing.T, line int, price int64) {
	t.Helper()
	if _, err := w.agent.Authorise(line, device.Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: flow.ML(300), PortionPrice: price}}); err != nil {
		t.Fatal(err)
	}
	w.wall.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: 50}, {T: 20 * time.Second, MLs: 50}, {T: 20*time.Second + time.Millisecond, MLs: 0}})
	w.run(20 * time.Second)
}

func (w *runningWall) run(d time.Duration) {
	for end := time.Duration(0); end < d; end += 10 * time.Millisecond {
		w.wall.Board.Advance(10 * time.Millisecond)
		w.agent.Tick()
	}
}

// tapagent runs the command line and returns its exit code and output.
func tapagent(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestKegAndPourCommands(t *testing.T) {
	w := newRunningWall(t)
	data := []string{"--sim", "--data", w.dir}
	code, out, errs := tapagent(append([]string{"keg", "change", "--line", "3", "--size", "30L", "--keg-id", "K-1",
		"--tapped", "2026-11-22T17:00:00Z"}, data...)...)
	if code != 0 || out != "line 3: Weizen, 30.00 L of 30.00 L left (100.0%)\n" {
		t.Fatalf("keg change: %d %q %s", code, out, errs)
	}
	w.portion(t, 1, 390)
	w.portion(t, 2, 450)
	w.portion(t, 2, 450)
	for _, c := range [][]string{
		{"keg", "adjust", "--line", "4", "--remaining", "12.5L"},
		{"line", "lock", "--line", "4"},
	} {
		if code, _, errs := tapagent(append(c, data...)...); code != 0 {
			t.Fatalf("%v: %d %s", c, code, errs)
		}
	}
	for _, g := range []struct {
		file string
		args []string
	}{
		{"kegs.golden", []string{"kegs", "--tz", "UTC"}},
		{"pours.golden", []string{"pours", "--tz", "UTC"}},
		{"pours-line2.golden", []string{"pours", "--tz", "UTC", "--line", "2"}},
		{"pours-operations.golden", []string{"pours", "--tz", "UTC", "--kind", "operation"}},
		{"totals-line.golden", []string{"pours", "--tz", "UTC", "--totals", "line"}},
		{"totals-day.golden", []string{"pours", "--tz", "UTC", "--totals", "day"}},
		{"pours.csv", []string{"pours", "--tz", "UTC", "--csv"}},
		{"totals-day.csv", []string{"pours", "--tz", "UTC", "--totals", "day", "--csv"}},
		{"kegs.json", []string{"kegs", "--json"}},
		// A date alone as --to includes that day: the same date twice is the day.
		{"totals-oneday.golden", []string{"pours", "--tz", "UTC", "--totals", "line", "--from", "2026-11-22", "--to", "2026-11-22"}},
	} {
		code, out, errs := tapagent(append(g.args, data...)...)
		if code != 0 {
			t.Fatalf("%v: %d %s", g.args, code, errs)
		}
		golden(t, g.file, scrubUser(out))
	}
	if code, out, errs := tapagent(append([]string{"pours", "--line", "1"}, data...)...); code != 0 || !strings.Contains(out, "\n1 entry, 0.30 L") {
		t.Fatalf("one pour: %d %q %s", code, out, errs)
	}
	// Refused: the line is pouring; no such line; a size with no unit.
	if _, err := w.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err != nil {
		t.Fatal(err)
	}
	w.wall.Board.Line(1).Pour([]sim.Point{{T: 0, MLs: 50}, {T: 20 * time.Second, MLs: 50}})
	w.run(time.Second)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"keg", "change", "--line", "1", "--size", "50L"}, 1, "the line is pouring"},
		{[]string{"keg", "empty", "--line", "7"}, 1, "no such line: 7"},
		{[]string{"keg", "change", "--line", "2", "--size", "50"}, 2, "needs a unit"},
		{[]string{"keg", "change", "--line", "2", "--size", "0.2L"}, 1, "keg size must be 1 L..2000 L, not 0.2 L"},
		{[]string{"keg", "change", "--line", "2", "--size", "5000L"}, 1, "keg size must be 1 L..2000 L, not 5000 L"},
		{[]string{"line", "clean"}, 2, "--line N is needed"},
		{[]string{"pours", "--payment", "cash"}, 2, `payment "cash": want one of none, free, card, remote, terminal, register`},
		{[]string{"pours", "--kind", "bogus"}, 2, `kind "bogus": want one of pour, vend,`},
		{[]string{"pours", "--kind", "all"}, 2, `kind "all": want one of`},
		{[]string{"pours", "--line", "9"}, 2, "--line 9 is not a configured line (lines: 1, 2, 3, 4)"},
		{[]string{"pours", "--from", "2026-11-22 12:00", "--to", "2026-11-22 12:00"}, 2, "ends (2026-11-22T12:00:00Z, exclusive) at or before its start"},
	} {
		code, _, errs := tapagent(append(c.args, data...)...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: %d %q, want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
	// With the agent stopped, kegs and pours read its database; operations refuse.
	w.shutdown()
	code, out, errs = tapagent(append([]string{"kegs", "--tz", "UTC"}, data...)...)
	if code != 0 || !strings.Contains(out, "K-1") || !strings.Contains(out, "agent stopped") {
		t.Fatalf("kegs, agent stopped: %d %s %s", code, out, errs)
	}
	code, out, _ = tapagent(append([]string{"pours", "--totals", "product"}, data...)...)
	if code != 0 || !strings.Contains(out, "all      4") {
		t.Fatalf("totals, agent stopped: %d\n%s", code, out)
	}
	if code, _, errs := tapagent(append([]string{"line", "unlock", "--line", "4"}, data...)...); code != 1 || !strings.Contains(errs, "running agent") {
		t.Fatalf("unlock, agent stopped: %d %s", code, errs)
	}
}

// scrubUser replaces the login name running the test in audit records.
func scrubUser(s string) string {
	return strings.ReplaceAll(s, cliActor("").Name+" (operator)", "USER (operator)")
}

func TestKegCommandsHelp(t *testing.T) {
	for _, args := range [][]string{{"keg", "-h"}, {"keg", "change", "-h"}, {"keg", "adjust", "--help"}, {"line", "clean", "-h"},
		{"line", "-h"}, {"kegs", "-h"}, {"pours", "-h"}} {
		code, out, _ := tapagent(args...)
		if code != 0 || !strings.HasPrefix(out, "Usage") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
}

// TestFieldCommandsAskTheRunningAgent: the commands that read the agent's
// data answer while it runs (its database is locked) through its local API.
func TestFieldCommandsAskTheRunningAgent(t *testing.T) {
	w := newRunningWall(t)
	w.portion(t, 1, 390)
	data := []string{"--data", w.dir}
	cfgPath := filepath.Join(t.TempDir(), "tapagent.toml")
	writeFile(t, cfgPath, fmt.Sprintf("[device]\ndata_dir = %q\n[cards]\nissuer_key = %q\ntap_key = %q\ncharger_key = %q\n[[line]]\nid = 1\n",
		w.dir, strings.Repeat("b0", 16), strings.Repeat("b1", 16), strings.Repeat("b2", 16)))
	const uid = "04a1b2c3d4e5f6"
	raw := `{"pour_id":"1001-17","state":"sending","credit_before":2000,"servings_before":3,"amount":392,"servings":1}`
	if err := w.store.Update("card_debits", func(b storage.Bucket) error { return b.Put([]byte(uid), []byte(raw)) }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ttg", "outbox", "--sim"}, 0, "1 record\n"},
		{[]string{"ttg", "deadletters", "--sim"}, 0, "0 dead letters"},
		{[]string{"dex", "report", "--sim"}, 0, "DXS*"},
		{[]string{"card", "settle", "--config", cfgPath, "--uid", "04ffff"}, 1, "the card journal holds no charge for this card"},
		{[]string{"card", "settle", "--config", cfgPath, "--uid", uid}, 0, "pour 1001-17, sending, amount 3.92 EUR"},
		{[]string{"card", "settle", "--config", cfgPath, "--uid", uid, "--collect", "--staff", "Anna"}, 0, "settled as collect by Anna"},
	} {
		code, out, errs := tapagent(append(c.args, data...)...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%v: %d %q %q, want %d and %q", c.args, code, out, errs, c.code, c.want)
		}
	}
}

// TestTotalsSayRowsAreRounded: rows rounded to the centilitre need not add
// up to the rounded exact total; the footer says so when they do not.
func TestTotalsSayRowsAreRounded(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		vols []flow.Vol
		note bool
	}{
		{[]flow.Vol{12100, 7992, 32200}, false}, // 1.21 + 0.80 + 3.22 = 5.23
		{[]flow.Vol{12140, 7940, 32240}, true},  // 1.21 + 0.79 + 3.22 = 5.22, exact 5.232
	} {
		var ts []history.Total
		for i, v := range c.vols {
			ts = append(ts, history.Total{Key: strconv.Itoa(i + 1), Pours: 1, Volume: v})
		}
		var b strings.Builder
		if err := printTotals(&b, ts, history.ByLine, cfg); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), "rounded"); got != c.note {
			t.Errorf("%v: note %v, want %v:\n%s", c.vols, got, c.note, b.String())
		}
	}
}
