package terminalsale

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// bucket holds the terminal's durable state: one vend entry per reader
// address (its key is the address in hex), and the cash sales the reader
// has not been told about yet (keys "cash/<record id>").
const bucket = "mdb_vends"

// Vend states, each written before the step that follows it.
const (
	// requested: VEND REQUEST is (being) sent; the reader may approve.
	requested = "requested"
	// approved: the reader approved; the valve opens next.
	approved = "approved"
	// booked: the pour is on disk (committed with this state); VEND SUCCESS
	// or FAILURE comes next.
	booked = "booked"
)

// Entry is a vend in the journal. Money is minor units.
type Entry struct {
	Vend     string   `json:"vend"`
	State    string   `json:"state"`
	Line     int      `json:"line"`
	Portion  flow.Vol `json:"portion_ml10"`
	Price    int64    `json:"price"`
	Approved int64    `json:"approved,omitempty"`
	// Reset is set when the reader was reset while the vend was open: the
	// sale stands whatever the pour does (§7.4.7).
	Reset bool `json:"reset,omitempty"`
	// RefundAsked is set before VEND FAILURE is first sent: if the agent
	// stops before the reader confirms the refund, the next start cannot
	// know whether the reader refunded before its reset, and says so
	// instead of booking the portion as a sale.
	RefundAsked bool `json:"refund_asked,omitempty"`
	// Exe marks a vend of a vending machine's selection (EXE behind a
	// bridge) rather than a line's portion; the item is kept here so a
	// restart books it as it was sold, whatever the configuration says by
	// then.
	Exe       bool   `json:"exe,omitempty"`
	Selection byte   `json:"selection,omitempty"`
	Product   string `json:"product,omitempty"`
	PLU       int    `json:"plu,omitempty"`
	// Set with the pour's booking.
	PourID   string   `json:"pour_id,omitempty"`
	Booked   int64    `json:"booked,omitempty"`
	Volume   flow.Vol `json:"volume_ml10,omitempty"`
	Complete bool     `json:"complete,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	At       int64    `json:"at"` // UTC epoch ms of the request
}

// auth is the authorisation an approved vend pours under.
func (e Entry) auth() flow.Auth {
	return flow.Auth{Mode: flow.ModePortion, PortionVol: e.Portion, PortionPrice: e.Approved, Prepaid: true}
}

// ExeItemBase is added to an EXE selection to make its MDB item number,
// so the reader's reports tell machine items (1000+) from lines.
const ExeItemBase = 1000

// item is the MDB item number of the vend.
func (e Entry) item() uint16 {
	if e.Exe {
		return ExeItemBase + uint16(e.Selection)
	}
	return uint16(e.Line)
}

// what names the vend for events.
func (e Entry) what() string {
	if e.Exe {
		return fmt.Sprintf("selection %d (%s)", e.Selection, e.Product)
	}
	return fmt.Sprintf("line %d", e.Line)
}

// Settle is the journal's part of a booking (device Options.Settle): a
// pour of a vend moves the vend to "booked" in the same commit, a payment
// booked for a vend closes it, and a sale paid in cash is queued for the
// reader's CASH SALE. Booking and journal can therefore never disagree,
// whatever crashes when.
func Settle(r storage.Record) []storage.Change {
	if id := r.Ref.Vend; id != "" {
		key, _, _ := strings.Cut(id, "-")
		return []storage.Change{{Bucket: bucket, Apply: func(b storage.Bucket) error { return settleVend(b, key, id, r) }}}
	}
	if cash(r) {
		raw, err := json.Marshal(cashSale{Line: r.Line, Amount: r.Pour.Amount})
		if err != nil {
			return nil
		}
		return []storage.Change{{Bucket: bucket, Apply: func(b storage.Bucket) error {
			return b.Put([]byte(cashPrefix+r.ID), raw)
		}}}
	}
	return nil
}

func settleVend(b storage.Bucket, key, id string, r storage.Record) error {
	e, ok, err := decode(b.Get([]byte(key)))
	if err != nil || !ok || e.Vend != id {
		return err // a vend closed already (a retried booking): nothing to do
	}
	if r.Pour.Reason == flow.ReasonPayment {
		return b.Delete([]byte(key))
	}
	p := r.Pour
	e.State, e.PourID, e.Booked, e.Volume, e.Complete, e.Reason = booked, r.ID, p.Amount, p.Volume, p.Complete, string(p.Reason)
	return put(b, key, e)
}

// cash says whether a record is a sale paid in cash: an open pour or a
// cash register's credit (the same rule as the audit's CA counters).
func cash(r storage.Record) bool {
	if r.Kind != storage.KindPour || r.Pour.Amount <= 0 || r.Pour.Volume <= 0 {
		return false
	}
	ct := r.Ref.CardType
	return r.Ref.Reservation != "" || ct == "" || ct == "33"
}

const cashPrefix = "cash/"

type cashSale struct {
	Line   int   `json:"line"`
	Amount int64 `json:"amount"`
}

func decode(raw []byte) (Entry, bool, error) {
	if raw == nil {
		return Entry{}, false, nil
	}
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return Entry{}, false, fmt.Errorf("mdb journal: %w", err)
	}
	return e, true, nil
}

func put(b storage.Bucket, key string, e Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// journal is the reader's entry in the store.
type journal struct {
	st  *storage.Store
	key string
}

func (j journal) get() (Entry, bool, error) {
	var e Entry
	var ok bool
	err := j.st.View(bucket, func(b storage.Bucket) error {
		var err error
		e, ok, err = decode(b.Get([]byte(j.key)))
		return err
	})
	return e, ok, err
}

// start writes a new vend in state requested and returns it with its id.
func (j journal) start(e Entry) (Entry, error) {
	err := j.st.Update(bucket, func(b storage.Bucket) error {
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Vend, e.State = fmt.Sprintf("%s-%d", j.key, n), requested
		return put(b, j.key, e)
	})
	if err != nil {
		return e, fmt.Errorf("mdb journal: %w", err)
	}
	return e, nil
}

func (j journal) put(e Entry) error {
	if err := j.st.Update(bucket, func(b storage.Bucket) error { return put(b, j.key, e) }); err != nil {
		return fmt.Errorf("mdb journal: %w", err)
	}
	return nil
}

// mark changes the open vend in one transaction (a booking may be
// moving it at the same time).
func (j journal) mark(vend string, fn func(*Entry)) error {
	err := j.st.Update(bucket, func(b storage.Bucket) error {
		e, ok, err := decode(b.Get([]byte(j.key)))
		if err != nil || !ok || e.Vend != vend {
			return err
		}
		fn(&e)
		return put(b, j.key, e)
	})
	if err != nil {
		return fmt.Errorf("mdb journal: %w", err)
	}
	return nil
}

func (j journal) drop(vend string) error {
	err := j.st.Update(bucket, func(b storage.Bucket) error {
		e, ok, err := decode(b.Get([]byte(j.key)))
		if err != nil || !ok || e.Vend != vend {
			return err
		}
		return b.Delete([]byte(j.key))
	})
	if err != nil {
		return fmt.Errorf("mdb journal: %w", err)
	}
	return nil
}

// cashSales lists the queued cash sales by record id; one that does not
// decode comes back empty, to be dropped.
func (j journal) cashSales() (map[string]cashSale, error) {
	out := map[string]cashSale{}
	err := j.st.View(bucket, func(b storage.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			id, ok := strings.CutPrefix(string(k), cashPrefix)
			if !ok {
				return nil
			}
			var c cashSale
			if json.Unmarshal(v, &c) != nil {
				c = cashSale{}
			}
			out[id] = c
			return nil
		})
	})
	return out, err
}

func (j journal) dropCash(id string) error {
	return j.st.Update(bucket, func(b storage.Bucket) error { return b.Delete([]byte(cashPrefix + id)) })
}
