package simwall

import (
	"fmt"

	"github.com/tapagent/tapagent/agent/clientcontrol"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/sysinfo"
)

// startControl serves the client-control calls and, with the embedded TTG
// server, tells it where this device listens and the token it requires;
// notified runs on the server's firmware update notification.
func startControl(cfg *config.Config, agent *device.Agent, up *serversync.Uplink, notified func()) (*clientcontrol.Server, error) {
	access, err := clientcontrol.AccessFrom(cfg.Control)
	if err != nil {
		return nil, err
	}
	zone, err := cfg.TTG.Location()
	if err != nil {
		return nil, fmt.Errorf("ttg.time_zone: %w", err)
	}
	o := clientcontrol.Options{Agent: agent, DeviceID: cfg.Device.ID, Sys: sysinfo.NewReader(cfg.Device.DataDir),
		FirmwareNotified: notified, Access: access, Zone: zone}
	if up != nil {
		o.Link, o.ServerToken = up.LinkState, up.Token
	}
	ctl, err := clientcontrol.Serve(cfg.Control.Listen, o)
	if err != nil {
		return nil, fmt.Errorf("client-control listener: %w", err)
	}
	if up != nil && up.Server != nil {
		if err := up.Server.RegisterClient(cfg.Device.ID, ctl.URL, cfg.Control.Token); err != nil {
			ctl.Close()
			return nil, err
		}
	}
	agent.Report(device.Event{Type: device.EventControlListening, Detail: ctl.URL})
	return ctl, nil
}
