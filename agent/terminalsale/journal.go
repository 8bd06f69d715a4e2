package terminalsale

import (
	"encoding/binary"
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
	// Voucher is the SmartNow voucher that pays the rest of the portion
	// (its type, and Original the portion's price before it): the card is
	// asked Price, the remainder.
	Voucher     string `json:"voucher,omitempty"`
	VoucherType string `json:"voucher_type,omitempty"`
	Original    int64  `json:"original,omitempty"`
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
		return []storage.Change{{Bucket: bucket, Apply: func(b storage.Bucket) error {
			return queueCash(b, cashSale{ID: r.ID, Line: r.Line, Amount: r.Pour.Amount}, MaxCashSales)
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

// The cash-sale queue: "cash/" + the bucket's next sequence (8 bytes, big
// endian) holds a cashSale, so the oldest is the first key and a poll
// reads only it; "cash#n" is the queue's length and "cash#dropped" the
// reports dropped at the bound and not yet announced. Both sort before
// "cash/", and no reader address (two hex digits) looks like them. Queues
// written by older agents ("cash/<record id>", the id in the key) are read
// too, after the new ones.
const (
	cashPrefix  = "cash/"
	cashCount   = "cash#n"
	cashDropped = "cash#dropped"
)

// MaxCashSales bounds the cash-sale queue. CASH SALE (MDB 4.2 §7.4.10)
// only informs the reader of a sale it took no part in, for its own audit:
// no money moves, the reader answers with a bare ACK, and the VMC's own
// accounting (the booked record in the outbox, the EVA-DTS CA counters)
// stays the record of the sale. The standard gives a VMC no way to merge
// sales (one command is one item at one price, and a merged price would
// overflow the 16-bit field of a level 1/2 reader), so at the bound the
// oldest report is dropped and counted (EventCashSalesDropped) rather than
// coalesced into a sale that never happened. A day of a busy four-line
// wall is about 6,000 pours; the reader drains one per idle poll (150 ms),
// so the bound is only reached while the reader has been away for hours.
const MaxCashSales = 2000

// cashSale is a sale paid in cash the reader has not been told about.
type cashSale struct {
	ID     string `json:"id,omitempty"` // the record's id (absent in old queues: the key has it)
	Line   int    `json:"line"`
	Amount int64  `json:"amount"`
}

// queueCash appends s to the queue in the booking's transaction, dropping
// the oldest beyond most.
func queueCash(b storage.Bucket, s cashSale, most uint64) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(binary.BigEndian.AppendUint64([]byte(cashPrefix), seq), raw); err != nil {
		return err
	}
	n := counter(b, cashCount) + 1
	for ; n > most; n-- {
		k, _ := b.First([]byte(cashPrefix))
		if k == nil {
			break
		}
		if err := b.Delete(append([]byte(nil), k...)); err != nil {
			return err
		}
		if err := putCounter(b, cashDropped, counter(b, cashDropped)+1); err != nil {
			return err
		}
	}
	return putCounter(b, cashCount, n)
}

func counter(b storage.Bucket, key string) uint64 {
	if v := b.Get([]byte(key)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putCounter(b storage.Bucket, key string, n uint64) error {
	return b.Put([]byte(key), binary.BigEndian.AppendUint64(nil, n))
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

// oldestCash is the oldest queued cash sale (ok false: none) with its key,
// and the count of reports dropped at the bound since the last look: one
// seek, whatever the queue's length. One that does not decode comes back
// with no amount, to be dropped.
func (j journal) oldestCash() (key []byte, s cashSale, ok bool, dropped uint64, err error) {
	err = j.st.View(bucket, func(b storage.Bucket) error {
		dropped = counter(b, cashDropped)
		k, v := b.First([]byte(cashPrefix))
		if k == nil {
			return nil
		}
		key, ok = append([]byte(nil), k...), true
		if json.Unmarshal(v, &s) != nil {
			s = cashSale{}
		}
		if s.ID == "" && len(k) != len(cashPrefix)+8 {
			s.ID = string(k[len(cashPrefix):])
		}
		return nil
	})
	return key, s, ok, dropped, err
}

// dropCashKey removes the queued sale under key (the one just reported),
// if the bound has not dropped it meanwhile.
func (j journal) dropCashKey(key []byte) error {
	return j.st.Update(bucket, func(b storage.Bucket) error {
		if b.Get(key) == nil {
			return nil
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		return putCounter(b, cashCount, max(counter(b, cashCount), 1)-1)
	})
}

// dropCash removes up to n of the oldest queued sales in one commit.
func (j journal) dropCash(n int) error {
	return j.st.Update(bucket, func(b storage.Bucket) error {
		left := counter(b, cashCount)
		for range n {
			k, _ := b.First([]byte(cashPrefix))
			if k == nil {
				left = 0
				break
			}
			if err := b.Delete(append([]byte(nil), k...)); err != nil {
				return err
			}
			left = max(left, 1) - 1
		}
		return putCounter(b, cashCount, left)
	})
}

// ackDropped clears the count of dropped reports once announced.
func (j journal) ackDropped(n uint64) error {
	return j.st.Update(bucket, func(b storage.Bucket) error {
		return putCounter(b, cashDropped, counter(b, cashDropped)-min(n, counter(b, cashDropped)))
	})
}

// recountCash sets the queue's length from its keys, once at start: a
// queue an older agent wrote has no count.
func (j journal) recountCash() error {
	return j.st.Update(bucket, func(b storage.Bucket) error {
		var n uint64
		err := b.ForEach(func(k, _ []byte) error {
			if strings.HasPrefix(string(k), cashPrefix) {
				n++
			}
			return nil
		})
		if err != nil {
			return err
		}
		return putCounter(b, cashCount, n)
	})
}
