package diaglink

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/internal/firmware"
)

// newUpdater builds the firmware updater from the configuration; the
// outbox is waited for only when there is a server to flush it to.
func newUpdater(p Parts) *firmware.Updater {
	f := p.Config.Firmware
	o := firmware.Options{Installer: f.Installer, DrainTimeout: f.DrainTimeout.Duration,
		FlushTimeout: f.FlushTimeout.Duration, InstallTimeout: f.InstallTimeout.Duration, Agent: p.Agent,
		Dir:    p.Config.Device.DataDir,
		Report: func(typ, detail string) { p.Agent.Report(device.Event{Type: typ, Detail: detail}) }}
	if p.Uplink != nil {
		o.Outbox = p.Store.OutboxLen
	}
	return firmware.New(o)
}

// updateCommand is firmware.update {"url", "sha256", "version"}: 202 once
// the update has started; its progress follows as events.
func updateCommand(ctx context.Context, u *firmware.Updater) diag.Handler {
	return func(_ context.Context, raw json.RawMessage) (int, any) {
		var r firmware.Request
		if err := json.Unmarshal(raw, &r); err != nil {
			return 400, `params must be {"url": ..., "sha256": ..., "version": ...}`
		}
		// The update outlives the command: it runs on the link's context.
		err := u.Start(ctx, r, nil)
		switch {
		case errors.Is(err, firmware.ErrDisabled):
			return 501, err.Error()
		case errors.Is(err, firmware.ErrRunning):
			return 409, err.Error()
		case err != nil:
			return 400, err.Error()
		}
		return 202, map[string]string{"version": r.Version, "state": "started; watch the firmware_progress events"}
	}
}
