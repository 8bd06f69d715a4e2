package cardpay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/ttg"
)

// settle resolves a charge the journal still holds for this card before
// anything else: a lost commit is decided by the card (its last-pour file,
// or on a card of the first layout its counters), an owed amount is
// collected. It returns why the card may not pour, if so.
func (t *Tap) settle(ctx context.Context, cd *card) string {
	e, found, err := t.j.get(cd.key)
	if err != nil {
		return err.Error()
	}
	if !found {
		return ""
	}
	if e.State == stateSending {
		out, err := t.outcome(ctx, cd, e)
		if err != nil {
			return "the last charge cannot be checked on the card: " + err.Error()
		}
		switch out {
		case Committed:
			t.j.drop(cd.key)
			if byCounters(cd, e) {
				// Since the card left, a charge elsewhere of the same amount
				// leaves the same counters as ours.
				t.assumed(cd, e, "ours, or not ours and one charge of the same amount elsewhere")
				return ""
			}
			t.report(device.Event{Type: EvCardSettled, Card: cd.hash, PourID: e.PourID, Amount: e.Amount, Detail: "the lost commit had reached the card"})
			return ""
		case Assumed:
			t.j.drop(cd.key)
			t.assumed(cd, e, assumedWhy)
			return ""
		case Ambiguous:
			t.report(device.Event{Type: EvCardAmbiguous, Card: cd.hash, PourID: e.PourID, Amount: e.Amount,
				Detail: "the card's counters changed since an unconfirmed charge: staff must check it"})
			return "unconfirmed charge on this card: staff must check it"
		}
	}
	// Not on the card: collect it now, before a new pour.
	if err := t.collect(ctx, cd, e); err != nil {
		return "the last pour is still unpaid: " + err.Error()
	}
	t.report(device.Event{Type: EvCardSettled, Card: cd.hash, PourID: e.PourID, Amount: e.Amount, Detail: "owed amount collected"})
	return ""
}

// outcome asks the card whether a sent charge is on it: the last-pour
// file names the pour, or (first layout) both counters moved by it. A
// glitch while asking is retried once in a new session.
func (t *Tap) outcome(ctx context.Context, cd *card, e Entry) (Outcome, error) {
	out, err := t.ask(ctx, cd, e)
	if cardapp.Transient(err) && cd.s.Reopen(ctx) == nil {
		cd.stale()
		out, err = t.ask(ctx, cd, e)
	}
	return out, err
}

func (t *Tap) ask(ctx context.Context, cd *card, e Entry) (Outcome, error) {
	if err := t.counters(ctx, cd); err != nil {
		return Ambiguous, err
	}
	if byCounters(cd, e) {
		return e.Resolve(cd.c.Credit, cd.c.Servings), nil
	}
	last := cd.c.Last
	if slices.Contains(last.IDs, e.PourID) {
		return Committed, nil
	}
	// Not among the last pours: ours did not commit — unless more charges
	// came after it (at other readers) than file 4 keeps. File 4 counts
	// its charges (the servings counter would not do: staff may reset
	// it), so if ours had committed with j others after it, since would
	// be j+1 and ours the (j+1)th newest id.
	if since := last.Since(e.ChargesBefore); since <= uint32(len(last.IDs)) {
		return NotCommitted, nil
	}
	return Ambiguous, nil
}

// byCounters: the card's counters, not its last-pour file, decide
// whether e is on it (a first-layout card, or one upgraded since).
func byCounters(cd *card, e Entry) bool { return !cd.c.LastPourFile || !e.LastPourFile }

// counters makes sure what a charge records before it is sent is known:
// both counters, and on a card with file 4 its charge count.
func (t *Tap) counters(ctx context.Context, cd *card) error {
	if !cd.c.ServingsRead {
		n, err := cd.s.Servings(ctx)
		if err != nil {
			return err
		}
		cd.c.Servings, cd.c.ServingsRead = n, true
	}
	if cd.c.LastPourFile && !cd.c.LastRead {
		l, err := cd.s.LastPours(ctx)
		if err != nil {
			return err
		}
		cd.c.Last, cd.c.LastRead = l, true
	}
	return nil
}

