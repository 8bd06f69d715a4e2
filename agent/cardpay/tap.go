// Package cardpay runs a card reader at the tap: it waits for a card,
// reads it with tapagent's card application and acts by card type —
// prepaid cards pour up to their credit and are debited before the line is
// released, bill-pay cards pour within their limits, online cards are
// looked up on the server, cleaning cards run a cleaning pour, staff cards
// pour a waiter's credit, install and manager cards switch the lines into
// and out of service mode. A prepaid card must stay on the reader while it
// pours: taken away, the pour stops at once and is collected at its next
// tap; a charge whose answer was lost is settled from the card's own
// counters at the next tap. A card is never charged twice; every pour is
// booked, and one the card has not paid is owed in the card journal or
// reported to staff (docs/cards.md says exactly when).
package cardpay

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/storage"
)

// Agent is what a tap needs of the wall.
type Agent interface {
	Authorise(line int, r device.Request) (string, error)
	Stop(line int) error
	CardTap(ctx context.Context, line int, card int64) (string, error)
	WaiterTap(line int, waiter int64) (string, error)
	SetLocked(by device.Actor, line int, locked bool) error
	ChangeKeg(by device.Actor, c device.KegChange) error
	Kegs() []device.KegInfo
	Status() []device.LineStatus
	Report(ev device.Event)
}

// Reader is the PN532 as a tap uses it.
type Reader interface {
	// Ready checks the chip and configures it (SAMConfiguration): after a
	// chip reset it is the way back.
	Ready(ctx context.Context) (pn532.Firmware, error)
	ListTarget(ctx context.Context, timeout time.Duration) (pn532.Target, bool, error)
	WaitTarget(ctx context.Context, wait time.Duration) (pn532.Target, bool, error)
	SetRetries(ctx context.Context, passive byte) error
	Field(ctx context.Context, on bool) error
	Release(ctx context.Context, tg byte) error
	Exchange(ctx context.Context, tg byte, data []byte, timeout time.Duration) ([]byte, error)
}

// Events a tap reports.
const (
	EvCardRead      = "card_read"
	EvCardRefused   = "card_refused"
	EvCardCharged   = "card_charged"
	EvCardUnpaid    = "card_unpaid"         // pulled before the commit: collected at the next tap
	EvCardUnknown   = "card_charge_unknown" // commit sent, answer lost: settled at the next tap
	EvCardSettled   = "card_charge_settled"
	EvCardAmbiguous = "card_charge_ambiguous"
	// EvCardAssumed: a lost commit on a first-layout card counts as
	// charged, but its counters cannot prove it (see Entry.Resolve).
	EvCardAssumed = "card_charge_assumed"
	EvCardRemoved = "card_removed"
	EvServiceMode = "service_mode"
	EvReaderFault = "reader_fault"
)

// Options configure a tap.
type Options struct {
	Reader Reader
	Agent  Agent
	Store  *storage.Store
	Keys   cardapp.Keys
	// Lines are the lines this reader serves; a prepaid card may pour on
	// any of them, and the first that flows takes the authorisation.
	Lines    []int
	UIDOrder string
	// Wrap sends DESFire commands as ISO 7816-4 APDUs.
	Wrap bool
	// Pause selects the host's polling: a look at the field, then Poll
	// with the RF field off. By default the PN532 polls by itself
	// (retries 0xFF) and answers the moment a card lands, with the field
	// on; Poll is then only the pause between the looks that wait for a
	// card to be taken away.
	Pause bool
	// Poll is the pause between looks at an empty field (50 ms);
	// Presence how often a card is checked while it pours (250 ms).
	Poll, Presence time.Duration
	// Linger is how long a tap whose context ends mid-pour waits for the
	// pour's booking to make it owed (2 s); a booking later than that
	// makes it owed all the same (Settle).
	Linger time.Duration
	Now    func() time.Time
	Log    *slog.Logger
	// Hash names a card in events without its UID.
	Hash func(uid int64) string
}

// Tap is one reader's controller.
type Tap struct {
	o   Options
	j   journal
	evs chan device.Event

	mu     sync.Mutex
	wants  map[string]bool // pour ids whose events the running tap waits for
	health Health
}

// Health is the reader's state as a tap sees it, for diagnostics.
type Health struct {
	Reader       pn532.Stats `json:"reader"`
	Taps         int         `json:"taps"`
	Faults       int         `json:"faults"`
	LastDetected time.Time   `json:"last_detected,omitzero"`
	// LastRead is the last card's read, from activation to "card_read".
	LastRead time.Duration `json:"last_read_ns"`
}

// Health reports the reader's counters.
func (t *Tap) Health() Health {
	t.mu.Lock()
	h := t.health
	t.mu.Unlock()
	if s, ok := t.o.Reader.(interface{ Stats() pn532.Stats }); ok {
		h.Reader = s.Stats()
	}
	return h
}

