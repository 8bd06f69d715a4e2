package telemetronapi

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/telemetron"
)

// The documents are the uplink's (package telemetron): the API and the
// Telemetron sink show one mapping. What is here only reads the agent's
// stores into the shapes that mapping takes.

// recordOf is a history entry as the record it was booked from, in the
// fields the vend mapping reads: the history keeps how a sale was paid
// (Entry.Payment), not the payment references, so each way of paying
// gets a reference of its kind.
func recordOf(e history.Entry) storage.Record {
	r := storage.Record{ID: e.ID, Kind: e.Kind, Line: e.Line, Product: e.Product, PLU: e.PLU, EndedAt: e.Time.UnixMilli(),
		Pour: flow.Result{Volume: e.Volume, Amount: e.Amount, Reason: flow.Reason(e.Reason), Complete: e.Kind == history.KindVend && e.Reason == string(flow.ReasonVended)}}
	_ = r.Pour.Auth.Mode.UnmarshalText([]byte(e.Mode)) // an unknown mode reads as none
	switch e.Payment {
	case history.PayTerminal:
		r.Ref.Vend = e.ID
	case history.PayRegister:
		r.Ref.Reservation = e.ID
	case history.PayCard, history.PayRemote:
		r.Ref.CardKey = e.Card
		if r.Ref.CardKey == "" {
			r.Ref.CardKey = "card"
		}
	}
	return r
}

// sale is one vend row with its time, for filtering.
type sale struct {
	at time.Time
	telemetron.Sale
}

// eventOfAlarm is a history alarm as the agent event it was kept from.
func eventOfAlarm(e history.Entry) device.Event {
	cleared := strings.HasPrefix(e.Detail, "cleared: ")
	ev := device.Event{Time: e.Time, Type: device.EventAlarm, Line: e.Line,
		Alarm: &flow.Alarm{Kind: e.Reason, Active: !cleared, Detail: strings.TrimPrefix(e.Detail, "cleared: ")}}
	if cleared {
		ev.Type = device.EventAlarmCleared
	}
	return ev
}

// decodeLogged reads an entry of the durable event log; false for one
// that does not decode (it will never read differently, so it is skipped).
func decodeLogged(e storage.LoggedEvent) (device.Event, bool) {
	var ev device.Event
	return ev, json.Unmarshal(e.Raw, &ev) == nil
}

// wallOf is the wall as the state mapping reads it.
func wallOf(kegs []device.KegInfo, lastSale time.Time) telemetron.Wall {
	w := telemetron.Wall{Kegs: map[int]flow.Keg{}, Locked: map[int]bool{}, LastSale: lastSale}
	for _, k := range kegs {
		w.Lines = append(w.Lines, k.Line)
		w.Kegs[k.Line] = k.Keg
		w.Locked[k.Line] = k.Locked || k.Disabled != ""
	}
	return w
}

// kegMap is the kegs by line, as the load levels are made of them.
func kegMap(kegs []device.KegInfo) map[int]flow.Keg {
	m := make(map[int]flow.Keg, len(kegs))
	for _, k := range kegs {
		m[k.Line] = k.Keg
	}
	return m
}