// collect charges e on a card that is on the reader. After a failure it
// asks the card what happened in a new session — nothing is sent twice
// blindly — and charges once more only when the card shows the charge is
// not on it. What is left unpaid stays in the journal: owed when nothing
// can have reached the card, sending when a commit's fate is unknown.
func (t *Tap) collect(ctx context.Context, cd *card, e Entry) error {
	var err error
	for try := 0; try < 2; try++ {
		if err = t.counters(ctx, cd); err != nil {
			break
		}
		e.State, e.CreditBefore, e.ServingsBefore, e.At = stateSending, cd.c.Credit, cd.c.Servings, t.o.Now().UnixMilli()
		e.LastPourFile, e.ChargesBefore = cd.c.LastPourFile, cd.c.Last.Charges
		if jerr := t.j.put(cd.key, e); jerr != nil {
			// Nothing sent: what the journal held before (owed) stands.
			t.report(device.Event{Type: EvCardUnpaid, Card: cd.hash, PourID: e.PourID, Amount: e.Amount,
				Detail: "not charged: the card journal cannot be written: " + jerr.Error()})
			return jerr
		}
		if err = cd.s.Charge(ctx, cd.c, e.PourID, e.Amount, e.Servings); err == nil {
			cd.c.Credit -= e.Amount
			cd.c.Servings += e.Servings
			cd.c.Last = cd.c.Last.After(e.PourID)
			break
		}
		if !errors.Is(err, cardapp.ErrCommitUnknown) {
			e.State = stateOwed // nothing was committed
			if jerr := t.j.put(cd.key, e); jerr != nil {
				t.o.Log.Error("card journal", "err", jerr)
			}
		}
		on, rerr := t.recheck(ctx, cd, e, err)
		if on {
			err = nil
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
		// Not on the card: err stays the failure unless the next try pays.
	}
	if err != nil {
		t.chargeFailed(cd, e, err)
		return err
	}
	if jerr := t.j.drop(cd.key); jerr != nil {
		t.o.Log.Error("card journal", "err", jerr)
	}
	return nil
}

// recheck asks the card, in a new session (the failure ended the old
// one, and any uncommitted change with it), whether a failed charge is on
// it. on: it is; err: the card cannot tell, or not now (failed is kept).
func (t *Tap) recheck(ctx context.Context, cd *card, e Entry, failed error) (on bool, err error) {
	if cd.s.Reopen(ctx) != nil {
		return false, failed
	}
	if cd.c.Credit, err = cd.s.Credit(ctx); err != nil {
		return false, failed
	}
	cd.stale()
	if e.State != stateSending {
		return false, nil
	}
	out, err := t.outcome(ctx, cd, e)
	switch {
	case err != nil:
		return false, failed
	case out == Ambiguous:
		return false, fmt.Errorf("%w; the card's counters do not tell", failed)
	case out == Assumed:
		t.assumed(cd, e, assumedWhy)
		return true, nil
	}
	// Committed: the counters read are the card's after the charge.
	return out == Committed, nil
}

// assumedWhy is what an Assumed outcome's counters fit.
const assumedWhy = "a top-up or a charge elsewhere in between"

// assumed tells staff that a lost commit counts as charged although the
// card's counters cannot prove it, with the figures to check it by.
func (t *Tap) assumed(cd *card, e Entry, why string) {
	t.report(device.Event{Type: EvCardAssumed, Card: cd.hash, PourID: e.PourID, Amount: e.Amount,
		Detail: fmt.Sprintf("counted as charged, not proven: before the charge credit %d, servings %d; now credit %d, servings %d (%s): staff should check",
			e.CreditBefore, e.ServingsBefore, cd.c.Credit, cd.c.Servings, why)})
}

// chargeFailed reports what a failed charge left (the journal already
// says it): nothing on the card (owed), or an unknown outcome.
func (t *Tap) chargeFailed(cd *card, e Entry, err error) {
	if e.State == stateSending {
		t.report(device.Event{Type: EvCardUnknown, Card: cd.hash, PourID: e.PourID, Amount: e.Amount, Detail: err.Error()})
		return
	}
	t.report(device.Event{Type: EvCardUnpaid, Card: cd.hash, PourID: e.PourID, Amount: e.Amount, Detail: err.Error()})
}

// serve acts by card type; it reports whether the card was seen to leave.
func (t *Tap) serve(ctx context.Context, cd *card) bool {
	info := cd.c.Info
	ref := map[string]string{ttg.RefCardID: strconv.FormatInt(cd.id, 10), ttg.RefCardType: strconv.Itoa(info.Type),
		ttg.RefCardName: info.Name, ttg.RefExternalID: strconv.FormatInt(cd.id, 10)}
	switch info.Type {
	case ttg.CardPre:
		if cd.c.Credit <= 0 {
			t.report(device.Event{Type: EvCardRefused, Card: cd.hash, Detail: "no credit left"})
			return false
		}
		return t.pour(ctx, cd, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapMoney: cd.c.Credit}, Ref: ref, NoAlcohol: !info.Alcohol})
	case ttg.CardBill:
		return t.pour(ctx, cd, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}, Ref: ref, NoAlcohol: !info.Alcohol})
	case ttg.CardClean:
		return t.pour(ctx, cd, device.Request{Auth: flow.Auth{Mode: flow.ModeCleaning}, Ref: ref})
	case ttg.CardOnlinePre, ttg.CardOnlineBill:
		if _, err := t.o.Agent.CardTap(ctx, t.o.Lines[0], cd.id); err != nil {
			t.report(device.Event{Type: EvCardRefused, Card: cd.hash, Detail: err.Error()})
		}
	case ttg.CardStaff:
		if _, err := t.o.Agent.WaiterTap(t.o.Lines[0], cd.id); err != nil {
			t.report(device.Event{Type: EvCardRefused, Card: cd.hash, Detail: err.Error()})
		}
	case ttg.CardInstall, ttg.CardManager:
		if !t.changeDryKegs(cd) {
			t.toggleService(cd)
		}
	case ttg.CardAdmin:
		t.toggleService(cd)
	default:
		t.report(device.Event{Type: EvCardRefused, Card: cd.hash, Detail: fmt.Sprintf("card type %d has no use at a tap", info.Type)})
	}
	return false
}

