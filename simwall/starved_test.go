package simwall_test

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
)

// TestStarvedCPUStaysReadable: on one starved core (GOMAXPROCS=1 and a
// goroutine that never waits) the simulated reader, terminal and machine
// miss their timing, yet the readable output shows at most three faults
// of a kind per 10 s window plus a line counting the rest, so real
// events are not pushed out.
func TestStarvedCPUStaysReadable(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		for n := 0; ctx.Err() == nil; n++ {
			_ = n * n // busy: never blocks, only preempted
		}
	}()
	cfg, _ := config.Default()
	cfg.Device.DataDir = t.TempDir()
	sc, err := sim.LoadScenario("cards")
	if err != nil {
		t.Fatal(err)
	}
	var out, logs bytes.Buffer
	if _, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Duration: 12 * time.Second,
		Speed: 1, Out: &out, Output: simwall.OutputLines, NoTTG: true, Log: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	faults := map[string]int{}
	for _, l := range strings.Split(out.String(), "\n") {
		for _, kind := range []string{"reader fault", "mdb fault", "exe fault"} {
			if strings.Contains(l, " "+kind+":") {
				faults[kind]++
			}
		}
	}
	for kind, n := range faults {
		if n > 2*3 { // two 10 s windows at most in 12 s
			t.Errorf("%d %s lines shown:\n%s", n, kind, out.String())
		}
	}
	if !strings.Contains(out.String(), "card read") {
		t.Errorf("no card read among the events:\n%s", out.String())
	}
	t.Logf("faults shown: %v", faults)
}

// TestSpeedZeroWithCardsWarns: a scenario that puts cards on the reader
// cannot run flat out; --speed 0 says so and runs at speed 1, and the
// guest's card still pours.
func TestSpeedZeroWithCardsWarns(t *testing.T) {
	cfg, _ := config.Default()
	cfg.Device.DataDir = t.TempDir()
	sc, err := sim.LoadScenario("cards")
	if err != nil {
		t.Fatal(err)
	}
	var out, logs bytes.Buffer
	sum, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Duration: 10 * time.Second,
		Speed: 0, Out: &out, Output: simwall.OutputLines, NoTTG: true, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "running at speed 1 instead of flat out") {
		t.Errorf("no warning:\n%s", logs.String())
	}
	if sum.Events["pour_booked"] == 0 {
		t.Errorf("no pour booked at --speed 0:\n%s", out.String())
	}
}
