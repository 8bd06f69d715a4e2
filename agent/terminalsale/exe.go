package terminalsale

import (
	"context"
	"errors"
	"fmt"

	"github.com/tapagent/tapagent/device"
)

// The terminal pays for a vending machine's selections the way a
// VendBox-style bridge does: the machine speaks EXE to the agent (the EXE
// master, payment/exe), the agent asks the card at the MDB terminal. Pay
// and Settle make the Tap an exe.Payer; they run on the EXE loop's
// goroutine and hand the vend to the bus goroutine, which owns the reader.
// The vend goes through the same journal as a line's portion: requested
// before VEND REQUEST, approved before the machine is allowed to vend,
// booked (a vend record) in the commit that books the sale.

// Reasons Pay refuses.
var (
	ErrNoCard     = errors.New("no card at the terminal")
	ErrNoItem     = errors.New("the terminal does not sell that selection")
	errDenied     = errors.New("the terminal denied the vend")
	errReset      = errors.New("the terminal was reset while asking")
	errClosed     = errors.New("the vend was closed without an approval")
	errNotStored  = errors.New("vend not stored")
	errNotSettled = errors.New("an earlier vend is not settled yet")
)

// exeAsk is a machine's vend request handed to the bus goroutine; the
// answer channel has room for the one answer, so the bus never waits.
type exeAsk struct {
	sel    byte
	answer chan exeAnswer
}

type exeAnswer struct {
	amount int64
	err    error
}

// Pay asks the card at the terminal for a selection's price: the amount
// the terminal approved, or why the machine may not vend. Without a card
// it answers ErrNoCard at once, so the machine's pending selection is
// simply asked again once a card is presented.
func (t *Tap) Pay(ctx context.Context, sel byte) (int64, error) {
	if _, ok := t.o.Items[sel]; !ok {
		return 0, fmt.Errorf("selection %d: %w", sel, ErrNoItem)
	}
	a := exeAsk{sel: sel, answer: make(chan exeAnswer, 1)}
	select {
	case t.exe <- a:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-a.answer:
		return r.amount, r.err
	case <-ctx.Done():
		// Stopping: the journal settles whatever the terminal did.
		return 0, ctx.Err()
	}
}

// Settle records the machine's outcome of an approved vend: a vend made
// is booked as a sale (which moves the journal on), one not made is
// marked for VEND FAILURE. The bus goroutine tells the reader.
func (t *Tap) Settle(_ context.Context, sel byte, _ int64, made bool) {
	e, ok, err := t.j.get()
	if err != nil {
		t.fault("journal", err)
		return
	}
	if !ok || !e.Exe || e.Selection != sel || e.State != approved {
		t.fault("vend", fmt.Errorf("outcome of selection %d without an approved vend", sel))
		return
	}
	if made {
		if _, err := t.o.Agent.BookVend(device.Vend{Product: e.Product, PLU: e.PLU, Amount: e.Approved, Made: true, Ref: t.ref(e)}); err != nil {
			// The journal stays approved: a restart books the sale.
			t.fault("booking vend", err)
		}
		return
	}
	err = t.j.mark(e.Vend, func(e *Entry) { e.State, e.Complete, e.Reason = booked, false, "not dispensed" })
	if err != nil {
		t.fault("journal", err)
	}
}

// requestItem asks the card for a machine selection's price, the same
// way request does for a line: journal first, then VEND REQUEST.
func (t *Tap) requestItem(ctx context.Context, a exeAsk) {
	it := t.o.Items[a.sel]
	refuse := func(err error) {
		t.report(device.Event{Type: device.EventMDBRefused, Detail: fmt.Sprintf("selection %d (%s): %v", a.sel, it.Product, err)})
		a.answer <- exeAnswer{err: err}
	}
	if !t.settled(false) {
		refuse(errNotSettled)
		return
	}
	scaled, asked, err := t.price(it.Price)
	if err != nil {
		refuse(err)
		return
	}
	e, err := t.j.start(Entry{Exe: true, Selection: a.sel, Product: it.Product, PLU: it.PLU, Price: asked, At: t.o.Now().UnixMilli()})
	if err != nil {
		t.fault("journal", err)
		refuse(errNotStored)
		return
	}
	t.vend, t.ask = e, &a
	t.asked(ctx, t.m.VendRequest(ctx, scaled, e.item()))
}

// answer gives the waiting machine its answer, once.
func (t *Tap) answer(amount int64, err error) {
	if t.ask == nil {
		return
	}
	t.ask.answer <- exeAnswer{amount: amount, err: err}
	t.ask = nil
}
