// Package terminalsale sells tap portions through a cashless card terminal on the
// MDB bus, with the wall as the vending machine controller (MDB portion
// mode, DESIGN.md). A card at the terminal opens a session; the line's
// portion is priced and asked for with VEND REQUEST before any valve
// opens; the approved amount is what the pour costs; VEND SUCCESS follows
// a delivered portion and VEND FAILURE (a refund) one that ran short.
//
// Every step is in the journal before it is taken, and a pour's booking
// moves the journal in the same commit (Settle), so a restart anywhere
// books exactly what the terminal kept: a reader reset between APPROVED and
// the outcome is a sale (MDB 4.2 §7.4.7), booked at the approved amount and
// reconciled against what the meter measured.
package terminalsale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// Agent is what the terminal needs of the wall.
type Agent interface {
	Authorise(line int, r device.Request) (string, error)
	PortionPrice(line int, vol flow.Vol) (int64, error)
	CanPour(line int) string
	BookPayment(line int, amount int64, auth flow.Auth, ref storage.Ref) (string, error)
	BookVend(v device.Vend) (string, error)
	Report(ev device.Event)
}

// Options configure a terminal.
type Options struct {
	Master *mdb.Master
	Agent  Agent
	Store  *storage.Store
	// Lines the terminal sells; with one (and no Items), a session pours
	// on it at once.
	Lines []int
	// Items are a vending machine's selections the terminal pays for
	// (EXE behind a bridge, see Pay), by selection.
	Items map[byte]Item
	// Portion is the volume sold per vend.
	Portion flow.Vol
	// CardType is the TTG card type of its sales (61 prepay, 62 bill).
	CardType int
	// Minor is the number of decimals of the agent's money.
	Minor byte
	// Money prints an amount in events for people (the agent's currency
	// and decimals); nil prints the minor units.
	Money func(minor int64) string
	// Vouchers hands over a voucher armed for a line (agent/voucherpay);
	// nil: none.
	Vouchers Vouchers
	// VendTimeout bounds the wait for APPROVED/DENIED; SelectTimeout a
	// session without a selection; Retry the pause between power-up tries.
	VendTimeout, SelectTimeout, Retry time.Duration
	Now                               func() time.Time
	Log                               *slog.Logger
}

// Vouchers is where the terminal finds a voucher armed for a line.
type Vouchers interface {
	// TakeVoucher returns the voucher armed for line, once.
	TakeVoucher(line int) (Voucher, bool)
}

// Voucher is a SmartNow voucher that pays part of a line's portion: the
// VEND REQUEST asks Price (the remainder) for Portion; the record carries
// the code, its type and Original (the portion's price before it).
type Voucher struct {
	Code, Type      string
	Original, Price int64
	Portion         flow.Vol
}

// Item is a vending machine's selection sold through the terminal.
type Item struct {
	Product string
	PLU     int
	Price   int64 // minor units
}

type phase int

const (
	idle       phase = iota
	session          // a card is at the terminal, no line chosen
	requesting       // VEND REQUEST sent, no answer yet
	pouring          // approved, the pour (or the machine's vend) runs until it is booked
)

// Health is the terminal as diagnostics show it.
type Health struct {
	Ready     bool   `json:"ready"`
	State     string `json:"state"`
	Reader    string `json:"reader,omitempty"`
	Level     byte   `json:"level,omitempty"`
	Vends     int    `json:"vends"`
	Denied    int    `json:"denied"`
	Refunded  int    `json:"refunded"`
	Faults    int    `json:"faults"`
	LastError string `json:"last_error,omitempty"`
	Display   string `json:"display,omitempty"`
	// ApprovedToOpen is the last vend's time from VEND APPROVED received
	// to the valve opening.
	ApprovedToOpen time.Duration `json:"approved_to_open_ns"`
}

// Tap is one terminal's controller. Run owns the bus; Select and Health
// may be called from anywhere.
type Tap struct {
	o   Options
	m   *mdb.Master
	j   journal
	sel chan int
	exe chan exeAsk

	mu     sync.Mutex
	health Health

	// Loop state, owned by Run.
	ph        phase
	since     time.Time
	vend      Entry
	ask       *exeAsk // the machine waiting for the open vend's answer
	cancelled bool
	// refund is why a VEND FAILURE the reader never got is due, sent again
	// after Retry from refundAt.
	refund   string
	refundAt time.Time
	// acked: the reader took that VEND FAILURE, only its confirming POLLs
	// were cut off; they are taken up again rather than the command resent.
	acked bool
	// poured is the vend whose pour Authorise opened in this run: its
	// booking, not the terminal, settles it in the journal.
	poured  string
	ready   bool
	lastTry time.Time
	// The port: lost until reopened, tried again at reopenAt; offline
	// from its loss until the reader is set up again (one event for both).
	lost, offline bool
	reopenAt      time.Time
	backoff       time.Duration
}

