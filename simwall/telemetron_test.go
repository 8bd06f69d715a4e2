package simwall_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
)

// TestTelemetronInTheSim: `tapagent sim --telemetron` feeds the Telemetron
// emulator: a data request for the report and then the configuration
// (merged while open) is fulfilled at the next delivery pass, and the
// closing summary says what arrived.
func TestTelemetronInTheSim(t *testing.T) {
	cfg, _ := config.Default()
	cfg.Device.DataDir = t.TempDir()
	sc, err := sim.ParseScenario([]byte(`
[[step]]
at = "1s"
action = "telemetron_request"
request = "report"
[[step]]
at = "1.5s"
action = "telemetron_request"
request = "config"
[[step]]
at = "2s"
line = 1
action = "authorise"
[[step]]
at = "2.5s"
line = 1
action = "pour"
flow_ml_s = 60
duration = "3s"
[[step]]
at = "9s"
line = 2
action = "change_keg"
[[step]]
at = "10s"
line = 2
action = "leak"
rate_ml_s = 5
duration = "6s"
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Out: &out, Output: simwall.OutputLines,
		NoTTG: true, Telemetron: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "scenario_error") || strings.Contains(out.String(), "scenario error") {
		t.Fatalf("scenario errors:\n%s", out.String())
	}
	if len(sum.Clouds) != 1 {
		t.Fatalf("clouds summary %q", sum.Clouds)
	}
	for _, want := range []string{"Telemetron emulator http://127.0.0.1:", "1 vend row,", "1 report,", "1 refill,", "1 inventory,",
		"the configuration snapshot"} {
		if !strings.Contains(sum.Clouds[0], want) {
			t.Errorf("summary %q lacks %q\n%s", sum.Clouds[0], want, out.String())
		}
	}
}

// TestTelemetronRequestNeedsTheEmulator: without --telemetron the step is a
// scenario error that says what is missing.
func TestTelemetronRequestNeedsTheEmulator(t *testing.T) {
	cfg, _ := config.Default()
	cfg.Device.DataDir = t.TempDir()
	sc, err := sim.ParseScenario([]byte("[[step]]\nat = \"1s\"\naction = \"telemetron_request\"\nrequest = \"report\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Out: &out, Output: simwall.OutputLines, NoTTG: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "needs --telemetron") {
		t.Fatalf("output:\n%s", out.String())
	}
}
