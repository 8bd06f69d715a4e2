package agent

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/tapagent/tapagent/device"
)

// fanout hands every event of the wall to each subscriber: the log or the
// simulator's view, the MQTT link, the card tap. Subscribers join while
// the wall runs (the link and the tap start after it is built); each must
// not block.
type fanout struct {
	subs atomic.Pointer[[]func(device.Event)]
}

func (f *fanout) add(sub func(device.Event)) {
	if sub == nil {
		return
	}
	for {
		old := f.subs.Load()
		var next []func(device.Event)
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, sub)
		if f.subs.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (f *fanout) emit(ev device.Event) {
	if subs := f.subs.Load(); subs != nil {
		for _, s := range *subs {
			s(ev)
		}
	}
}

// LogEvents writes the agent's events to the log: warnings for what needs
// a person, debug for checkpoints.
func LogEvents(log *slog.Logger) func(device.Event) {
	return func(ev device.Event) {
		lv := slog.LevelInfo
		switch ev.Type {
		case device.EvAlarm, device.EvStorageError, device.EvStorageMoved, device.EvValveFailedOff, device.EventMQTTRefused:
			lv = slog.LevelWarn
		case device.EvCheckpoint:
			lv = slog.LevelDebug
		}
		log.Log(context.Background(), lv, ev.Type, "line", ev.Line, "pour", ev.PourID, "reason", ev.Reason,
			"volume_ml10", int64(ev.Volume), "amount", ev.Amount, "detail", ev.Detail)
	}
}
