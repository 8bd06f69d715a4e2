package terminalsale

import (
	"context"
	"errors"
	"fmt"
	"github.com/tapagent/tapagent/storage"
	"strconv"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/payment/mdb"
)

// ref is the record reference of a vend's sale.
func (t *Tap) ref(e Entry) storage.Ref {
	r := storage.Ref{CardType: strconv.Itoa(t.o.CardType), CardName: "MDB card terminal", Vend: e.Vend}
	if e.Voucher != "" {
		r.Voucher, r.VoucherType, r.OriginalPrice = e.Voucher, e.VoucherType, strconv.FormatInt(e.Original, 10)
	}
	return r
}

// amount converts a scaled reader value to the agent's minor units.
func (t *Tap) amount(p uint32) int64 {
	c := t.m.Config
	return mdb.Amount(p, c.Scale, c.Decimals, t.o.Minor)
}

// price converts a price to the reader's scaled units, rounded up to the
// smallest amount the reader can express; it returns what that costs.
func (t *Tap) price(amount int64) (uint32, int64, error) {
	c := t.m.Config
	if unit := mdb.Amount(1, c.Scale, c.Decimals, t.o.Minor); unit > 1 {
		amount = (amount + unit - 1) / unit * unit
	}
	p, err := mdb.Price(amount, c.Scale, c.Decimals, t.o.Minor, t.m.Enabled&mdb.Opt32BitMoney != 0)
	return p, amount, err
}

// request asks the card for a line's portion: nothing is asked when the
// line cannot pour, and the vend is in the journal before the reader
// hears of it.
func (t *Tap) request(ctx context.Context, line int) {
	refuse := func(why string) {
		t.report(device.Event{Type: device.EventMDBRefused, Line: line, Detail: why})
		if t.single() {
			t.complete(ctx) // nothing else to choose: give the card back
		}
	}
	if !t.settled(false) {
		refuse("an earlier vend is not settled yet")
		return
	}
	if why := t.o.Agent.CanPour(line); why != "" {
		refuse(why)
		return
	}
	e := Entry{Line: line, Portion: t.o.Portion}
	if t.o.Vouchers != nil {
		if v, ok := t.o.Vouchers.TakeVoucher(line); ok {
			// The voucher pays the rest: the card is asked the remainder.
			e.Portion, e.Price, e.Voucher, e.VoucherType, e.Original = v.Portion, v.Price, v.Code, v.Type, v.Original
		}
	}
	if e.Voucher == "" {
		asked, err := t.o.Agent.PortionPrice(line, e.Portion)
		if err != nil {
			refuse(err.Error())
			return
		}
		e.Price = asked
	}
	scaled, asked, err := t.price(e.Price)
	if err != nil {
		refuse(err.Error())
		return
	}
	e.Price, e.At = asked, t.o.Now().UnixMilli()
	e, err = t.j.start(e)
	if err != nil {
		t.fault("journal", err)
		refuse("vend not stored")
		return
	}
	t.vend = e
	t.asked(ctx, t.m.VendRequest(ctx, scaled, uint16(line)))
}

// asked takes what VEND REQUEST returned for the open vend. A request that
// may have reached the reader (a timeout: its reply, an approval even, may
// have been lost; or the port lost under it) stays open for the POLLs,
// VEND CANCEL and VEND FAILURE to settle with the reader; one refused
// before it went out closes the vend and the session.
func (t *Tap) asked(ctx context.Context, err error) {
	if err != nil && !errors.Is(err, mdb.ErrLink) && !errors.Is(err, mdb.ErrTimeout) {
		t.fault("vend request", err)
		t.closeVend()
		t.complete(ctx)
		return
	}
	t.ph, t.since, t.cancelled = requesting, t.o.Now(), false
	if err != nil {
		t.fault("vend request", err) // ErrLink: offline until the port is back
	}
}

// abandon settles a request that neither VEND APPROVED/DENIED nor VEND
// CANCEL answered: the reader may hold an approval whose answer was lost,
// so VEND FAILURE gives back whatever it took before the session ends.
func (t *Tap) abandon(ctx context.Context) {
	e := t.vend
	err := t.m.VendFailure(ctx)
	switch {
	case errors.Is(err, mdb.ErrLink):
		t.fault("vend failure", err) // tried again once the port is back
		return
	case errors.Is(err, mdb.ErrRefundFailed):
		// It had approved, and keeps the money: the price asked is a sale.
		e.Approved = e.Price
		t.report(device.Event{Type: device.EventMDBRefundFailed, Line: e.Line, Amount: e.Price,
			Detail: "no answer to VEND REQUEST nor VEND CANCEL; refund refused (" + err.Error() + "): booked as a sale"})
		t.correct(e, "refund refused")
		t.vend = Entry{}
		t.answer(0, errClosed)
	default:
		detail := "no answer to VEND REQUEST nor VEND CANCEL: VEND FAILURE sent, nothing poured"
		if err != nil {
			detail += " (" + err.Error() + ")"
		}
		t.report(device.Event{Type: device.EventMDBVendUnknown, Line: e.Line, Amount: e.Price, Detail: detail})
		t.closeVend()
	}
	t.complete(ctx)
}

