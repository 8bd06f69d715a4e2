package device

import (
	"fmt"
	"maps"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// EvPayment is money a payment terminal kept without a pour to go with it.
const EvPayment = "payment_booked"

// PortionPrice prices a portion of vol on a line now, the way a free pour
// would be charged (server catalog and happy hours, else the line's price),
// so a terminal asks the same money a card would pay for the same beer.
func (a *Agent) PortionPrice(id int, vol flow.Vol) (int64, error) {
	l, err := a.line(id)
	if err != nil {
		return 0, err
	}
	if vol <= 0 {
		return 0, fmt.Errorf("line %d: portion must be > 0", id)
	}
	l.mu.Lock()
	r := a.price(l, Request{Auth: flow.Auth{Mode: flow.ModeFree}})
	l.mu.Unlock()
	if !r.Auth.Price.Valid() {
		return 0, fmt.Errorf("line %d has no price", id)
	}
	return r.Auth.Price.Amount(vol), nil
}

// CanPour says why a line would refuse a pour now, or "" when it would take
// one: a terminal asks before it charges anyone.
func (a *Agent) CanPour(id int) string {
	l, err := a.line(id)
	if err != nil {
		return err.Error()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err = a.unavailable(l, Request{})
	if err == nil {
		err = l.fl.CanOpen(flow.Auth{Mode: flow.ModePortion, PortionVol: 1})
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// BookPayment books money a payment terminal kept with nothing (more)
// poured for it: a refund the terminal refused, or a sale that a reset
// made final before the beer ran. The record carries auth (the portion
// that was paid for) and ref, no volume, and goes to the server like any
// sale, so the books agree with the terminal's.
func (a *Agent) BookPayment(id int, amount int64, auth flow.Auth, ref map[string]string) (string, error) {
	l, err := a.line(id)
	if err != nil {
		return "", err
	}
	if amount <= 0 {
		return "", fmt.Errorf("line %d: a payment must be > 0", id)
	}
	now := a.clk.Now().UnixMilli()
	rec := storage.Record{ID: fmt.Sprintf("%d-b%d-p%d", a.cfg.Device.ID, a.boot, a.localN.Add(1)), Kind: storage.KindPour,
		Line: l.id, Product: l.productName(), PLU: l.plu(), StartedAt: now, EndedAt: now, ClockSynced: a.synced(),
		Ref: maps.Clone(ref), Pour: flow.Result{Auth: auth, Reason: flow.ReasonPayment, Amount: amount}}
	seq, err := a.store.Book(storage.Booking{Record: rec, Also: a.settle(rec)})
	if err != nil {
		a.event(Event{Type: EvStorageError, Line: id, Detail: "payment: " + err.Error()})
		return "", fmt.Errorf("line %d: payment not booked: %w", id, err)
	}
	a.onBooked()
	a.event(Event{Type: EvPayment, Line: id, PourID: rec.ID, Kind: rec.Kind, Amount: amount, Seq: seq})
	return rec.ID, nil
}

// Vend is an item a vending machine dispensed, or failed to, for money a
// payment terminal took.
type Vend struct {
	Product string
	PLU     int
	Amount  int64
	// Made is a dispensed item; false books money kept without one.
	Made bool
	Ref  map[string]string
}

// EvVend is an item a vending machine sold for a terminal's payment.
const EvVend = "vend_booked"

// BookVend books a vending machine's sale (or money kept for an item it
// did not dispense) as a record of its own: no line, no volume, the
// item's product and PLU, so server and audit count it like any sale.
func (a *Agent) BookVend(v Vend) (string, error) {
	if v.Amount <= 0 {
		return "", fmt.Errorf("vend of %s: amount must be > 0", v.Product)
	}
	now := a.clk.Now().UnixMilli()
	reason := flow.ReasonPayment
	if v.Made {
		reason = flow.ReasonVended
	}
	auth := flow.Auth{Mode: flow.ModePortion, PortionPrice: v.Amount, Prepaid: true}
	rec := storage.Record{ID: fmt.Sprintf("%d-b%d-v%d", a.cfg.Device.ID, a.boot, a.localN.Add(1)), Kind: storage.KindVend,
		Product: v.Product, PLU: v.PLU, StartedAt: now, EndedAt: now, ClockSynced: a.synced(),
		Ref: maps.Clone(v.Ref), Pour: flow.Result{Auth: auth, Reason: reason, Amount: v.Amount, Complete: v.Made}}
	seq, err := a.store.Book(storage.Booking{Record: rec, Also: a.settle(rec)})
	if err != nil {
		a.event(Event{Type: EvStorageError, Detail: "vend: " + err.Error()})
		return "", fmt.Errorf("vend of %s not booked: %w", v.Product, err)
	}
	a.onBooked()
	what := v.Product
	if !v.Made {
		what += " (money kept, nothing vended)"
	}
	a.event(Event{Type: EvVend, PourID: rec.ID, Kind: rec.Kind, Amount: v.Amount, Seq: seq, Detail: what})
	return rec.ID, nil
}
