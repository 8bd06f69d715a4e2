package cardpay

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// journalBucket holds one entry per prepaid card with a charge not known
// to be on the card: written before the debit is sent, removed once the
// card's own counters show it (or it failed before the commit and was
// collected later).
const journalBucket = "card_debits"

// Charge states.
const (
	// stateSending: the debit may have reached the card; its credit and
	// servings counters decide at the next tap.
	stateSending = "sending"
	// stateOwed: nothing reached the card (pulled before the commit); the
	// amount is collected at the next tap.
	stateOwed = "owed"
)

// Entry is a charge in the journal.
type Entry struct {
	PourID string `json:"pour_id"`
	State  string `json:"state"`
	// Before are the card's counters when the charge was sent.
	CreditBefore   int64 `json:"credit_before"`
	ServingsBefore int64 `json:"servings_before"`
	// LastPourFile: the card had file 4 when the charge was sent. A card
	// upgraded since (tapagent card upgrade) is decided by its counters,
	// its new file 4 knowing nothing of the charge.
	LastPourFile bool `json:"last_pour_file,omitempty"`
	// ChargesBefore is the charge count in file 4 (cards with it).
	ChargesBefore uint32 `json:"charges_before,omitempty"`
	Amount        int64  `json:"amount"`
	Servings      int64  `json:"servings"`
	At            int64  `json:"at"` // UTC epoch ms
	// Booked: the pour's booking wrote the entry (Settle), and no tap has
	// seen it since; the next start reports it.
	Booked bool `json:"booked,omitempty"`
	// Pours are the card's pours booked since a tap last looked, also
	// those booked at zero: what the tap waiting for them learns of their
	// end by (Settle writes them in the booking's commit).
	Pours []Booked `json:"pours,omitempty"`
}

// Booked is a card's pour as its booking committed it.
type Booked struct {
	PourID  string   `json:"pour_id"`
	Volume  flow.Vol `json:"volume_ml10"`
	Charged flow.Vol `json:"charged_ml10"`
	Amount  int64    `json:"amount"`
}

// poured: something flowed or costs something.
func (p Booked) poured() bool { return p.Volume > 0 || p.Amount > 0 }

// maxPours bounds the booked pours an entry keeps: a tap waits for one
// pour per served line, and the next tap start clears what no tap took.
const maxPours = 32

// nothingDue: the entry records bookings only, no charge.
func (e Entry) nothingDue() bool { return e.State == stateOwed && e.Amount == 0 && e.Servings == 0 }

// due is what a booked pour charges a card: its amount on a prepaid card,
// and one serving for every charge (file 4's rule relies on it).
func due(amount, charged int64, prepaid bool) (debit, servings int64) {
	if prepaid {
		debit = amount
	}
	if charged > 0 || debit > 0 {
		servings = 1
	}
	return debit, servings
}

// Settle is the card journal's part of a booking (device Options.Settle),
// and the one way a tap learns that its pour ended: the booking of a
// card's pour records it in the card's entry (Entry.Pours, also a pour
// booked at zero) in the same commit, and one that charges something
// makes it owed by the card, unless the entry holds a charge already. A
// tap woken after the commit (Tap.Booked) reads it there, charges the card
// and rewrites the entry; whatever stops the tap before (the agent
// stopping, a power loss and the pour recovered at the next start), the
// pour is collected at the card's next tap. The booking is committed
// before the tap reads it, so an entry the tap dropped is never written
// again, and no event lost on the way can leave a pour unseen.
func Settle(r storage.Record) []storage.Change {
	key := r.Ref.CardKey
	if key == "" {
		return nil
	}
	return []storage.Change{{Bucket: journalBucket, Apply: func(b storage.Bucket) error { return owe(b, key, r) }}}
}

func owe(b storage.Bucket, key string, r storage.Record) error {
	e := Entry{State: stateOwed, At: r.EndedAt, Booked: true}
	if raw := b.Get([]byte(key)); raw != nil {
		var held Entry
		if json.Unmarshal(raw, &held) != nil {
			return nil // never fail the booking over an entry staff must see
		}
		e = held
	}
	if e.Booked && e.nothingDue() && r.Pour.Auth.Mode != flow.ModeCleaning {
		// The first booking that charges something is owed; a charge the
		// entry holds (the tap's, or one staff must see first) is kept.
		prepaid := r.Ref.CardType == strconv.Itoa(ttg.CardPre)
		if amount, servings := due(r.Pour.Amount, int64(r.Pour.Charged), prepaid); amount != 0 || servings != 0 {
			e.PourID, e.Amount, e.Servings, e.At = r.ID, amount, servings, r.EndedAt
		}
	}
	e.Pours = append(e.Pours, Booked{PourID: r.ID, Volume: r.Pour.Volume, Charged: r.Pour.Charged, Amount: r.Pour.Amount})
	if n := len(e.Pours); n > maxPours {
		e.Pours = e.Pours[n-maxPours:]
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil // never fail the booking over the journal
	}
	return b.Put([]byte(key), raw)
}

// Outcome is what the card's counters say about a sent charge.
type Outcome int

