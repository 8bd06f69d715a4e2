package device

import (
	"fmt"
	"strconv"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// CashRegister hands out the credits a cash register posted for waiters.
// It is declared here, in the wall's own terms, so that the core never
// imports the cash-register interface (agent/cashregister adapts to it).
type CashRegister interface {
	Reserve(waiter int64, plu int) (WaiterCredit, error)
	Release(id string) error
}

// WaiterCredit is one count of a waiter's credit taken for a pour: the
// register's reservation (given back if the pour cannot start), the
// article's portion and its price in minor units.
type WaiterCredit struct {
	ID      string
	Portion flow.Vol
	Price   int64
}

// WaiterTap handles a waiter's staff card at a line: one count of the line's
// PLU is taken from the waiter's credits (durably) and the article's portion
// is poured; the pour becomes a debit for the register when it is booked.
// If the pour cannot start, the count is given back at once.
func (a *Agent) WaiterTap(id int, waiter int64) (string, error) {
	l, err := a.line(id)
	if err != nil {
		return "", err
	}
	if a.register == nil {
		return "", fmt.Errorf("line %d: no cash-register interface configured", id)
	}
	res, err := a.register.Reserve(waiter, l.plu())
	if err != nil {
		a.event(Event{Type: EventWaiterRefused, Line: id, Detail: err.Error()})
		return "", fmt.Errorf("line %d: %w", id, err)
	}
	w := strconv.FormatInt(waiter, 10)
	req := Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: res.Portion, PortionPrice: res.Price},
		Ref: storage.Ref{Reservation: res.ID, Waiter: w, CardType: strconv.Itoa(ttg.CardStaff),
			CardName: "Waiter " + w, ExternalID: "waiter-" + w}}
	pourID, err := a.Authorise(id, req)
	if err != nil {
		if rerr := a.register.Release(res.ID); rerr != nil {
			a.log.Error("giving back a waiter's credit", "reservation", res.ID, "err", rerr)
		}
		return "", err
	}
	return pourID, nil
}