// servingsOK refuses a card whose servings limit is used up.
func servingsOK(c cardapp.Card) bool {
	return c.Info.ServingsLimit == 0 || c.Servings < int64(c.Info.ServingsLimit)
}

// pour authorises every served line, lets the first that flows keep the
// authorisation, watches the card while it pours and charges it once the
// pour is booked.
func (t *Tap) pour(ctx context.Context, cd *card, req device.Request) bool {
	if req.Auth.Mode != flow.ModeCleaning && !servingsOK(cd.c) {
		t.report(device.Event{Type: EvCardRefused, Card: cd.hash, Detail: "servings limit reached: staff must re-activate the card"})
		return false
	}
	charging := req.Auth.Mode != flow.ModeCleaning
	if charging {
		req.Ref[RefCardKey] = cd.key // with the intent, before the valve opens: see Settle
	}
	pours := map[string]int{}
	for _, l := range t.o.Lines {
		id, err := t.o.Agent.Authorise(l, req)
		if err == nil {
			pours[id] = l
		}
	}
	if len(pours) == 0 {
		t.report(device.Event{Type: EvCardRefused, Card: cd.hash, Detail: "no line could be authorised"})
		return false
	}
	t.mu.Lock()
	for id := range pours {
		t.wants[id] = true
	}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		for id := range pours {
			delete(t.wants, id)
		}
		t.mu.Unlock()
	}()
	w := t.watch(ctx, cd, pours)
	switch {
	case !charging:
		return w.removed
	case !w.booked:
		// The agent stops with the pour unbooked: its booking, now or at
		// the next start, makes it owed (Settle).
		t.report(device.Event{Type: EvCardUnpaid, Card: cd.hash, PourID: w.poured.PourID,
			Detail: "the agent stopped before the pour was booked: its booking is owed, collected at the card's next tap"})
		return true
	case w.removed && w.poured.Amount == 0:
		t.dropOwed(cd) // a serving alone is not collected from a card taken away
		return true
	}
	why := "card taken away before payment"
	if w.stopped {
		why = "the agent stopped before payment"
	}
	t.charge(ctx, cd, w.poured, w.removed, req.Auth.CapMoney > 0, why)
	return w.removed
}

