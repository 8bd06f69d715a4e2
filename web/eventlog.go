package web

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/ttg"
)

// EventLog reads the agent's durable event log ([storage] max_events
// long) as a pour history: every pour_booked event it still holds. It is
// the dashboard's history where no history store is wired in; payment
// types are not in events, so its rows say "unknown".
type EventLog struct {
	// Events returns up to n most recent events, oldest first
	// (storage.Store.Events).
	Events func(n int) ([][]byte, error)
	// Max is how many events to read.
	Max int
	// Product names a line's product where the event does not.
	Product func(line int) string
}

// Pours implements History.
func (l EventLog) Pours(q PourQuery) ([]PourRow, error) {
	raw, err := l.Events(l.Max)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxRows {
		limit = MaxRows
	}
	var out []PourRow
	for _, b := range slices.Backward(raw) {
		var ev device.Event
		if json.Unmarshal(b, &ev) != nil || ev.Type != device.EvBooked {
			continue
		}
		row := PourRow{Seq: ev.Seq, At: ev.Time, Line: ev.Line, Mode: ev.Mode, Payment: "unknown",
			Volume: ev.Volume, Amount: ev.Amount, Reason: ev.Reason, Recovered: ev.Recovered}
		if l.Product != nil {
			row.Product = l.Product(ev.Line)
		}
		if !q.match(row) {
			continue
		}
		out = append(out, row)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// match applies the query's filters to a row.
func (q PourQuery) match(r PourRow) bool {
	switch {
	case !q.From.IsZero() && r.At.Before(q.From), !q.To.IsZero() && !r.At.Before(q.To):
		return false
	case q.Line != 0 && r.Line != q.Line, q.Product != "" && r.Product != q.Product, q.Payment != "" && r.Payment != q.Payment:
		return false
	}
	return true
}

// PaymentOf names how a booked record was paid, from its payment
// references: "terminal" (MDB card terminal), "card" (a DESFire card),
// "online_card" (a card looked up on the TTG server), "waiter" (a cash
// register's credit), else "staff" (a pour authorised at the wall).
func PaymentOf(ref map[string]string) string {
	switch {
	case ref[terminalsale.RefVend] != "":
		return "terminal"
	case ref[cardpay.RefCardKey] != "":
		return "card"
	case ref[ttg.RefCardID] != "":
		return "online_card"
	case ref[cashregister.RefWaiter] != "" || ref[cashregister.RefReservation] != "":
		return "waiter"
	}
	return "staff"
}