// New builds a tap controller.
func New(o Options) *Tap {
	if o.Poll <= 0 {
		o.Poll = 50 * time.Millisecond
	}
	if o.Presence <= 0 {
		o.Presence = 250 * time.Millisecond
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Hash == nil {
		o.Hash = func(int64) string { return "" }
	}
	return &Tap{o: o, j: journal{o.Store}, evs: make(chan device.Event, 64), wants: map[string]bool{}}
}

// Observe takes the agent's events; only the bookings of the pours a tap
// waits for are kept (at most one per served line at a time, so the buffer
// never fills), and it never blocks the agent.
func (t *Tap) Observe(ev device.Event) {
	if ev.PourID == "" || ev.Type != device.EvBooked {
		return
	}
	t.mu.Lock()
	want := t.wants[ev.PourID]
	t.mu.Unlock()
	if want {
		select {
		case t.evs <- ev:
		default:
		}
	}
}

// Retry counts of passive activation (RFConfiguration item 5).
const (
	retriesForever = 0xFF // the chip polls until a card comes
	retriesLook    = 0x01 // one look: an empty field is reported at once
)

// Run serves the reader until ctx ends.
func (t *Tap) Run(ctx context.Context) error {
	t.reportBooked()
	configured := false
	for ctx.Err() == nil {
		if !configured {
			if err := t.o.Reader.SetRetries(ctx, t.detectRetries()); err != nil {
				t.fault(ctx, err)
				t.o.Reader.Ready(ctx) // a chip reset loses the configuration
				continue
			}
			configured = true
		}
		tg, ok, err := t.detect(ctx)
		switch {
		case err != nil:
			t.fault(ctx, err)
			t.o.Reader.Ready(ctx)
			configured = false
			continue
		case !ok:
			continue
		}
		t.mu.Lock()
		t.health.Taps++
		t.health.LastDetected = time.Now()
		t.mu.Unlock()
		away := false
		if tg.DESFire() {
			away = t.tap(ctx, tg)
		} else {
			t.report(device.Event{Type: EvCardRefused, Detail: fmt.Sprintf("not a DESFire card (ATQA %02X %02X, SAK %02X)", tg.ATQA[0], tg.ATQA[1], tg.SAK)})
		}
		t.o.Reader.Release(ctx, 0)
		if !away {
			t.waitRemoved(ctx)
		}
		configured = t.o.Pause // waitRemoved looked with limited retries
	}
	return nil
}

// reportBooked tells staff of the pours booked while no tap watched (the
// agent stopped or lost power mid-pour): each is owed now, collected at
// the card's next tap.
func (t *Tap) reportBooked() {
	all, err := t.j.all()
	if err != nil {
		t.o.Log.Error("card journal", "err", err)
		return
	}
	for uid, e := range all {
		if e.State != stateOwed || !e.Booked {
			continue
		}
		e.Booked = false
		if err := t.j.put(uid, e); err != nil {
			t.o.Log.Error("card journal", "err", err)
		}
		t.report(device.Event{Type: EvCardUnpaid, Card: t.hashOf(uid), PourID: e.PourID, Amount: e.Amount,
			Detail: "pour booked after the agent stopped mid-pour: owed, collected at the card's next tap"})
	}
}

// hashOf names a card by its journal key (UID in hex) as events do.
func (t *Tap) hashOf(uid string) string {
	raw, err := hex.DecodeString(uid)
	if err != nil {
		return ""
	}
	dec, err := cardapp.UIDDecimal(raw, t.o.UIDOrder)
	if err != nil {
		return ""
	}
	id, err := strconv.ParseInt(dec, 10, 64)
	if err != nil {
		return ""
	}
	return t.o.Hash(id)
}

func (t *Tap) detectRetries() byte {
	if t.o.Pause {
		return retriesLook
	}
	return retriesForever
}

// detect waits for the next card: the chip's own polling, or a look and
// a pause with the field off.
func (t *Tap) detect(ctx context.Context) (pn532.Target, bool, error) {
	if !t.o.Pause {
		return t.o.Reader.WaitTarget(ctx, time.Second)
	}
	tg, ok, err := t.o.Reader.ListTarget(ctx, time.Second)
	if err == nil && !ok {
		// Off between polls: less power, and a card left on the reader
		// starts from scratch at the next look.
		t.o.Reader.Field(ctx, false)
		sleep(ctx, t.o.Poll)
	}
	return tg, ok, err
}

func (t *Tap) fault(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // shutting down: not the reader's fault
	}
	t.mu.Lock()
	t.health.Faults++
	t.mu.Unlock()
	t.report(device.Event{Type: EvReaderFault, Detail: err.Error()})
	sleep(ctx, time.Second)
}