// approved opens the valve for an approved vend. The approved amount is
// what the pour costs (it may differ from the price: discounts); a token
// (FFFF) pays the asked price.
func (t *Tap) approved(ctx context.Context, amt uint32) {
	e := t.vend
	e.Approved = t.amount(amt)
	if amt == 0xFFFF && t.m.Enabled&mdb.Opt32BitMoney == 0 {
		e.Approved = e.Price
	}
	e.State = approved
	if err := t.j.put(e); err != nil {
		// Not on disk: no valve may open for it.
		t.fault("journal", err)
		t.vend = e
		t.answer(0, errNotStored)
		t.fail(ctx, "vend not stored")
		return
	}
	t.vend = e
	if e.Exe {
		// The machine vends next; its outcome comes back through Settle.
		t.answer(e.Approved, nil)
		t.report(device.Event{Type: device.EventMDBVendApproved, Amount: e.Approved,
			Detail: fmt.Sprintf("%s: asked %d, approved %d", e.what(), e.Price, e.Approved)})
		t.ph = pouring
		return
	}
	got := t.o.Now()
	pourID, err := t.o.Agent.Authorise(e.Line, device.Request{Auth: e.auth(), Ref: t.ref(e)})
	if err != nil {
		t.fail(ctx, err.Error())
		return
	}
	open := t.o.Now().Sub(got)
	t.poured = e.Vend
	t.count(func(h *Health) { h.ApprovedToOpen = open })
	t.report(device.Event{Type: device.EventMDBVendApproved, Line: e.Line, PourID: pourID, Amount: e.Approved,
		Detail: fmt.Sprintf("asked %d, approved %d", e.Price, e.Approved)})
	t.ph = pouring
}

// outcome tells the reader how the booked pour went.
func (t *Tap) outcome(ctx context.Context) {
	e := t.vend
	if !e.Complete || e.Booked < e.Approved {
		t.fail(ctx, fmt.Sprintf("%s not delivered (%s)", e.what(), e.Reason))
		return
	}
	if err := t.m.VendSuccess(ctx, e.item()); err != nil {
		// Tried again next cycle; a reader gone for good is reset, which
		// is a sale too.
		t.fault("vend success", err)
		return
	}
	t.count(func(h *Health) { h.Vends++ })
	t.report(device.Event{Type: device.EventMDBVendSuccess, Line: e.Line, PourID: e.PourID, Amount: e.Approved, Volume: e.Volume, Detail: e.what()})
	t.closeVend()
	t.complete(ctx)
}

// fail sends VEND FAILURE for an approved vend and books what the reader
// kept: nothing when it confirms the refund; the approved amount less what
// the pour's record holds when it refuses the refund (MALFUNCTION C-) or
// acknowledged VEND FAILURE without confirming the refund. A VEND FAILURE
// the reader never got (the port lost, the adapter out of master mode, a
// reader silent for a while) keeps the vend and its journal entry open:
// it is sent again later, and only a reset of the reader makes it a sale.
// One it got whose confirming POLLs were cut off (the port lost, the agent
// stopping) keeps the vend open the same way; its POLLs are taken up again.
func (t *Tap) fail(ctx context.Context, why string) {
	e := t.vend
	var err error
	if t.acked {
		err = t.m.ConfirmRefund(ctx)
	} else {
		if !e.RefundAsked && !e.Exe {
			if err := t.j.mark(e.Vend, func(x *Entry) { x.RefundAsked = true }); err != nil {
				t.fault("journal", err)
			}
			t.vend.RefundAsked, e.RefundAsked = true, true
		}
		err = t.m.VendFailure(ctx)
	}
	t.acked = errors.Is(err, mdb.ErrRefundInterrupted)
	switch {
	case err == nil:
		t.count(func(h *Health) { h.Refunded++ })
		t.report(device.Event{Type: device.EventMDBVendRefunded, Line: e.Line, PourID: e.PourID, Amount: e.Approved, Volume: e.Volume, Detail: why})
		t.closeVend()
	case errors.Is(err, mdb.ErrRefundFailed) || errors.Is(err, mdb.ErrRefundUnconfirmed):
		t.report(device.Event{Type: device.EventMDBRefundFailed, Line: e.Line, PourID: e.PourID, Amount: e.Approved,
			Detail: why + "; refund not confirmed (" + err.Error() + "): booked as a sale"})
		t.correct(e, "refund not confirmed")
		t.vend = Entry{}
		t.answer(0, errClosed)
	default:
		t.ph, t.refund, t.refundAt = pouring, why, t.o.Now()
		t.fault("vend failure", err) // ErrLink: offline until the port is back
		return
	}
	t.refund = ""
	t.complete(ctx)
}

