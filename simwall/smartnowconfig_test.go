package simwall_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
)

// TestSmartNowCommandScenario: with --smartnow the agent applies the
// seeded machine configuration, runs the seeded report command and a
// lock the scenario queues, once each.
func TestSmartNowCommandScenario(t *testing.T) {
	sc, err := sim.ParseScenario([]byte(`duration = "4s"
[[step]]
at = "500ms"
action = "smartnow_command"
command = "lock"
params = [2]
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.SmartNow.CommandPoll.Duration = time.Second
	sum, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Out: io.Discard, NoTTG: true, Speed: 1,
		SmartNow: true, Output: simwall.OutputJSON})
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[device.EventType]int{device.EventSmartNowConfigApplied: 1, device.EventSmartNowConfigIgnored: 1,
		device.EventSmartNowCommand: 2, device.EventMachineState: 1, device.EventLineLocked: 1} {
		if got := sum.Events[typ]; got != want {
			t.Errorf("%d %s events, want %d (all: %v)", got, typ, want, sum.Events)
		}
	}
}

// TestSmartNowCommandStepChecked: a step without a command is refused
// when the scenario is read.
func TestSmartNowCommandStepChecked(t *testing.T) {
	if _, err := sim.ParseScenario([]byte("[[step]]\nat = \"1s\"\naction = \"smartnow_command\"\n")); err == nil {
		t.Error("a smartnow_command without a command was accepted")
	}
}

// TestSmartNowPricesStartNoEmbeddedTTG: a configuration whose SmartNow
// assortment prices the lines ([smartnow] prices) runs without the
// embedded TTG server: one price authority, as Validate demands of ttg.url.
func TestSmartNowPricesStartNoEmbeddedTTG(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.SmartNow.Prices = true
	sum, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Duration: time.Second, Out: io.Discard, Speed: 0,
		SmartNow: true, Output: simwall.OutputJSON})
	if err != nil {
		t.Fatal(err)
	}
	if sum.TTG != "" || sum.Events[device.EventTTGLinkUp] != 0 || sum.Events[device.EventTTGConfig] != 0 {
		t.Fatalf("TTG %q, events %v: want no TTG server beside SmartNow's prices", sum.TTG, sum.Events)
	}
}
