package cardpay

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/storage"
)

// Decision is how staff settle a card's journal entry.
type Decision string

// Staff decisions (tapagent card settle).
const (
	// DecidedPaid: the pour is paid (the card was charged, or staff took
	// the money otherwise); nothing more is collected.
	DecidedPaid Decision = "paid"
	// DecidedUnpaid: the pour stays unpaid (written off); nothing is
	// collected.
	DecidedUnpaid Decision = "unpaid"
	// DecidedCollect: the amount is owed, charged at the card's next tap.
	DecidedCollect Decision = "collect"
)

// ErrNoEntry is returned when the journal holds nothing for a card.
var ErrNoEntry = errors.New("the card journal holds no charge for this card")

// Journal returns the card journal entry of a card (UID in hex), if it
// holds a charge; one that only records pours booked at zero is none.
func Journal(st *storage.Store, uid string) (Entry, bool, error) {
	e, found, err := journal{st}.get(uid)
	if found && e.nothingDue() {
		return Entry{}, false, nil
	}
	return e, found, err
}

// CardHash names the card with this journal key (UID in hex) as the
// history and the other card events do: the salted hash of its decimal
// card id under order ([cards] uid_order); "" for a key that is no UID.
func CardHash(salt []byte, uid, order string) string {
	raw, err := hex.DecodeString(uid)
	if err != nil {
		return ""
	}
	dec, err := cardapp.UIDDecimal(raw, order)
	if err != nil {
		return ""
	}
	return history.CardHash(salt, dec)
}

// SettleByStaff resolves a card's journal entry as staff decided and logs
// the decision (who, when, what the entry was) in the event log, naming
// the card by its salted hash (order is [cards] uid_order), never its UID.
// The card pours again at its next tap, charged the amount first if d is
// DecidedCollect.
func SettleByStaff(st *storage.Store, uid, order string, d Decision, staff string, now time.Time) (Entry, error) {
	salt, err := st.Salt()
	if err != nil {
		return Entry{}, fmt.Errorf("settling card: %w", err)
	}
	j := journal{st}
	e, found, err := Journal(st, uid)
	switch {
	case err != nil:
		return e, err
	case !found:
		return e, ErrNoEntry
	}
	switch d {
	case DecidedPaid, DecidedUnpaid:
		err = j.drop(uid)
	case DecidedCollect:
		if e.Amount <= 0 && e.Servings <= 0 {
			return e, fmt.Errorf("the entry of pour %q has nothing to collect (state %s)", e.PourID, e.State)
		}
		owed := e
		owed.State, owed.Booked = stateOwed, false
		err = j.put(uid, owed)
	default:
		return e, fmt.Errorf("unknown decision %q (paid, unpaid or collect)", d)
	}
	if err != nil {
		return e, err
	}
	ev := device.Event{Type: device.EventCardChargeStaffSettled, Time: now.UTC(), PourID: e.PourID, Amount: e.Amount,
		Card:   CardHash(salt, uid, order),
		Detail: fmt.Sprintf("%s by %s: entry %s; credit before %d, servings before %d", d, staff, e.State, e.CreditBefore, e.ServingsBefore)}
	raw, err := json.Marshal(ev)
	if err != nil {
		return e, err
	}
	done := make(chan error, 1)
	st.AppendEvent(raw, func(err error) { done <- err })
	if err := <-done; err != nil {
		return e, fmt.Errorf("card journal settled, but its event not logged: %w", err)
	}
	return e, nil
}
