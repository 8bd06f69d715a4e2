// Package auditfeed feeds the agent's events into the EVA-DTS audit
// counters: alarms become EA1/EA2 events, starts become power-ups, a keg
// change clears the line's sold-out and low-level events.
package auditfeed

import (
	"log/slog"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/storage"
)

// Settle combines the work committed with each booking: audit counters,
// the cash register's debits (register may be nil) and any more, such as
// the MDB terminal's vend journal.
func Settle(a *evadts.Audit, register *cashregister.Register, more ...func(storage.Record) []storage.Change) func(storage.Record) []storage.Change {
	return func(r storage.Record) []storage.Change {
		cs := a.Settle(r)
		if register != nil {
			cs = append(cs, register.Settle(r)...)
		}
		for _, f := range more {
			cs = append(cs, f(r)...)
		}
		return cs
	}
}

// Events returns an event sink that updates the audit and then passes the
// event on. It never blocks: the counters are written behind.
func Events(a *evadts.Audit, next func(device.Event), log *slog.Logger) func(device.Event) {
	done := func(err error) {
		if err != nil && log != nil {
			log.Warn("audit event not recorded", "err", err)
		}
	}
	return func(ev device.Event) {
		switch ev.Type {
		case device.EventAlarm, device.EventAlarmCleared:
			if ev.Alarm != nil {
				if id := evadts.EventID(ev.Alarm.Kind, ev.Line); id != "" {
					a.Event(id, ev.Alarm.Active, done)
				}
			}
		case device.EventKegLow:
			a.Event(evadts.EventID(string(device.EventKegLow), ev.Line), true, done)
		case device.EventKegChanged:
			a.Event(evadts.EventID(string(device.EventKegEmpty), ev.Line), false, done)
			a.Event(evadts.EventID(string(device.EventKegLow), ev.Line), false, done)
		case device.EventAgentStarted:
			a.Event(evadts.EventID("power_up", 0), true, done)
		}
		if next != nil {
			next(ev)
		}
	}
}