// Outcomes of Resolve.
const (
	Committed Outcome = iota // both counters moved by exactly the charge
	NotCommitted
	Ambiguous // the counters moved otherwise (a top-up in between?): staff decide
	// Assumed: the card cannot tell "charged, then topped up" from "not
	// charged, charged elsewhere, then topped up by more"; never charging
	// twice, it counts as charged and staff are told to check.
	Assumed
)

// Resolve compares a card's counters with a sent charge (cards without
// the last-pour file). Both were recorded before the charge was sent.
// Every charge, at any tap, counts one serving with its debit, and only a
// charger's top-up raises the credit, so with one serving more the credit
// tells whose charge that serving is; a debit with no serving means staff
// reset the servings counter (re-activation sets it to 0), which erases
// the serving that would tell:
//
//	servings +0, credit ≥ before      not charged (a top-up may have come)
//	servings +0, credit < before      a debit whose serving vanished: Ambiguous
//	servings +1, credit = before−amt  charged — or not, and one charge of the
//	                                  same amount elsewhere: the tap says
//	                                  Assumed when it is not the same session
//	servings +1, credit < before−amt  the +1 is a larger charge elsewhere
//	                                  (ours would leave before−amt or more
//	                                  without a top-up): not charged
//	servings +1, credit > before−amt  ours and a top-up, or another charge
//	                                  and a larger top-up: Assumed — also the
//	                                  common case of ours not committing and
//	                                  one smaller charge elsewhere with no
//	                                  top-up: unpaid, flagged
//	anything else                     Ambiguous (a reset, several charges)
//
// With servings-before 0 (a first pour, or after a re-activation) a reset
// since is invisible, so "+0 with the credit changed" and "+1 with the
// credit below before−amt" may be ours committed and reset: Ambiguous,
// never a second charge. A charge without a serving needs the credit to
// show exactly the charge or nothing.
func (e Entry) Resolve(credit, servings int64) Outcome {
	if e.Servings > 0 {
		after := e.CreditBefore - e.Amount
		fresh := e.ServingsBefore == 0
		switch {
		case servings == e.ServingsBefore:
			if credit < e.CreditBefore || fresh && credit != e.CreditBefore {
				return Ambiguous
			}
			return NotCommitted
		case servings != e.ServingsBefore+e.Servings:
			return Ambiguous
		case credit == after:
			return Committed
		case credit < after && fresh:
			return Ambiguous
		case credit < after:
			return NotCommitted
		}
		return Assumed
	}
	switch credit {
	case e.CreditBefore - e.Amount:
		return Committed
	case e.CreditBefore:
		return NotCommitted
	}
	return Ambiguous
}

// journal is the durable charge journal, keyed by card UID (hex).
type journal struct{ st *storage.Store }

func (j journal) get(uid string) (Entry, bool, error) {
	var e Entry
	var found bool
	err := j.st.View(journalBucket, func(b storage.Bucket) error {
		raw := b.Get([]byte(uid))
		if raw == nil {
			return nil
		}
		found = true
		return json.Unmarshal(raw, &e)
	})
	if err != nil {
		return e, false, fmt.Errorf("card journal: %w", err)
	}
	return e, found, nil
}

func (j journal) put(uid string, e Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := j.st.Update(journalBucket, func(b storage.Bucket) error { return b.Put([]byte(uid), raw) }); err != nil {
		return fmt.Errorf("card journal: %w", err)
	}
	return nil
}

// all returns every entry by card UID (a bad one is skipped).
func (j journal) all() (map[string]Entry, error) {
	out := map[string]Entry{}
	err := j.st.View(journalBucket, func(b storage.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			var e Entry
			if json.Unmarshal(v, &e) == nil {
				out[string(k)] = e
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("card journal: %w", err)
	}
	return out, nil
}

func (j journal) drop(uid string) error {
	if err := j.st.Update(journalBucket, func(b storage.Bucket) error { return b.Delete([]byte(uid)) }); err != nil {
		return fmt.Errorf("card journal: %w", err)
	}
	return nil
}

// booked returns the card's booked pours among ids (pour id → line).
func (j journal) booked(uid string, ids map[string]int) ([]Booked, error) {
	e, found, err := j.get(uid)
	if err != nil || !found {
		return nil, err
	}
	var out []Booked
	for _, p := range e.Pours {
		if _, ours := ids[p.PourID]; ours {
			out = append(out, p)
		}
	}
	return out, nil
}

// release forgets the booked pours among ids, and the entry with them when
// it holds no charge.
func (j journal) release(uid string, ids map[string]int) error {
	err := j.st.Update(journalBucket, func(b storage.Bucket) error {
		raw := b.Get([]byte(uid))
		var e Entry
		if raw == nil || json.Unmarshal(raw, &e) != nil {
			return nil
		}
		e.Pours = slices.DeleteFunc(e.Pours, func(p Booked) bool { _, ours := ids[p.PourID]; return ours })
		if e.nothingDue() && len(e.Pours) == 0 {
			return b.Delete([]byte(uid))
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put([]byte(uid), raw)
	})
	if err != nil {
		return fmt.Errorf("card journal: %w", err)
	}
	return nil
}
