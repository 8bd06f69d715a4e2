package device

import (
	"fmt"
	"strconv"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/ttg"
)

// CashRegister hands out the credits a cash register posted for waiters.
type CashRegister interface {
	Reserve(waiter int64, plu int) (cashregister.Reservation, error)
	Release(id string) error
}

// EvWaiterRefused is a waiter tap with no credit to pour.
const EvWaiterRefused = "waiter_refused"

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
		a.event(Event{Type: EvWaiterRefused, Line: id, Detail: err.Error()})
		return "", fmt.Errorf("line %d: %w", id, err)
	}
	w := strconv.FormatInt(waiter, 10)
	req := Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: res.Portion, PortionPrice: res.Price},
		Ref: map[string]string{cashregister.RefReservation: res.ID, cashregister.RefWaiter: w, ttg.RefCardType: strconv.Itoa(ttg.CardStaff),
			ttg.RefCardName: "Waiter " + w, ttg.RefExternalID: "waiter-" + w}}
	pourID, err := a.Authorise(id, req)
	if err != nil {
		if rerr := a.register.Release(res.ID); rerr != nil {
			a.log.Error("giving back a waiter's credit", "reservation", res.ID, "err", rerr)
		}
		return "", err
	}
	return pourID, nil
}
