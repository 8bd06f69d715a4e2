package simwall_test

import (
	"context"
	"fmt"
	"github.com/tapagent/tapagent/device"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

// TestSimulatedRegisterFormsAndReplays: the simulated register sends a
// credit both ways the cash interface allows (POST then PUT; one POST with
// its own ID) and re-sends each as after lost answers, at once and after
// the first pour from it; each credit still pours exactly its count.
func TestSimulatedRegisterFormsAndReplays(t *testing.T) {
	cases := []struct {
		name string
		// replayAfter of the Pils credit (at 1s; its first pour ends by
		// 9.5s) and of the Helles credit (at 1.5s; its pour ends by 14.5s).
		pils, helles string
	}{
		{"at once", "0s", "0s"},
		{"after the first pour", "9.5s", "14s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			registerScenario(t, fmt.Sprintf(`
name = "register"
duration = "40s"
[[step]]
at = "1s"
line = 2
action = "credit"
waiter = 3
plu = 102
count = 2
form = "post"
replay = 2
replay_after = %q
[[step]]
at = "1.5s"
line = 1
action = "credit"
waiter = 5
plu = 101
count = 1
replay = 2
replay_after = %q
`, c.pils, c.helles)+pour(2, 3, "3s", true)+pour(2, 3, "12s", true)+pour(2, 3, "21s", false)+
				pour(1, 5, "4s", true)+pour(1, 5, "30s", false))
		})
	}
}

// registerScenario runs a scenario whose third Pils and second Helles have
// no credit left: two scenario errors, three debits, no credit left over.
func registerScenario(t *testing.T, toml string) {
	t.Helper()
	sc, err := sim.ParseScenario([]byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	sum, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Out: io.Discard, NoTTG: true,
		Start: time.Date(2026, 11, 20, 19, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if n := sum.Events[device.EventScenarioError]; n != 2 {
		t.Fatalf("%d scenario errors, want 2 (the third Pils and the second Helles have no credit): %v", n, sum.Events)
	}
	st, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := cashregister.NewRegister(st, cashregister.ArticlesFrom(cfg.POS, cfg.LineForPLU), nil)
	ds, err := reg.Debits()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := reg.Credits()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 || len(cs) != 0 {
		t.Fatalf("%d debits (want 3), credits left %+v", len(ds), cs)
	}
}

// pour is a waiter's staff card on the line at a time, and with flows a
// pour right after it.
func pour(line, waiter int, at string, flows bool) string {
	out := fmt.Sprintf("[[step]]\nat = %q\nline = %d\naction = \"waiter\"\nwaiter = %d\n", at, line, waiter)
	if d, _ := time.ParseDuration(at); flows {
		out += fmt.Sprintf("[[step]]\nat = %q\nline = %d\naction = \"pour\"\nflow_ml_s = 50\nduration = \"8s\"\n", (d + 300*time.Millisecond).String(), line)
	}
	return out
}