// dropOwed removes what the booking of a pour that is not collected wrote.
func (t *Tap) dropOwed(cd *card) {
	if err := t.j.drop(cd.key); err != nil {
		t.o.Log.Error("card journal", "err", err)
	}
}

// watched is how a pour ended for the tap.
type watched struct {
	poured  device.Event // the booking that poured, if any
	removed bool         // the card left, or the agent stops
	stopped bool         // the agent stops (ctx ended)
	booked  bool         // every authorised pour is booked
}

// watch waits for every authorised pour to be booked, stopping the other
// lines once one flows and every line if the card leaves or the agent
// stops; then it waits up to Linger for the bookings.
func (t *Tap) watch(ctx context.Context, cd *card, pours map[string]int) watched {
	var w watched
	decided := len(pours) == 1
	open := len(pours)
	tick := time.NewTicker(t.o.Presence)
	defer tick.Stop()
	stopAll := func(except string) {
		for id, l := range pours {
			if id != except {
				t.o.Agent.Stop(l)
			}
		}
	}
	took := func(ev device.Event) {
		open--
		if ev.Volume > 0 || ev.Amount > 0 {
			w.poured = ev
		}
	}
	for open > 0 && !w.stopped {
		select {
		case <-ctx.Done():
			stopAll("")
			w.removed, w.stopped = true, true
		case ev := <-t.evs:
			took(ev)
		case <-tick.C:
			if !decided {
				if id := t.flowing(pours); id != "" {
					decided = true
					stopAll(id) // the first line that flows keeps the card
				}
			}
			if w.removed {
				continue
			}
			// Any failure ends the card's session, so it can no longer be
			// charged: one glitch is retried in a new session; a second
			// failure stops the pour as if the card had been taken away.
			if !t.present(ctx, cd) {
				w.removed = true
				stopAll("")
				t.report(device.Event{Type: EvCardRemoved, Card: cd.hash, Detail: "card taken away while pouring: pour stopped"})
			}
		}
	}
	if open > 0 {
		// Stopping: the stopped pours are booked as the agent winds down.
		linger := time.NewTimer(t.o.Linger)
		defer linger.Stop()
		for expired := false; open > 0 && !expired; {
			select {
			case ev := <-t.evs:
				took(ev)
			case <-linger.C:
				expired = true
			}
		}
	}
	w.booked = open == 0
	return w
}

// present checks that the card is still on the reader (its credit reads),
// trying once more in a new session after a single RF or CRC error.
func (t *Tap) present(ctx context.Context, cd *card) bool {
	if _, err := cd.s.Credit(ctx); err == nil {
		return true
	} else if !cardapp.Transient(err) {
		return false
	}
	if err := cd.s.Reopen(ctx); err != nil {
		return false
	}
	_, err := cd.s.Credit(ctx)
	return err == nil
}