// correct books the part of an approved amount that a vend's records do
// not hold yet; the booking closes the vend in the journal.
func (t *Tap) correct(e Entry, why string) bool {
	due := e.Approved - e.Booked
	if due <= 0 {
		if err := t.j.drop(e.Vend); err != nil {
			t.fault("journal", err)
			return false
		}
		return true
	}
	ref := t.ref(e)
	var err error
	if e.Exe {
		_, err = t.o.Agent.BookVend(device.Vend{Product: e.Product, PLU: e.PLU, Amount: due, Ref: ref})
	} else {
		_, err = t.o.Agent.BookPayment(e.Line, due, e.auth(), ref)
	}
	if err != nil {
		t.fault("booking "+why, err)
		return false
	}
	return true
}

// resetDuringVend settles an open vend when the reader is (about to be)
// reset: a request without an answer is unknown, an approved vend is a
// sale (§7.4.7) that the pour's booking completes with no SUCCESS/FAILURE.
// An approved vend whose pour never started (its refund still due) has no
// booking to wait for: the money the reset keeps is booked now.
func (t *Tap) resetDuringVend() {
	pending := t.refund != ""
	t.refund, t.acked = "", false
	switch t.ph {
	case requesting:
		t.unknown(t.vend)
		t.vend = Entry{}
		t.answer(0, errReset)
	case pouring:
		// The pour runs on; its booking is settled from the journal.
		if err := t.j.mark(t.vend.Vend, func(e *Entry) { e.Reset = true }); err != nil {
			t.fault("journal", err)
		}
		t.report(device.Event{Type: device.EventMDBWarning, Line: t.vend.Line, Detail: "reader reset during the pour: the sale stands (MDB 4.2 §7.4.7)"})
		if pending {
			t.settleUnpoured(t.vend.Vend)
		}
		t.vend = Entry{}
	}
	if t.ph != idle {
		t.ph = idle
	}
}

func (t *Tap) unknown(e Entry) {
	t.report(device.Event{Type: device.EventMDBVendUnknown, Line: e.Line, Amount: e.Price,
		Detail: "stopped while asking the terminal for a portion; its own journal says whether it approved"})
	if err := t.j.drop(e.Vend); err != nil {
		t.fault("journal", err)
	}
}

// refundUnknown reports a short portion whose refund was asked for when
// the agent stopped: the reader's own journal says whether it refunded
// (nothing more to book) or kept the sale at the reset (a sale to book by
// hand); the agent books what was poured, as it did, and nothing on a guess.
func (t *Tap) refundUnknown(e Entry) {
	t.report(device.Event{Type: device.EventMDBVendUnknown, Line: e.Line, PourID: e.PourID, Amount: e.Approved, Volume: e.Volume,
		Detail: fmt.Sprintf("stopped while the terminal refunded a short portion (%s of %s poured, %d booked); its own journal says whether it refunded %d or kept it",
			e.Volume, e.Portion, e.Booked, e.Approved)})
	if err := t.j.drop(e.Vend); err != nil {
		t.fault("journal", err)
	}
}

