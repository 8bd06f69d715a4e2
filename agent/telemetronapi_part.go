package agent

import (
	"context"

	"github.com/tapagent/tapagent/agent/telemetronapi"
	"github.com/tapagent/tapagent/device"
)

// startTelemetronAPI serves the machine's own data through Telemetron's
// documented resources ([telemetron] listen); it stops with the sessions,
// before the wall shuts down (a report request writes to the audit).
func (a *Agent) startTelemetronAPI(ctx context.Context) error {
	r := &a.run
	o, err := telemetronapi.ForAgent(a.cfg, r.dev, r.store, r.audit, a.o.Version, a.clk.Now, a.log)
	if err != nil {
		return err
	}
	srv, err := telemetronapi.Start(ctx, o)
	if err != nil {
		return err
	}
	a.pushSession(PartTelemetronAPI, func() { _ = srv.Close() })
	r.telemetronAPI = srv.URL
	r.dev.Report(device.Event{Type: device.EventTelemetronAPIListening, Detail: srv.URL})
	a.set(PartTelemetronAPI, StateRunning)
	return nil
}

// TelemetronAPIURL is where the machine's Telemetron API listens ("" when off).
func (a *Agent) TelemetronAPIURL() string { return a.run.telemetronAPI }