// Reopening a lost port: first after reopenFirst, then twice as long each
// time up to reopenMax.
const (
	reopenFirst = 500 * time.Millisecond
	reopenMax   = 10 * time.Second
)

// reopener is a bus whose lost port can be opened again (Link).
type reopener interface {
	Reopen(ctx context.Context) error
}

// New builds a terminal controller.
func New(o Options) *Tap {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Retry <= 0 {
		o.Retry = mdb.ResetEvery
	}
	if o.CardType == 0 {
		o.CardType = ttg.CardMDBPre
	}
	return &Tap{o: o, m: o.Master, j: journal{o.Store, fmt.Sprintf("%02X", o.Master.Addr)}, sel: make(chan int, 1), exe: make(chan exeAsk, 1)}
}

// ErrNotSold is a selection of a line the terminal does not sell.
var ErrNotSold = errors.New("the terminal does not sell that line")

// Select picks the line for the session at the terminal (a wall with
// more than one line per terminal needs a selection, as a vending machine
// does). A selection waiting already is replaced.
func (t *Tap) Select(line int) error {
	if !slices.Contains(t.o.Lines, line) {
		return fmt.Errorf("line %d: %w", line, ErrNotSold)
	}
	for {
		select {
		case t.sel <- line:
			return nil
		default:
			select {
			case <-t.sel:
			default:
			}
		}
	}
}

// Health reports the terminal's state and counters.
func (t *Tap) Health() Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.health
}

func (t *Tap) count(f func(h *Health)) {
	t.mu.Lock()
	f(&t.health)
	t.mu.Unlock()
}

func (t *Tap) report(ev device.Event) { t.o.Agent.Report(ev) }

func (t *Tap) fault(what string, err error) {
	if errors.Is(err, mdb.ErrLink) {
		t.portLost(err)
		return
	}
	t.count(func(h *Health) { h.Faults++; h.LastError = what + ": " + err.Error() })
	t.report(device.Event{Type: device.EventMDBFault, Detail: what + ": " + err.Error()})
}

