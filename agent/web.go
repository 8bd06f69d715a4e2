package agent

import (
	"context"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/web"
)

// startWeb serves the dashboard and /metrics ([web] listen).
func (a *Agent) startWeb(ctx context.Context) error {
	r := &a.run
	src := web.Sources{Reader: r.diag.Reader, Terminal: r.diag.Terminal, Machine: r.diag.Machine,
		Sys: sysinfo.NewReader(a.cfg.Device.DataDir), ClockSynced: r.diag.Synced}
	if r.up != nil {
		src.Link = r.up.LinkState
	}
	if d := r.mqtt; d != nil {
		src.Broker, src.BrokerURL = d.LinkError, a.cfg.MQTT.Broker
	}
	var wall web.Wall = r.dev
	if a.o.Dashboard != nil {
		wall = a.o.Dashboard(r.dev)
	}
	deps := web.ForAgent(a.cfg, wall, r.store, src, a.clk.Now, a.o.Version, a.log)
	deps.ListenFallback = a.o.WebFallback
	if v := r.vouchers; v != nil {
		deps.Voucher = v.Scan
	}
	ws, err := web.Start(ctx, deps)
	if err != nil {
		return err
	}
	r.fan.add(ws.Observe)
	a.pushLink(PartWeb, func() { _ = ws.Close() })
	r.web = ws.URL
	r.dev.Report(device.Event{Type: device.EventWebListening, Detail: ws.URL})
	a.set(PartWeb, StateRunning)
	return nil
}

// WebURL is where the dashboard listens ("" when off).
func (a *Agent) WebURL() string { return a.run.web }
