package diagcmd

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/firmware"
)

// NewUpdater builds the agent's one firmware updater from the
// configuration, for MQTT's firmware.update and the server's update
// notification alike; the outbox is waited for only when there is a server
// to flush it to.
func NewUpdater(p Parts) (*firmware.Updater, error) {
	f := p.Config.Firmware
	var key ed25519.PublicKey
	if f.PublicKey != "" {
		k, err := firmware.ParsePublicKey(f.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("firmware.public_key: %w", err)
		}
		key = k
	}
	o := firmware.Options{Installer: f.Installer, DrainTimeout: f.DrainTimeout.Duration, PublicKey: key,
		FlushTimeout: f.FlushTimeout.Duration, InstallTimeout: f.InstallTimeout.Duration, Agent: p.Agent,
		Dir: p.Config.Device.DataDir, AllowFileURLs: f.AllowFileURLs,
		Report: FirmwareReport(func(ev device.Event) { p.Agent.Report(ev) })}
	if p.Uplink != nil {
		o.Outbox = p.Store.OutboxLen
	}
	return firmware.New(o), nil
}

// FirmwareReport turns the stages of a firmware update into agent events,
// for the updater and for the hand-off result reported at start.
func FirmwareReport(report func(device.Event)) func(firmware.Stage, string) {
	return func(s firmware.Stage, detail string) { report(device.Event{Type: firmwareEvent(s), Detail: detail}) }
}

// firmwareEvent is the event type of an update stage.
func firmwareEvent(s firmware.Stage) device.EventType {
	switch s {
	case firmware.StageInstalled:
		return device.EventFirmwareInstalled
	case firmware.StageFailed:
		return device.EventFirmwareFailed
	}
	return device.EventFirmwareProgress
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
		case errors.Is(err, firmware.ErrNoKey), errors.Is(err, firmware.ErrSignature), errors.Is(err, firmware.ErrFileURL):
			return 403, err.Error()
		case errors.Is(err, firmware.ErrRunning):
			return 409, err.Error()
		case err != nil:
			return 400, err.Error()
		}
		return 202, map[string]string{"version": r.Version, "state": "started; watch the firmware_progress events"}
	}
}