// Run settles what a previous run left in the journal, then serves the
// terminal until ctx ends.
func (t *Tap) Run(ctx context.Context) error {
	if err := t.j.recountCash(); err != nil {
		t.fault("journal", err)
	}
	t.recoverJournal()
	for ctx.Err() == nil {
		t.Turn(ctx)
		sleep(ctx, t.m.Poll)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// Turn is one turn of the bus, which Run takes every poll interval: bring
// the reader up if needed, one POLL, its messages, then the timers of the
// current phase. Exported for benchmarks; not to be called beside Run.
func (t *Tap) Turn(ctx context.Context) {
	if t.lost && !t.reopen(ctx) {
		return
	}
	if !t.up(ctx) {
		return
	}
	msgs, err := t.m.PollOnce(ctx)
	var ce *mdb.ChecksumError
	if err != nil && !errors.Is(err, mdb.ErrTimeout) && !errors.As(err, &ce) && ctx.Err() == nil {
		t.fault("poll", err)
	}
	if err == nil && t.offline && t.ready && !t.m.NeedReset && !t.m.NeedSetup {
		t.announce() // the port is back and the reader answers as it was
	}
	for _, msg := range msgs {
		t.on(ctx, msg)
	}
	// What a command sent just now got in its own response (a VEND
	// REQUEST approved at once) is handled in this turn, not a poll
	// interval later; bounded, as each answer may send a command again.
	for i := 0; i < 4 && t.m.Queued(); i++ {
		msgs, _ := t.m.PollOnce(ctx) // from the inbox: nothing on the bus
		for _, msg := range msgs {
			t.on(ctx, msg)
		}
	}
	if !t.m.NeedReset && !t.m.NeedSetup {
		// A reader that has just reset (or must be) holds no vend: the
		// next turn's recovery settles the open one (§7.4.7), not a VEND
		// SUCCESS or FAILURE it would take out of sequence.
		t.step(ctx)
	}
	t.warnings()
	if !t.lost {
		t.count(func(h *Health) { h.State = t.m.State.String() })
	}
}

// portLost takes the terminal offline once its port failed: one event and
// no more bus traffic until the port is reopened. An approved portion is
// paid for already (all or nothing), so its pour runs on to its end: closing
// the valve would make the customer's money a refund for beer never given.
// The open vend, its phase and its journal entry stay as they are: the
// reader kept its power, and once the port is back it is POLLed before
// anything else, so that the vend is settled with it (SUCCESS for the
// poured portion, a refund if the line stopped short for its own reason),
// or made a sale by a RESET meanwhile (§7.4.7).
func (t *Tap) portLost(err error) {
	if t.lost {
		return
	}
	t.lost = true
	if t.offline { // lost again before the reader came back: reported already
		t.retryLater()
		return
	}
	t.offline, t.backoff = true, reopenFirst
	t.reopenAt = t.o.Now().Add(t.backoff)
	t.count(func(h *Health) { h.Ready, h.State, h.LastError = false, "offline", "port lost: "+err.Error() })
	t.o.Log.Warn("mdb terminal offline: port lost", "err", err)
	t.report(device.Event{Type: device.EventMDBOffline, Detail: "port lost: " + err.Error()})
}

// retryLater doubles the wait before the port is tried again.
func (t *Tap) retryLater() {
	t.backoff = min(2*t.backoff, reopenMax)
	t.reopenAt = t.o.Now().Add(t.backoff)
}

// reopen tries the lost port again when its backoff has passed (a bus that
// cannot reopen is simply tried again). Once it is open a reader that was
// set up is POLLed first, without a RESET: its JUST RESET (it lost power
// too) or its silence for the non-response time leads to the usual
// recovery; any other answer means it is the reader it was, with the open
// vend still its own. A reader never set up is powered up.
func (t *Tap) reopen(ctx context.Context) bool {
	if t.o.Now().Before(t.reopenAt) {
		return false
	}
	if ro, ok := t.m.T.(reopener); ok {
		if err := ro.Reopen(ctx); err != nil {
			t.retryLater()
			t.o.Log.Debug("mdb port still lost", "err", err, "next try in", t.backoff)
			return false
		}
	}
	t.lost, t.lastTry = false, time.Time{}
	t.m.Resume()
	if t.ph == requesting {
		// The reader gets its full time to answer from now on.
		t.since = t.o.Now()
	}
	t.o.Log.Info("mdb port open again: polling the reader")
	return true
}

// up runs the power-up sequence and any recovery the reader needs; a
// reset while a vend is open settles that vend first.
func (t *Tap) up(ctx context.Context) bool {
	if t.m.Offline || t.m.NeedReset || t.m.NeedSetup {
		t.resetDuringVend()
		offline := t.m.Offline
		if offline {
			t.count(func(h *Health) { h.Ready = false })
		}
		if t.ready && !offline || t.o.Now().Sub(t.lastTry) >= t.o.Retry {
			t.lastTry = t.o.Now()
			if err := t.m.Recover(ctx); err != nil {
				t.fault("recovery", err)
				return false
			}
		}
		if (offline || t.offline) && !t.m.Offline {
			t.announce() // back after its silence or its port's loss
		}
		return !t.m.Offline
	}
	if t.ready {
		return true
	}
	if !t.lastTry.IsZero() && t.o.Now().Sub(t.lastTry) < t.o.Retry {
		return false
	}
	t.lastTry = t.o.Now()
	if err := t.m.Init(ctx); err != nil {
		if ctx.Err() == nil {
			t.fault("power-up", err)
		}
		return false
	}
	t.ready = true
	t.announce()
	return true
}

// announce reports the reader set up (at power-up, and again after it
// was offline or its port was lost).
func (t *Tap) announce() {
	t.offline = false
	p := t.m.Periph
	name := strings.TrimSpace(strings.TrimSpace(p.Manufacturer) + " " + strings.TrimSpace(p.Model))
	t.count(func(h *Health) { h.Ready, h.Reader, h.Level = true, name, t.m.Config.Level })
	t.report(device.Event{Type: device.EventMDBReady, Detail: fmt.Sprintf("%s, level %d, currency %04X, scale %d, %d decimals",
		name, t.m.Config.Level, t.m.Config.Currency, t.m.Config.Scale, t.m.Config.Decimals)})
}

func (t *Tap) warnings() {
	for _, w := range t.m.Warnings {
		t.o.Log.Warn("mdb terminal warning", "detail", w)
		t.report(device.Event{Type: device.EventMDBWarning, Detail: w})
	}
	t.m.Warnings = t.m.Warnings[:0]
}

// on handles one message of a POLL reply.
func (t *Tap) on(ctx context.Context, msg mdb.Msg) {
	switch m := msg.(type) {
	case mdb.BeginSession:
		if t.ph != idle {
			return
		}
		t.ph, t.since = session, t.o.Now()
		t.report(device.Event{Type: device.EventMDBSession, Detail: "funds " + t.funds(m.Funds)})
		if t.single() {
			t.request(ctx, t.o.Lines[0])
		}
	case mdb.VendApproved:
		t.onApproved(ctx, m.Amount)
	case mdb.Malfunction:
		t.report(device.Event{Type: device.EventMDBMalfunction, Detail: fmt.Sprintf("reader malfunction %02X", m.Error)})
	case mdb.DisplayRequest:
		t.count(func(h *Health) { h.Display = string(m.Text) })
		t.report(device.Event{Type: device.EventMDBDisplay, Detail: string(m.Text)})
	case mdb.Simple:
		t.onSimple(ctx, byte(m))
	}
}

// onApproved takes a VEND APPROVED: the answer to the open request, a
// repeat of one already taken (the reader missed our ACK and sends it again
// at the next POLL, MDB 4.2 §2.2), or a stray one with no vend open, which
// the reader must not keep.
func (t *Tap) onApproved(ctx context.Context, amt uint32) {
	switch t.ph {
	case requesting:
		t.approved(ctx, amt)
	case pouring:
		t.o.Log.Warn("mdb terminal: VEND APPROVED repeated during the vend, ignored", "vend", t.vend.Vend)
		t.report(device.Event{Type: device.EventMDBWarning, Line: t.vend.Line, Detail: "VEND APPROVED repeated for the open vend (our ACK was lost): ignored"})
	default:
		t.fault("vend", errors.New("VEND APPROVED without a request: VEND FAILURE"))
		if err := t.m.VendFailure(ctx); err != nil {
			t.fault("vend failure", err)
		}
		t.complete(ctx)
	}
}

func (t *Tap) onSimple(ctx context.Context, code byte) {
	switch code {
	case mdb.RspVendDenied:
		if t.ph == requesting {
			t.count(func(h *Health) { h.Denied++ })
			t.report(device.Event{Type: device.EventMDBVendDenied, Line: t.vend.Line, Amount: t.vend.Price, Detail: t.vend.what()})
			t.answer(0, errDenied)
			t.closeVend()
			t.complete(ctx)
		}
	case mdb.RspSessionCancel:
		if t.ph == session {
			t.complete(ctx)
		}
	case mdb.RspEndSession, mdb.RspCancelled:
		if t.ph == session {
			t.ph = idle
		}
		t.report(device.Event{Type: device.EventMDBSessionEnd})
	}
}

// funds prints a session's funds for an event.
func (t *Tap) funds(f uint32) string {
	if f == 0xFFFF || f == 0xFFFFFFFF {
		return "unknown"
	}
	if t.o.Money == nil {
		return strconv.FormatInt(t.amount(f), 10)
	}
	return t.o.Money(t.amount(f))
}

// step runs the current phase's timers and waits.
func (t *Tap) step(ctx context.Context) {
	now := t.o.Now()
	switch t.ph {
	case idle:
		select {
		case l := <-t.sel:
			t.report(device.Event{Type: device.EventMDBRefused, Line: l, Detail: "no card at the terminal"})
		default:
		}
		// A machine's selection waits there until a card comes: answered
		// every time it asks, without starving the housekeeping below.
		select {
		case a := <-t.exe:
			a.answer <- exeAnswer{err: ErrNoCard}
		default:
		}
		t.settleBooked()
		t.cashSale(ctx)
	case session:
		select {
		case l := <-t.sel:
			t.request(ctx, l)
		case a := <-t.exe:
			t.requestItem(ctx, a)
		default:
			if now.Sub(t.since) >= t.o.SelectTimeout {
				t.complete(ctx)
			}
		}
	case requesting:
		switch {
		case !t.cancelled && now.Sub(t.since) >= t.o.VendTimeout:
			// The reader answers VEND DENIED, which closes the vend.
			t.cancelled = true
			if err := t.m.VendCancel(ctx); err != nil {
				t.fault("vend cancel", err)
			}
		case t.cancelled && now.Sub(t.since) >= 2*t.o.VendTimeout:
			t.abandon(ctx)
		}
	case pouring:
		if t.refund != "" {
			// A VEND FAILURE the reader never got: sent again.
			if now.Sub(t.refundAt) >= t.o.Retry {
				t.fail(ctx, t.refund)
			}
			return
		}
		e, ok, err := t.j.get()
		if err != nil {
			t.fault("journal", err)
			return
		}
		if ok && e.Vend == t.vend.Vend && e.State == booked {
			t.vend = e
			t.outcome(ctx)
		}
	}
}

// complete ends the session (END SESSION follows on a POLL).
func (t *Tap) complete(ctx context.Context) {
	t.ph = idle
	if err := t.m.SessionComplete(ctx); err != nil {
		t.fault("session complete", err)
	}
}

func (t *Tap) closeVend() {
	if err := t.j.drop(t.vend.Vend); err != nil {
		t.fault("journal", err)
	}
	t.vend = Entry{}
	t.answer(0, errClosed)
}

// single says whether the terminal sells exactly one thing, so a card at
// it needs no selection.
func (t *Tap) single() bool { return len(t.o.Lines) == 1 && len(t.o.Items) == 0 }
