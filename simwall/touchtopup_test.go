package simwall_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

// TestSimulatedTouchTopUp: `tapagent sim --touchtopup --scenario
// accounts` pours from both accounts, refuses what they cannot pay, and
// the till's collections lower the balances by what was poured.
func TestSimulatedTouchTopUp(t *testing.T) {
	sc, err := sim.LoadScenario("accounts")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	sum, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Out: io.Discard, NoTTG: true,
		TouchTopUp: true, Start: time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events[device.EventAccountReady] != 2 || sum.Events[device.EventAccountRefused] != 3 || sum.Events[device.EventScenarioError] != 0 {
		t.Fatalf("events %v", sum.Events)
	}
	if len(sum.Clouds) != 2 || !strings.HasSuffix(sum.Clouds[1], "8.00 EUR before, 0.00 EUR after") ||
		strings.HasSuffix(sum.Clouds[0], "15.00 EUR after") {
		t.Fatalf("summary %q", sum.Clouds)
	}
	st, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, err := cashregister.NewRegister(st, nil, nil).Debits()
	if err != nil || len(ds) != 0 {
		t.Fatalf("uncollected debits %+v, %v", ds, err)
	}
}

// TestOnlineCardOnATouchTopUpAccount: the scenario's online card, like the
// card reader's, goes through the assembly's card login: card 2001 is
// mapped to John's account, so TouchTopUp authorises it, not the TTG server.
func TestOnlineCardOnATouchTopUpAccount(t *testing.T) {
	sc, err := sim.ParseScenario([]byte(`
name = "online card on an account"
duration = "12s"
[[step]]
at = "1s"
line = 4
action = "card"
card_id = 2001
[[step]]
at = "1.5s"
line = 4
action = "pour"
flow_ml_s = 50
duration = "3s"
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	sum, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Out: io.Discard, TouchTopUp: true,
		Start: time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events[device.EventAccountReady] != 1 || sum.Events[device.EventCardLogin] != 0 || sum.Events[device.EventPourBooked] != 1 {
		t.Fatalf("events %v", sum.Events)
	}
	if strings.HasSuffix(sum.Clouds[0], "15.00 EUR after") {
		t.Fatalf("John's account was not debited: %q", sum.Clouds)
	}
}
