package diagcmd

import (
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/firmware"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// Wall is what the diagnostics commands need of the tap wall: its status,
// the keg and line operations, the service mode's pours and calibrations, backlight, restart,
// events, and what a firmware update drains and waits for.
// *device.Agent is one.
type Wall interface {
	firmware.Agent
	Status() []device.LineStatus
	Lines() []int
	Authorise(line int, r device.Request) (string, error)
	Stop(line int) error
	Calibrate(by device.Actor, line int, pulses int64, measured flow.Vol) (storage.Calibration, error)
	// The keg and line operations (docs/operations.md).
	ChangeKeg(by device.Actor, c device.KegChange) error
	AdjustKeg(by device.Actor, line int, remaining flow.Vol) error
	MarkEmpty(by device.Actor, line int) error
	SetLocked(by device.Actor, line int, locked bool) error
	SetCleaning(by device.Actor, line int, on bool) error
	Kegs() []device.KegInfo
	SetBacklight(percent int) (int, error)
	Report(ev device.Event)
}