// settled settles a vend left in the journal (by a crash, a reset or a
// failed booking) and says whether the journal is free for a new one. At
// startup an approved vend had no pour (the agent books interrupted pours
// before the terminal starts); later its pour may still be running.
func (t *Tap) settled(startup bool) bool {
	e, ok, err := t.j.get()
	if err != nil {
		t.fault("journal", err)
		return false
	}
	if !ok {
		return true
	}
	switch e.State {
	case requested:
		t.unknown(e)
		return true
	case approved:
		if !startup {
			t.settleUnpoured(e.Vend)
			break
		}
		// Nothing poured, the money taken: a refund is due at the bar.
		how := "approved, then the agent stopped before the valve opened"
		if e.Exe {
			how = "approved, then the agent stopped before the machine's outcome"
		}
		t.reconcile(e, how)
	case booked:
		switch {
		case !e.Reset && e.Booked >= e.Approved:
			// Delivered; whether SUCCESS went out or not, the reset that
			// followed made it a sale.
			t.reconcile(e, "delivered")
		case startup && e.RefundAsked && !e.Reset:
			// VEND FAILURE went out, then the agent stopped before the
			// reader confirmed the refund: it may have refunded, or kept
			// the sale at the reset. Neither is booked on a guess.
			t.refundUnknown(e)
		default:
			t.reconcile(e, "reset before the outcome")
		}
	}
	_, open, _ := t.j.get()
	return !open
}

// settleUnpoured books an approved vend that a reader reset made a sale
// while no pour ran for it (the line refused it, VEND FAILURE never got
// through): nothing else would ever book it or free the journal. A vend
// whose pour was opened in this run is left to that pour's booking, and a
// machine's vend to its outcome.
func (t *Tap) settleUnpoured(vend string) {
	e, ok, err := t.j.get()
	if err != nil {
		t.fault("journal", err)
		return
	}
	if !ok || e.Vend != vend || e.State != approved || !e.Reset || e.Exe || e.Vend == t.poured {
		return
	}
	t.reconcile(e, "approved, the line refused the pour, then the reader reset before VEND FAILURE reached it")
}

// reconcile books what a vend left open owes and reports it against the
// meter: the reader counts a reset before the outcome as a sale.
func (t *Tap) reconcile(e Entry, how string) {
	if !t.correct(e, how) {
		return
	}
	got := fmt.Sprintf("portion %s, meter measured %s", e.Portion, e.Volume)
	switch {
	case e.Exe && e.State != booked:
		got = e.what() + ", the machine's outcome is not known"
	case e.Exe && e.Complete:
		got = e.what() + ", the machine vended it"
	case e.Exe:
		got = e.what() + ", the machine did not vend it"
	}
	t.report(device.Event{Type: device.EventMDBVendReconciled, Line: e.Line, PourID: e.PourID, Amount: e.Approved, Volume: e.Volume,
		Detail: fmt.Sprintf("%s: sale of %d stands (MDB 4.2 §7.4.7); %s", how, e.Approved, got)})
}

// recoverJournal settles what the last run left before the reader is reset.
func (t *Tap) recoverJournal() { t.settled(true) }

// settleBooked settles, between sessions, a vend whose pour was booked
// after the reader was reset under it.
func (t *Tap) settleBooked() {
	if e, ok, err := t.j.get(); err == nil && ok && e.State == booked {
		t.settled(false)
	}
}

// cashSale tells a reader that takes CASH SALE about the oldest sale paid
// in cash, one per idle poll so POLLs keep their pace; a reader that does
// not take it has the queue cleared, cashClearBatch entries per poll. Each
// poll reads one entry (a seek), whatever the queue's length.
func (t *Tap) cashSale(ctx context.Context) {
	key, s, ok, dropped, err := t.j.oldestCash()
	if err != nil {
		t.fault("journal", err)
		return
	}
	if dropped > 0 {
		t.report(device.Event{Type: device.EventMDBCashSalesDropped, Amount: int64(dropped),
			Detail: fmt.Sprintf("%d cash-sale reports dropped at the queue's bound of %d (the sales are booked; MDB 4.2 §7.4.10)", dropped, MaxCashSales)})
		if err := t.j.ackDropped(dropped); err != nil {
			t.fault("journal", err)
		}
	}
	if !ok {
		return
	}
	if t.m.Config.Options&mdb.OptReaderCashSale == 0 {
		if err := t.j.dropCash(cashClearBatch); err != nil {
			t.fault("journal", err)
		}
		return
	}
	if s.Amount > 0 {
		p, _, err := t.price(s.Amount)
		if err == nil {
			err = t.m.CashSale(ctx, p, uint16(s.Line))
		}
		if err != nil && !errors.Is(err, mdb.ErrNoCashSale) {
			t.fault("cash sale", err)
			return
		}
		t.report(device.Event{Type: device.EventMDBCashSale, Line: s.Line, PourID: s.ID, Amount: s.Amount})
	}
	if err := t.j.dropCashKey(key); err != nil {
		t.fault("journal", err)
	}
}

// cashClearBatch is how many queued cash sales one idle poll clears for a
// reader that does not take CASH SALE: one small commit per poll.
const cashClearBatch = 64
