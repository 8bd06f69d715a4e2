package simwall

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	tmemu "github.com/tapagent/tapagent/sim/telemetron"
	"github.com/tapagent/tapagent/telemetron"
)

// The emulator's default machine and credentials (sim/telemetron).
const (
	simTelemetronMachine = 123
	simTelemetronUser    = "tapagent@example.com"
	simTelemetronPass    = "tapagent"
	simTelemetronClient  = "tapagent"
	simTelemetronSecret  = "tapagent-secret"
)

// simTelemetron is the Telemetron emulator a simulated wall feeds, on
// loopback, and an operator's client of it for the scenario's requests.
type simTelemetron struct {
	srv      *tmemu.Server
	url      string
	stop     func()
	operator *telemetron.Client
}

// startTelemetron starts the emulator with one machine and points
// [telemetron] at it; nil when the run does not ask for it. The sim polls
// the data request every 2 s (the default minute is long to watch).
func startTelemetron(cfg *config.Config, on bool) (*simTelemetron, error) {
	if !on {
		return nil, nil
	}
	srv, err := tmemu.New(tmemu.Options{})
	if err != nil {
		return nil, err
	}
	url, stop, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("telemetron emulator: %w", err)
	}
	t := &cfg.Telemetron
	t.URL, t.AuthURL, t.MachineID = url+"/v2", url+"/auth/", simTelemetronMachine
	t.ClientID, t.ClientSecret, t.Username, t.Password = simTelemetronClient, simTelemetronSecret, simTelemetronUser, simTelemetronPass
	if t.RequestPoll.Duration == config.Base().Telemetron.RequestPoll.Duration {
		t.RequestPoll.Duration = 2 * time.Second
	}
	op := telemetron.NewClient(telemetron.Config{BaseURL: t.URL, AuthURL: t.AuthURL, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
		Username: t.Username, Password: t.Password, Timeout: 5 * time.Second})
	return &simTelemetron{srv: srv, url: url, stop: stop, operator: op}, nil
}

func (t *simTelemetron) close() {
	if t != nil {
		t.stop()
	}
}

// request posts a data request as Telemetron's operator would: what is
// "report" or "config".
func (t *simTelemetron) request(ctx context.Context, what string) error {
	if t == nil {
		return fmt.Errorf("telemetron_request needs --telemetron")
	}
	path := fmt.Sprintf("/vending_machines/%d/request", simTelemetronMachine)
	status, raw, err := t.operator.Call(ctx, http.MethodPost, path, nil, map[string]bool{what: true})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("telemetron request: HTTP %d: %s", status, telemetron.DecodeError(raw))
	}
	return nil
}

// summary says what arrived at the emulator.
func (t *simTelemetron) summary() string {
	if t == nil {
		return ""
	}
	got := t.srv.Received(simTelemetronMachine)
	cfg := "no configuration snapshot"
	if got.Config {
		cfg = "the configuration snapshot"
	}
	return fmt.Sprintf("Telemetron emulator %s: %s, %s, %s, %s, %s, %s", t.url, flow.Count(got.Events, "event", "events"),
		flow.Count(got.Sales, "vend row", "vend rows"), flow.Count(got.Reports, "report", "reports"),
		flow.Count(got.Refills, "refill", "refills"), flow.Count(got.Inventories, "inventory", "inventories"), cfg)
}
