package device

import (
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// withHistory is a booking's extra work plus its history entry, so the
// history row commits with the record it describes.
func (a *Agent) withHistory(r storage.Record) []storage.Change {
	also := a.settle(r)
	out := make([]storage.Change, 0, len(also)+1)
	out = append(out, also...)
	e := history.FromRecord(r, a.hashCard(history.CardOf(r)))
	if r.EndedAt == 0 {
		e.Time = a.clk.Now().UTC()
	}
	return append(out, history.Change(e))
}

// hashCard is cardHash for a card named as text (a decimal UID or a hex
// DESFire UID); "" stays "".
func (a *Agent) hashCard(uid string) string { return history.CardHash(a.salt, uid) }

// CardHash is how history, events and logs name the card with this UID
// (decimal, as the server knows it, or hex for a DESFire card): a query by
// card takes this.
func (a *Agent) CardHash(uid string) string { return a.hashCard(uid) }

// historyAlarm keeps an alarm in the history without holding up the line:
// alarms are raised on the pour path, so the write is asynchronous and a
// failure is logged.
func (a *Agent) historyAlarm(l *line, al flow.Alarm) {
	e := history.Entry{Time: a.clk.Now().UTC(), Kind: history.KindAlarm, Line: l.id, Product: l.productName(),
		PLU: l.plu(), Payment: history.PayNone, Reason: al.Kind, Detail: al.Detail}
	if !al.Active {
		e.Detail = "cleared: " + al.Detail
	}
	a.store.UpdateAsync(history.Bucket, func(b storage.Bucket) error { return history.Put(b, e) }, func(err error) {
		if err != nil {
			a.log.Warn("history: alarm not kept", "line", l.id, "alarm", al.Kind, "err", err)
		}
	})
}