// flowing returns the pour id of a served line that has started to flow.
func (t *Tap) flowing(pours map[string]int) string {
	for _, st := range t.o.Agent.Status() {
		if _, ours := pours[st.PourID]; ours && st.Poured > 0 {
			return st.PourID
		}
	}
	return ""
}

// charge debits a prepaid card's pour (and counts the serving) in one card
// transaction, with the journal entry, both counters included, on disk
// before anything is sent.
func (t *Tap) charge(ctx context.Context, cd *card, booked device.Event, removed, prepaid bool, why string) {
	amount, servings := due(booked.Amount, int64(booked.Charged), prepaid)
	if amount == 0 && servings == 0 {
		return
	}
	e := Entry{PourID: booked.PourID, State: stateOwed, CreditBefore: cd.c.Credit, ServingsBefore: cd.c.Servings,
		Amount: amount, Servings: servings, At: t.o.Now().UnixMilli()}
	// Owed on disk before anything goes to the card: whatever fails from
	// here on (the card lifted before its counters are read, a glitch),
	// the next tap collects it.
	if err := t.j.put(cd.key, e); err != nil {
		t.report(device.Event{Type: EvCardUnpaid, Card: cd.hash, PourID: e.PourID, Amount: amount,
			Detail: "not charged: the card journal cannot be written: " + err.Error()})
		return
	}
	if removed {
		t.report(device.Event{Type: EvCardUnpaid, Card: cd.hash, PourID: e.PourID, Amount: amount, Detail: why + ": collected at its next tap"})
		return
	}
	if err := t.collect(ctx, cd, e); err != nil {
		return
	}
	t.report(device.Event{Type: EvCardCharged, Card: cd.hash, PourID: e.PourID, Amount: amount,
		Detail: fmt.Sprintf("credit %d left", cd.c.Credit)})
}

// changeDryKegs records a full keg of the same size on each served line
// whose keg ran dry (an INSTALL or MANAGER card there means the staff have
// connected a fresh one); it reports whether any line was dry, in which
// case the card does nothing else.
func (t *Tap) changeDryKegs(cd *card) bool {
	by := device.Actor{Name: cd.c.Info.Name, Role: ttg.CardTypeName(cd.c.Info.Type), Via: "card"}
	dry := false
	for _, k := range t.o.Agent.Kegs() {
		if k.Disabled != "keg_empty" || !slices.Contains(t.o.Lines, k.Line) {
			continue
		}
		dry = true
		err := t.o.Agent.ChangeKeg(by, device.KegChange{Line: k.Line, PLU: k.PLU, Size: k.Keg.Size})
		if err != nil {
			t.report(device.Event{Type: EvCardRefused, Line: k.Line, Card: cd.hash, Detail: "keg change: " + err.Error()})
		}
	}
	return dry
}

// toggleService puts the served lines into service mode (locked for
// calibration and valve tests) or back.
func (t *Tap) toggleService(cd *card) {
	locked := map[int]bool{}
	for _, st := range t.o.Agent.Status() {
		locked[st.Line] = st.Locked
	}
	all := true
	for _, l := range t.o.Lines {
		all = all && locked[l]
	}
	by := device.Actor{Name: cd.c.Info.Name, Role: ttg.CardTypeName(cd.c.Info.Type), Via: "card"}
	for _, l := range t.o.Lines {
		var err error
		if all {
			err = t.o.Agent.SetLocked(by, l, false)
		} else if !locked[l] {
			err = t.o.Agent.SetLocked(by, l, true)
		}
		if err != nil {
			t.report(device.Event{Type: EvCardRefused, Line: l, Card: cd.hash, Detail: err.Error()})
		}
	}
	state := "on"
	if all {
		state = "off"
	}
	t.report(device.Event{Type: EvServiceMode, Card: cd.hash, Detail: fmt.Sprintf("service mode %s (lines %v, %s card)", state, t.o.Lines, ttg.CardTypeName(cd.c.Info.Type))})
}