// waitRemoved lets a card that stays on the reader pour once, not again:
// it returns when two looks in a row found the field empty, or ctx ends.
// A look that could not be made is not an empty field: it is tried
// again, and after a few failures in a row the chip is set up afresh
// (a chip reset mid-wait is back at its defaults, retrying forever and
// unconfigured), reported as a reader fault.
func (t *Tap) waitRemoved(ctx context.Context) {
	limited := t.o.Pause // paused polling looks with limited retries already
	failed := 0
	fail := func(err error) {
		failed++
		if failed < waitFailures {
			sleep(ctx, t.o.Poll)
			return
		}
		t.fault(ctx, err)
		if _, err := t.o.Reader.Ready(ctx); err != nil {
			t.fault(ctx, err)
		}
		failed, limited = 0, false
	}
	// Two empty looks in a row: one look that misses a card still on the
	// reader (an RF glitch) must not let it pour again.
	for empty := 0; empty < 2 && ctx.Err() == nil; {
		if !limited {
			if err := t.o.Reader.SetRetries(ctx, retriesLook); err != nil {
				empty = 0
				fail(err)
				continue
			}
			limited = true
		}
		// The field off first, long enough to reset the card: one the
		// chip left ACTIVE (or HALTed by the release) answers no REQA
		// (ISO/IEC 14443-3); powered up again it is IDLE and answers.
		if err := t.o.Reader.Field(ctx, false); err != nil {
			empty = 0
			fail(err)
			continue
		}
		sleep(ctx, pn532.RFReset)
		_, ok, err := t.o.Reader.ListTarget(ctx, time.Second)
		switch {
		case err != nil:
			empty = 0
			fail(err)
			continue
		case !ok:
			empty, failed = empty+1, 0
			continue
		}
		t.o.Reader.Release(ctx, 0)
		empty, failed = 0, 0
		sleep(ctx, t.o.Poll)
	}
}

// waitFailures is how many failed looks in a row make waitRemoved set the
// chip up again.
const waitFailures = 3

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (t *Tap) report(ev device.Event) { t.o.Agent.Report(ev) }

// card is a card being served.
type card struct {
	s    *cardapp.Session
	c    cardapp.Card
	id   int64  // the TTG card id (decimal UID)
	key  string // journal key: the real UID, also of a random-UID card
	hash string
}

// stale forgets what was read of the card in a session that ended.
func (cd *card) stale() { cd.c.ServingsRead, cd.c.LastRead = false, false }

// tap reads a card and serves it by type; it reports whether the card
// was seen to leave (so the next presentation is a new tap).
func (t *Tap) tap(ctx context.Context, tg pn532.Target) bool {
	dc := desfire.New(exchanger{t.o.Reader, tg.Tg})
	dc.Wrap = t.o.Wrap
	s := &cardapp.Session{C: dc, UID: tg.UID, Keys: t.o.Keys}
	// The servings counter costs a round trip: read here only for a card
	// with a limit (ReadFor sees that), and later for a charge.
	c, err := s.ReadFor(ctx, false)
	if err != nil {
		t.report(device.Event{Type: EvCardRefused, Detail: "card not readable: " + err.Error()})
		return gone(err)
	}
	dec, err := cardapp.UIDDecimal(c.UID, t.o.UIDOrder)
	if err != nil {
		t.report(device.Event{Type: EvCardRefused, Detail: err.Error()})
		return false
	}
	id, err := strconv.ParseInt(dec, 10, 64)
	if err != nil {
		t.report(device.Event{Type: EvCardRefused, Detail: "card id does not fit TTG's card_id"})
		return false
	}
	cd := &card{s: s, c: c, id: id, key: hex.EncodeToString(c.UID), hash: t.o.Hash(id)}
	t.mu.Lock()
	t.health.LastRead = time.Since(t.health.LastDetected)
	read := t.health.LastRead
	t.mu.Unlock()
	t.report(device.Event{Type: EvCardRead, Card: cd.hash, Detail: fmt.Sprintf("type %d, read in %d ms", c.Info.Type, read.Milliseconds())})
	if why := t.settle(ctx, cd); why != "" {
		t.report(device.Event{Type: EvCardRefused, Card: cd.hash, Detail: why})
		return false
	}
	if c.Info.Expired(t.o.Now()) {
		t.report(device.Event{Type: EvCardRefused, Card: cd.hash, Detail: "card expired " + c.Info.Expires.Format(time.DateOnly)})
		return false
	}
	return t.serve(ctx, cd)
}

// exchanger is a target as a desfire.Transceiver.
type exchanger struct {
	r  Reader
	tg byte
}

func (e exchanger) Transceive(ctx context.Context, frame []byte) ([]byte, error) {
	return e.r.Exchange(ctx, e.tg, frame, 500*time.Millisecond)
}

// gone tells a card that has left the field from other errors.
func gone(err error) bool {
	var rf *pn532.RFError
	return errors.As(err, &rf) && rf.Gone() || errors.Is(err, pn532.ErrTimeout)
}
