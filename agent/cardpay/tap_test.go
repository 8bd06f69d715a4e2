package cardpay_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/tapagent/tapagent/internal/testwait"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/internal/walltest"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/nfcsim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

var keys = cardapp.Keys{AID: cardapp.DefaultAID, PICC: desfire.Key{Type: desfire.DES, Bytes: make([]byte, 8)},
	Issuer: aesKey(0xA0), Tap: aesKey(0xA1), Charger: aesKey(0xA2), Diversify: true, SystemID: []byte("tapagent")}

func aesKey(b byte) desfire.Key {
	return desfire.Key{Type: desfire.AES, Bytes: bytes.Repeat([]byte{b}, 16)}
}

// field gives the issuer direct access to a card, as a charger would have.
type field struct{ c *nfcsim.Card }

func (f field) Transceive(_ context.Context, frame []byte) ([]byte, error) {
	return f.c.Handle(frame), nil
}

func issued(t testing.TB, seed uint64, info cardapp.Info, credit int64) *nfcsim.Card {
	c := nfcsim.NewCard(seed)
	uid, _, _, _ := c.Activation()
	s := &cardapp.Session{C: desfire.New(field{c}), UID: uid, Keys: keys}
	if err := s.Issue(context.Background(), info, credit); err != nil {
		t.Fatal(err)
	}
	return c
}

// rig is the simulated wall on virtual time, the agent, a simulated PN532
// on a pseudo-terminal and the tap controller on the real driver.
type rig struct {
	t      testing.TB
	wall   *simwall.Wall
	agent  *device.Agent
	reader *nfcsim.Reader
	store  *storage.Store
	// journal is the tap's store: the agent's, or its own (ownJournal).
	journal *storage.Store
	tap     *cardpay.Tap
	ev      walltest.Events
	// stop ends the tap's context (the agent shutting down); ran is
	// closed when its Run returns.
	stop func()
	ran  chan struct{}
	cfg  *config.Config
	clk  *clock.Manual
}

func newRig(t testing.TB, lines ...int) *rig {
	return newRigWith(t, rigOptions{poll: 5 * time.Millisecond}, lines...)
}

// rigOptions are a rig's reader: its timing and faults (reader), and the
// tap's polling.
type rigOptions struct {
	reader *nfcsim.Reader
	poll   time.Duration
	pause  bool
	keys   *cardapp.Keys
	// ownJournal gives the tap a store of its own, which a test may
	// close to make the charge journal fail.
	ownJournal bool
	// linger is the tap's wait for a booking when it stops mid-pour.
	linger time.Duration
	// noWake: the tap is not woken after a booking commits.
	noWake bool
}

func newRigWith(t testing.TB, o rigOptions, lines ...int) *rig {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	for i := range cfg.Sim.Lines {
		cfg.Sim.Lines[i].AirBurstsPerMin = 0
	}
	clk := clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))
	if o.reader == nil {
		o.reader = &nfcsim.Reader{}
	}
	r := &rig{t: t, reader: o.reader, cfg: cfg, clk: clk}
	if r.wall, err = simwall.NewWall(cfg, clk); err != nil {
		t.Fatal(err)
	}
	if r.store, err = storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{}); err != nil {
		t.Fatal(err)
	}
	var tap *cardpay.Tap
	r.agent, err = device.New(device.Options{Config: cfg, Clock: clk, Store: r.store, Valves: r.wall.Valves, Meters: r.wall.Meters,
		Settle: cardpay.Settle, Emit: r.ev.Add, OnBooked: func() {
			if tap != nil && !o.noWake {
				tap.Booked()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.agent.Start(); err != nil {
		t.Fatal(err)
	}
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { r.reader.Serve(ctx, s); close(served) }()
	d := pn532.NewDevice(pn532.NewHSU(pty.File{File: m}), pn532.Options{})
	if _, err := d.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	k := keys
	if o.keys != nil {
		k = *o.keys
	}
	r.journal = r.store
	if o.ownJournal {
		if r.journal, err = storage.Open(filepath.Join(cfg.Device.DataDir, "journal.db"), storage.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	r.tap = cardpay.New(cardpay.Options{Reader: d, Agent: r.agent, Store: r.journal, Keys: k, Lines: lines,
		Poll: o.poll, Pause: o.pause, Presence: 20 * time.Millisecond, Linger: o.linger, Now: clk.Now})
	tap = r.tap
	ran := make(chan struct{})
	go func() { r.tap.Run(ctx); close(ran) }()
	r.stop, r.ran = stop, ran
	t.Cleanup(func() {
		stop()
		<-ran
		s.Close()
		m.Close()
		<-served
		r.agent.Close()
		r.store.Close()
		r.journal.Close()
	})
	return r
}

// until runs the wall on virtual time, with a little real time for the
// reader, until cond holds.
func (r *rig) until(what string, cond func() bool) {
	r.t.Helper()
	walltest.Loop{Wall: r.wall, Agent: r.agent, Events: &r.ev, Pause: 200 * time.Microsecond}.Until(r.t, what, cond)
}

// takeAway takes the card off the reader and waits, in real time, until
// the tap has seen it leave and waits for the next card. Put the card back
// after it for a new tap.
func (r *rig) takeAway() {
	r.t.Helper()
	n := r.tap.Health().Left
	r.reader.Remove()
	testwait.Until(r.t, 15*time.Second, "the tap sees the card gone", func() bool { return r.tap.Health().Left > n })
}

func (r *rig) event(typ device.EventType) (device.Event, bool) { return r.ev.Find(typ) }
func (r *rig) count(typ device.EventType) int                  { return r.ev.Count(typ) }
func (r *rig) has(typ device.EventType) func() bool            { return r.ev.Has(typ) }
func (r *rig) types() string                                   { return r.ev.String() }

// pour is a guest drawing about 300 mL on a line.
func (r *rig) pour(line int) {
	r.wall.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: 100}, {T: 3 * time.Second, MLs: 100}, {T: 3100 * time.Millisecond, MLs: 0}})
}

var guest = cardapp.Info{Type: ttg.CardPre, Name: "Guest", Alcohol: true}

func TestPrepaidPourIsDebitedOnTheCard(t *testing.T) {
	r := newRig(t, 1, 2)
	card := issued(t, 1, guest, 2000)
	r.reader.Put(card)
	r.until("both served lines authorised", func() bool { return r.count(device.EventPourAuthorised) == 2 })
	r.pour(2)
	r.until("card charged", r.has(device.EventCardCharged))
	charged, _ := r.event(device.EventCardCharged)
	if charged.Amount <= 0 {
		t.Fatalf("charged %+v\n%s", charged, r.types())
	}
	v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
	if int64(v) != 2000-charged.Amount {
		t.Fatalf("card credit %d after a charge of %d", v, charged.Amount)
	}
	// Line 1's authorisation ended when line 2 started to flow.
	if r.count(device.EventPourBooked) != 2 {
		t.Fatalf("bookings: %s", r.types())
	}
}

func TestCardTakenAwayMidPourIsCollectedAtTheNextTap(t *testing.T) {
	r := newRig(t, 1)
	card := issued(t, 2, guest, 2000)
	r.pourAWhile(card)
	r.reader.Remove()
	r.until("unpaid", r.has(device.EventCardUnpaid))
	unpaid, _ := r.event(device.EventCardUnpaid)
	booked, _ := r.event(device.EventPourBooked)
	if booked.Volume <= 0 || unpaid.Amount != booked.Amount || unpaid.PourID != booked.PourID {
		t.Fatalf("booked %+v unpaid %+v", booked, unpaid)
	}
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); v != 2000 {
		t.Fatalf("nothing may be charged while the card is away: %d", v)
	}
	r.reader.Put(card)
	r.until("collected", r.has(device.EventCardChargeSettled))
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); int64(v) != 2000-unpaid.Amount {
		t.Fatalf("after collection: %d", v)
	}
}

// legacy turns an issued card into one of the first layout (no
// last-pour file), as cards issued before it carry.
func legacy(c *nfcsim.Card) *nfcsim.Card {
	app := c.Apps[cardapp.DefaultAID]
	delete(app.Files, cardapp.FileLastPour)
	app.Files[cardapp.FileInfo].Data[0] = 1
	return c
}

// hasFile4: the card has the last-pour file (today's layout).
func hasFile4(c *nfcsim.Card) bool {
	_, ok := c.Apps[cardapp.DefaultAID].Files[cardapp.FileLastPour]
	return ok
}

// layouts runs a test on a card of today's layout and of the first one.
func layouts(t *testing.T, f func(t *testing.T, card func(seed uint64, servings int32) *nfcsim.Card)) {
	for _, old := range []bool{false, true} {
		t.Run(map[bool]string{false: "last-pour file", true: "first layout"}[old], func(t *testing.T) {
			f(t, func(seed uint64, servings int32) *nfcsim.Card {
				c := issued(t, seed, guest, 2000)
				c.SetValue(cardapp.DefaultAID, cardapp.FileServings, servings)
				if old {
					legacy(c)
				}
				return c
			})
		})
	}
}

// TestLostCommitAnswerIsDecidedOnTheCard: a commit whose answer is lost
// while the card stays is checked on the card at once; a card that left
// with it (power lost after or before the commit took effect) is settled
// at its next tap. Either way the pour is charged exactly once, also on a
// card of the first layout that had poured before (its servings counter
// is not 0).
func TestLostCommitAnswerIsDecidedOnTheCard(t *testing.T) {
	layouts(t, func(t *testing.T, newCard func(uint64, int32) *nfcsim.Card) {
		cases := []struct {
			name string
			set  func(r *rig, c *nfcsim.Card)
			left bool
		}{
			{"answer lost, card stays", func(r *rig, c *nfcsim.Card) { r.reader.LoseAnswer = func(cmd byte) bool { return cmd == 0xC7 } }, false},
			{"torn after the commit", func(r *rig, c *nfcsim.Card) { c.Torn = func(cmd byte) bool { return cmd == 0xC7 } }, true},
			{"torn before the commit", func(r *rig, c *nfcsim.Card) { c.Silent = func(cmd byte) bool { return cmd == 0xC7 } }, true},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := newRig(t, 1)
				card := newCard(uint64(30+i), 3)
				tc.set(r, card)
				r.tapAndPour(card, "booked", device.EventPourBooked)
				booked, _ := r.event(device.EventPourBooked)
				if tc.left {
					r.until("outcome unknown", r.has(device.EventCardChargeUnknown))
					// Torn after the commit on a first-layout card: its counters
					// show ours, but a charge of the same amount elsewhere
					// would show the same: counted as charged, flagged.
					want := device.EventCardChargeSettled
					if !hasFile4(card) && card.Torn != nil {
						want = device.EventCardChargeAssumed
					}
					r.reader.LoseAnswer, card.Silent, card.Torn = nil, nil, nil
					r.takeAway()
					card.PutBack()
					r.reader.Put(card)
					r.until(string(want), r.has(want))
				} else {
					r.until("charged", r.has(device.EventCardCharged))
				}
				v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
				servings, _ := card.Value(cardapp.DefaultAID, cardapp.FileServings)
				if int64(v) != 2000-booked.Amount || servings != 4 {
					t.Fatalf("credit %d, servings %d: a %d charge must be taken exactly once\n%s", v, servings, booked.Amount, r.types())
				}
				if r.count(device.EventCardChargeAmbiguous) > 0 || r.count(device.EventCardRefused) > 0 {
					t.Fatalf("refused: %s", r.types())
				}
			})
		}
	})
}

// charger tops a card up directly, as a charger's station would.
func charger(t *testing.T, c *nfcsim.Card, amount int64) {
	t.Helper()
	uid, _, _, _ := c.Activation()
	s := &cardapp.Session{C: desfire.New(field{c}), UID: uid, Keys: keys}
	if _, err := s.TopUp(context.Background(), amount); err != nil {
		t.Fatal(err)
	}
}

// TestTornCommitThenTopUp: a commit torn as the card left (it took
// effect, or it did not), then a top-up at a charger, then the next tap:
// the pour ends paid exactly once.
func TestTornCommitThenTopUp(t *testing.T) {
	layouts(t, func(t *testing.T, newCard func(uint64, int32) *nfcsim.Card) {
		for i, took := range []bool{true, false} {
			t.Run(map[bool]string{true: "commit took effect", false: "commit did not"}[took], func(t *testing.T) {
				r := newRig(t, 1)
				card := newCard(uint64(40+i), 2)
				if took {
					card.Torn = func(cmd byte) bool { return cmd == 0xC7 }
				} else {
					card.Silent = func(cmd byte) bool { return cmd == 0xC7 }
				}
				booked := r.unknownThenBack(card)
				charger(t, card, 500)
				r.reader.Put(card)
				// A first-layout card that took the charge and a top-up
				// cannot prove it: counted as charged, flagged for staff.
				want := device.EventCardChargeSettled
				if took && card.Apps[cardapp.DefaultAID].Files[cardapp.FileLastPour] == nil {
					want = device.EventCardChargeAssumed
				}
				r.until(string(want), r.has(want))
				v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
				servings, _ := card.Value(cardapp.DefaultAID, cardapp.FileServings)
				if int64(v) != 2500-booked.Amount || servings != 3 {
					t.Fatalf("credit %d, servings %d after a %d pour and a 500 top-up\n%s", v, servings, booked.Amount, r.types())
				}
			})
		}
	})
}

// TestTornCommitThenChargedElsewhere: a commit torn as the card left,
// then pours charged at another wall's readers (their own pour ids in
// file 4), then back here: the pour is paid exactly once; what the card
// cannot tell goes to staff (ambiguous) or, on a first-layout card whose
// counters fit both stories, counts as charged and is flagged (assumed).
// Never a second charge.
func TestTornCommitThenChargedElsewhere(t *testing.T) {
	const settled, ambiguous, assumed = "settled", "ambiguous", "assumed"
	// Pour ids as a wall makes them: "2002-17" (file 4 keeps 3 of them
	// behind ours) and, past its pour 1000, "2002-1000" (2).
	const short, long = 17, 1000
	const same = 0 // a pour elsewhere of our amount
	cases := []struct {
		name      string
		took      bool
		elsewhere int
		first     int   // the first pour number elsewhere
		each      int64 // each pour elsewhere, against ours of about 390
		file4     string
		layout1   string // ours is the card's first pour: servings before 0
	}{
		{"took effect, one pour elsewhere", true, 1, short, 100, settled, ambiguous},
		{"did not, one smaller pour elsewhere", false, 1, short, 100, settled, assumed},
		{"did not, one larger pour elsewhere", false, 1, short, 500, settled, ambiguous},
		{"did not, one pour of the same amount elsewhere", false, 1, short, same, settled, assumed},
		{"took effect, two pours elsewhere", true, 2, short, 100, settled, ambiguous},
		{"took effect, three pours elsewhere", true, 3, short, 100, ambiguous, ambiguous},
		{"did not, three pours elsewhere", false, 3, short, 100, settled, ambiguous},
		{"did not, four pours elsewhere", false, 4, short, 100, ambiguous, ambiguous},
		{"took effect, two long-id pours elsewhere", true, 2, long, 100, settled, ambiguous},
		{"did not, two long-id pours elsewhere", false, 2, long, 100, settled, ambiguous},
		{"took effect, three long-id pours elsewhere", true, 3, long, 100, ambiguous, ambiguous},
		{"did not, three long-id pours elsewhere", false, 3, long, 100, ambiguous, ambiguous},
	}
	ev := map[string]device.EventType{settled: device.EventCardChargeSettled, ambiguous: device.EventCardChargeAmbiguous, assumed: device.EventCardChargeAssumed}
	for _, old := range []bool{false, true} {
		for i, tc := range cases {
			want := map[bool]string{false: tc.file4, true: tc.layout1}[old]
			t.Run(fmt.Sprintf("%s/layout %d", tc.name, map[bool]int{false: 2, true: 1}[old]), func(t *testing.T) {
				r := newRig(t, 1)
				card := issued(t, uint64(60+i), guest, 2000)
				if old {
					legacy(card)
				}
				if tc.took {
					card.Torn = func(cmd byte) bool { return cmd == 0xC7 }
				} else {
					card.Silent = func(cmd byte) bool { return cmd == 0xC7 }
				}
				booked := r.unknownThenBack(card)
				each := tc.each
				if each == same {
					each = booked.Amount
				}
				for n := range tc.elsewhere {
					chargeElsewhereBy(t, card, each, fmt.Sprintf("2002-%d", tc.first+n))
				}
				r.reader.Put(card)
				r.until(want, r.has(ev[want]))
				credit := 2000 - each*int64(tc.elsewhere)
				if tc.took || want == settled {
					credit -= booked.Amount // ours once: on the card already, or collected now
				}
				if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); int64(v) != credit {
					t.Fatalf("credit %d, want %d (ours %d)\n%s", v, credit, booked.Amount, r.types())
				}
			})
		}
	}
}

// TestResolveRecordsBothCounters: the corrected rule on the counters of a
// first-layout card.
func TestResolveRecordsBothCounters(t *testing.T) {
	cases := []struct {
		name             string
		before           int64 // servings before the charge
		credit, servings int64
		want             cardpay.Outcome
	}{
		{"committed", 5, 700, 6, cardpay.Committed},
		{"not committed", 5, 1000, 5, cardpay.NotCommitted},
		{"committed then a 500 top-up, or 100 elsewhere then a 300 top-up", 5, 1200, 6, cardpay.Assumed},
		{"not committed, then a 500 top-up", 5, 1500, 5, cardpay.NotCommitted},
		{"not committed, 500 charged elsewhere", 5, 500, 6, cardpay.NotCommitted},
		{"committed then a 300 top-up, or 500 elsewhere then a 500 top-up", 5, 1000, 6, cardpay.Assumed},
		{"not committed, 100 charged elsewhere, no top-up", 5, 900, 6, cardpay.Assumed},
		{"two charges since", 5, 400, 7, cardpay.Ambiguous},
		{"servings reset by a charger", 5, 700, 0, cardpay.Ambiguous},
		{"a debit whose serving vanished", 5, 700, 5, cardpay.Ambiguous},
		// Servings-before 0: a reset since cannot be seen in the servings.
		{"first pour, committed", 0, 700, 1, cardpay.Committed},
		{"first pour, not committed", 0, 1000, 0, cardpay.NotCommitted},
		{"first pour, committed then reset", 0, 700, 0, cardpay.Ambiguous},
		{"first pour, committed, reset, a top-up", 0, 1200, 0, cardpay.Ambiguous},
		{"first pour, committed, reset, 100 charged elsewhere", 0, 600, 1, cardpay.Ambiguous},
		{"first pour, not committed, 100 elsewhere then a top-up", 0, 1100, 1, cardpay.Assumed},
	}
	for _, tc := range cases {
		e := cardpay.Entry{CreditBefore: 1000, ServingsBefore: tc.before, Amount: 300, Servings: 1}
		if got := e.Resolve(tc.credit, tc.servings); got != tc.want {
			t.Errorf("%s (servings before %d; credit %d servings %d): %v, want %v", tc.name, tc.before, tc.credit, tc.servings, got, tc.want)
		}
	}
	noServing := cardpay.Entry{CreditBefore: 1000, Amount: 300}
	for credit, want := range map[int64]cardpay.Outcome{700: cardpay.Committed, 1000: cardpay.NotCommitted, 1200: cardpay.Ambiguous} {
		if got := noServing.Resolve(credit, 0); got != want {
			t.Errorf("without a serving, credit %d: %v, want %v", credit, got, want)
		}
	}
}

// TestRandomUIDCardPours: a random-ID card (ATQA 03 04) pours and is
// charged under its real UID.
func TestRandomUIDCardPours(t *testing.T) {
	c := nfcsim.NewCard(50)
	c.RandomUID = true
	uid, _, _, _ := c.Activation()
	undiversified := keys
	undiversified.Diversify = false
	s := &cardapp.Session{C: desfire.New(field{c}), UID: uid, Keys: undiversified}
	if err := s.Issue(context.Background(), guest, 2000); err != nil {
		t.Fatal(err)
	}
	rr := newRigWith(t, rigOptions{poll: 5 * time.Millisecond, keys: &undiversified}, 1)
	rr.reader.Put(c)
	rr.until("authorised", rr.has(device.EventPourAuthorised))
	rr.pour(1)
	rr.until("charged", rr.has(device.EventCardCharged))
	charged, _ := rr.event(device.EventCardCharged)
	if v, _ := c.Value(cardapp.DefaultAID, cardapp.FileCredit); int64(v) != 2000-charged.Amount {
		t.Fatalf("credit %d after %d", v, charged.Amount)
	}
	if ev, _ := rr.event(device.EventCardRead); ev.Type == "" || rr.count(device.EventCardRefused) > 0 {
		t.Fatalf("events %s", rr.types())
	}
}

// TestSingleGlitchDoesNotStopThePour: one CRC error in authentication and
// one in a presence check while pouring: the pour goes on and is charged
// once, with one serving.
func TestSingleGlitchDoesNotStopThePour(t *testing.T) {
	var mu sync.Mutex
	armed := map[byte]bool{0xAA: true}
	reader := &nfcsim.Reader{RFError: func(cmd byte) byte {
		mu.Lock()
		defer mu.Unlock()
		if armed[cmd] {
			armed[cmd] = false
			return 0x02
		}
		return 0
	}}
	r := newRigWith(t, rigOptions{reader: reader, poll: 5 * time.Millisecond}, 1)
	card := issued(t, 51, guest, 2000)
	r.reader.Put(card)
	r.until("authorised", r.has(device.EventPourAuthorised))
	mu.Lock()
	armed[0x6C] = true // the next presence check
	mu.Unlock()
	r.pour(1)
	r.until("charged", r.has(device.EventCardCharged))
	if r.count(device.EventCardRemoved) != 0 || r.count(device.EventPourAuthorised) != 1 {
		t.Fatalf("a glitch stopped the pour: %s", r.types())
	}
	mu.Lock()
	left := armed[0x6C] || armed[0xAA]
	mu.Unlock()
	if left {
		t.Fatal("the glitches were never played")
	}
	charged, _ := r.event(device.EventCardCharged)
	v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
	servings, _ := card.Value(cardapp.DefaultAID, cardapp.FileServings)
	if int64(v) != 2000-charged.Amount || servings != 1 {
		t.Fatalf("credit %d servings %d after %d", v, servings, charged.Amount)
	}
}

// TestUncertainDebitIsCheckedNotResent: the answers of a Debit and,
// separately, of its servings count are lost (the card did them, in a
// transaction that was never committed): the tap does not send them again
// in that session; it opens a new one, which drops the uncommitted
// changes, reads the card and charges once.
func TestUncertainDebitIsCheckedNotResent(t *testing.T) {
	for _, code := range []byte{0xDC, 0x0C} {
		t.Run(fmt.Sprintf("%02X", code), func(t *testing.T) {
			var mu sync.Mutex
			armed := false
			reader := &nfcsim.Reader{LoseAnswer: func(cmd byte) bool {
				mu.Lock()
				defer mu.Unlock()
				if armed && cmd == code {
					armed = false
					return true
				}
				return false
			}}
			r := newRigWith(t, rigOptions{reader: reader, poll: 5 * time.Millisecond}, 1)
			card := issued(t, 55+uint64(code), guest, 2000)
			r.reader.Put(card)
			r.until("authorised", r.has(device.EventPourAuthorised))
			mu.Lock()
			armed = true
			mu.Unlock()
			r.pour(1)
			r.until("charged", r.has(device.EventCardCharged))
			booked, _ := r.event(device.EventPourBooked)
			v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
			servings, _ := card.Value(cardapp.DefaultAID, cardapp.FileServings)
			if int64(v) != 2000-booked.Amount || servings != 1 {
				t.Fatalf("credit %d servings %d after a %d pour\n%s", v, servings, booked.Amount, r.types())
			}
		})
	}
}

// TestCommitNeverReachingTheCard: every commit fails on the RF side
// while the card stays (it is asked and shows nothing): the pour is not
// taken as paid; it stays unknown and is paid once at the next tap.
func TestCommitNeverReachingTheCard(t *testing.T) {
	var mu sync.Mutex
	broken := true
	reader := &nfcsim.Reader{RFError: func(cmd byte) byte {
		mu.Lock()
		defer mu.Unlock()
		if broken && cmd == 0xC7 {
			return 0x02
		}
		return 0
	}}
	r := newRigWith(t, rigOptions{reader: reader, poll: 5 * time.Millisecond}, 1)
	card := issued(t, 57, guest, 2000)
	r.tapAndPour(card, "outcome unknown", device.EventCardChargeUnknown)
	if r.count(device.EventCardCharged) != 0 {
		t.Fatalf("taken as paid: %s", r.types())
	}
	booked, _ := r.event(device.EventPourBooked)
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); v != 2000 {
		t.Fatalf("credit %d: nothing reached the card", v)
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	r.takeAway()
	r.reader.Put(card)
	r.until("settled", r.has(device.EventCardChargeSettled))
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); int64(v) != 2000-booked.Amount {
		t.Fatalf("credit %d after a %d pour", v, booked.Amount)
	}
}

// TestStarvedReaderChargesOnce: a PN532 that stalls before ACKs and
// answers, with ACKs later than the driver's timeout: the pour is charged
// exactly what was booked, once, and no card is seen to leave.
func TestStarvedReaderChargesOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var mu sync.Mutex
	reader := &nfcsim.Reader{
		Stall: func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return time.Duration(rng.IntN(30)) * time.Millisecond
		},
		LateAck: func(code byte) time.Duration {
			return map[bool]time.Duration{true: 70 * time.Millisecond}[code == 0x40]
		},
	}
	r := newRigWith(t, rigOptions{reader: reader, poll: 5 * time.Millisecond}, 1)
	card := issued(t, 52, guest, 2000)
	r.tapAndPour(card, "charged", device.EventCardCharged)
	booked, _ := r.event(device.EventPourBooked)
	v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
	n := 0
	for _, c := range card.Commands() {
		if c == 0xDC {
			n++
		}
	}
	if int64(v) != 2000-booked.Amount || n != 1 || r.count(device.EventCardRemoved) != 0 {
		t.Fatalf("credit %d after a %d pour, %d debits\n%s", v, booked.Amount, n, r.types())
	}
}

// TestCardLeftOnTheReaderPoursOnce: a card that stays after its pour
// does not pour again, even when one look at the field misses it.
func TestCardLeftOnTheReaderPoursOnce(t *testing.T) {
	var mu sync.Mutex
	miss := false
	reader := &nfcsim.Reader{Miss: func() bool {
		mu.Lock()
		defer mu.Unlock()
		m := miss
		miss = false
		return m
	}}
	r := newRigWith(t, rigOptions{reader: reader, poll: 5 * time.Millisecond}, 1)
	card := issued(t, 54, guest, 2000)
	r.tapAndPour(card, "charged", device.EventCardCharged)
	mu.Lock()
	miss = true
	mu.Unlock()
	deadline := time.Now().Add(300 * time.Millisecond)
	r.until("a while later", func() bool { return time.Now().After(deadline) })
	mu.Lock()
	played := !miss
	mu.Unlock()
	if !played || r.count(device.EventPourAuthorised) != 1 || r.count(device.EventCardRead) != 1 {
		t.Fatalf("missed look played %v; events %s", played, r.types())
	}
}

// TestPausedPolling: the host's own polling (a look, then a pause with
// the field off) still serves a card.
func TestPausedPolling(t *testing.T) {
	r := newRigWith(t, rigOptions{poll: 5 * time.Millisecond, pause: true}, 1)
	card := issued(t, 53, guest, 2000)
	r.tapAndPour(card, "charged", device.EventCardCharged)
}

func TestRefusalsCleaningAndServiceMode(t *testing.T) {
	r := newRig(t, 1)
	r.reader.Put(issued(t, 4, cardapp.Info{Type: ttg.CardPre, Name: "Empty"}, 0))
	r.until("no credit", func() bool {
		ev, ok := r.event(device.EventCardRefused)
		return ok && strings.Contains(ev.Detail, "no credit")
	})
	r.takeAway()
	r.reader.Put(issued(t, 5, cardapp.Info{Type: ttg.CardPre, Name: "Old", Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, 500))
	r.until("expired", func() bool { return strings.Contains(r.types(), "card expired") })
	r.takeAway()
	manager := issued(t, 6, cardapp.Info{Type: ttg.CardManager, Name: "Boss"}, 0)
	r.reader.Put(manager)
	r.until("service mode on", func() bool { return strings.Contains(r.types(), "service mode on") })
	if st := r.agent.Status(); !st[0].Locked {
		t.Fatal("line 1 not locked")
	}
	r.takeAway()
	r.reader.Put(manager)
	r.until("service mode off", func() bool { return strings.Contains(r.types(), "service mode off") })
	r.takeAway()
	r.reader.Put(issued(t, 7, cardapp.Info{Type: ttg.CardClean, Name: "Cleaner"}, 0))
	r.until("cleaning pour authorised", func() bool {
		ev, ok := r.event(device.EventPourAuthorised)
		return ok && ev.Mode == "cleaning"
	})
}

// BenchmarkPresentToAuthorised is the whole tap with realistic reader
// timing (115200 baud, 2 ms card commands, 30 ms empty polls, a 5 ms
// cycle of the chip's own polling): from the moment the card is put on
// the reader to the line's authorisation, including the wait for the
// card to be seen. "own-polling" is the default (the PN532 polls by
// itself and answers when the card lands), "pause-50ms" the host's look
// and 50 ms pause with the field off. Reports the mean and the worst over
// b.N taps, and the PN532 line bytes of one tap.
func BenchmarkPresentToAuthorised(b *testing.B) {
	for _, pause := range []bool{false, true} {
		b.Run(map[bool]string{false: "own-polling", true: "pause-50ms"}[pause], func(b *testing.B) {
			reader := &nfcsim.Reader{T: nfcsim.Realistic}
			r := newRigWith(b, rigOptions{reader: reader, poll: 50 * time.Millisecond, pause: pause}, 1)
			card := issued(b, 40, cardapp.Info{Type: ttg.CardPre, Name: "Bench", Alcohol: true}, 1_000_000)
			var total, worst, session time.Duration
			var bytes int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				before := r.count(device.EventPourAuthorised)
				// Land at a random point of the reader's cycle: the chip's
				// own polling is renewed every second; the host's look
				// and pause repeat every 80 ms or so.
				time.Sleep(100*time.Millisecond + time.Duration(i*370%1000)*time.Millisecond)
				start := time.Now()
				line := reader.Bytes()
				r.reader.Put(card)
				for r.count(device.EventPourAuthorised) == before {
					time.Sleep(100 * time.Microsecond)
				}
				d := time.Since(start)
				bytes += reader.Bytes() - line
				session += time.Since(r.tap.Health().LastDetected)
				total += d
				worst = max(worst, d)
				r.agent.Stop(1)
				r.reader.Remove()
				for r.count(device.EventPourBooked) <= before {
					r.wall.Board.Advance(10 * time.Millisecond)
					r.agent.Tick()
					time.Sleep(100 * time.Microsecond)
				}
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-mean")
			b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst")
			b.ReportMetric(float64(session.Microseconds())/1000/float64(b.N), "ms-from-detection")
			b.ReportMetric(float64(bytes)/float64(b.N), "line-bytes")
		})
	}
}

// TestCardLeftBeforeItsCountersAreRead: the card leaves right after the
// pour is booked, before the charge reads its servings counter (a card
// without a servings limit, whose read skipped it). The pour is owed on
// disk before anything is sent, so the next tap collects it.
func TestCardLeftBeforeItsCountersAreRead(t *testing.T) {
	var (
		mu    sync.Mutex
		r     *rig
		armed = true
	)
	reader := &nfcsim.Reader{RFError: func(byte) byte {
		mu.Lock()
		defer mu.Unlock()
		if armed && r != nil && r.count(device.EventPourBooked) > 0 {
			return 0x01 // timeout: the card is gone
		}
		return 0
	}}
	rr := newRigWith(t, rigOptions{reader: reader, poll: 5 * time.Millisecond}, 1)
	mu.Lock()
	r = rr
	mu.Unlock()
	card := issued(t, 92, guest, 2000)
	r.tapAndPour(card, "unpaid", device.EventCardUnpaid)
	booked, _ := r.event(device.EventPourBooked)
	r.takeAway()
	mu.Lock()
	armed = false
	mu.Unlock()
	r.reader.Put(card)
	r.until("settled", r.has(device.EventCardChargeSettled))
	v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
	if want := 2000 - booked.Amount; int64(v) != want {
		t.Fatalf("credit %d, want %d (booked %d): %s", v, want, booked.Amount, r.types())
	}
}

// chargeElsewhere charges a card 100 a pour as another wall's reader
// would: its own pour ids, one serving each.
func chargeElsewhere(t *testing.T, c *nfcsim.Card, pours ...string) {
	t.Helper()
	chargeElsewhereBy(t, c, 100, pours...)
}

// chargeElsewhereBy is chargeElsewhere with amount a pour.
func chargeElsewhereBy(t *testing.T, c *nfcsim.Card, amount int64, pours ...string) {
	t.Helper()
	for _, id := range pours {
		uid, _, _, _ := c.Activation()
		s := &cardapp.Session{C: desfire.New(field{c}), UID: uid, Keys: keys}
		got, err := s.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Charge(context.Background(), got, id, amount, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRolledOffThenServingsReset: a commit torn after it took effect,
// four pours elsewhere (ours falls out of file 4), staff reset the
// servings counter, one more pour elsewhere. File 4's own charge count
// says five came since — more than it keeps — so staff decide; nothing is
// charged twice.
func TestRolledOffThenServingsReset(t *testing.T) {
	r := newRig(t, 1)
	card := issued(t, 91, guest, 2000)
	card.Torn = func(cmd byte) bool { return cmd == 0xC7 }
	booked := r.unknownThenBack(card)
	chargeElsewhere(t, card, "2002-1", "2002-2", "2002-3", "2002-4")
	card.SetValue(cardapp.DefaultAID, cardapp.FileServings, 0) // staff re-activate the card
	chargeElsewhere(t, card, "2002-5")
	r.reader.Put(card)
	r.until("ambiguous", r.has(device.EventCardChargeAmbiguous))
	v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
	if want := 2000 - booked.Amount - 500; int64(v) != want {
		t.Fatalf("credit %d, want %d (booked %d): %s", v, want, booked.Amount, r.types())
	}
}

// TestCardLeftOnTheReaderThroughReaderFaults: while a card that has
// poured stays on the reader, the chip fails to take the look's retry
// setting once, or resets (back to its defaults, unconfigured): a look
// that could not be made is never taken for an empty field, the tap sets
// the chip up again, and the card does not pour a second time; once it
// leaves and comes back, it pours again.
func TestCardLeftOnTheReaderThroughReaderFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault func(r *rig) // after the pour is booked
		late  int          // so many RFConfiguration ACKs come too late
	}{
		// The driver sends a harmless command up to three times.
		{"retry setting fails", nil, 3},
		{"chip resets", func(r *rig) { r.reader.Reset() }, 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				r     *rig
				looks lookCount
				late  = tc.late
			)
			booked := func() bool { return r != nil && r.count(device.EventPourBooked) > 0 }
			reader := &nfcsim.Reader{LateAck: func(code byte) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case !booked():
				case code == 0x4A:
					looks.add()
				case code == 0x32 && late > 0:
					late--
					return 200 * time.Millisecond // four times the driver's ACK timeout
				}
				return 0
			}}
			rr := newRigWith(t, rigOptions{reader: reader, poll: 5 * time.Millisecond}, 1)
			mu.Lock()
			r = rr
			mu.Unlock()
			r.pouredOnceWhileLeft(t, issued(t, uint64(95+i), guest, 2000), &looks, tc.fault)
		})
	}
}

// TestJournalFailureChargesNothing: a charge journal that cannot be
// written (here: its store closed under the tap) sends nothing to the
// card and reports the pour unpaid, saying why.
func TestJournalFailureChargesNothing(t *testing.T) {
	r := newRigWith(t, rigOptions{poll: 5 * time.Millisecond, ownJournal: true}, 1)
	card := issued(t, 93, guest, 2000)
	r.reader.Put(card)
	r.until("authorised", r.has(device.EventPourAuthorised))
	if err := r.journal.Close(); err != nil {
		t.Fatal(err)
	}
	r.pour(1)
	r.until("unpaid", r.has(device.EventCardUnpaid))
	ev, _ := r.event(device.EventCardUnpaid)
	if !strings.Contains(ev.Detail, "journal") {
		t.Fatalf("unpaid: %q", ev.Detail)
	}
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); v != 2000 || r.count(device.EventCardCharged) != 0 {
		t.Fatalf("credit %d: %s", v, r.types())
	}
}

// TestUpgradedBetweenTornCommitAndNextTap: a first-layout card's commit
// torn after it took effect, then the card upgraded (file 4 added, empty),
// then the next tap: the charge was sent without file 4, so the counters
// decide it — the new file knows nothing of it — and it is not charged
// again.
func TestUpgradedBetweenTornCommitAndNextTap(t *testing.T) {
	r := newRig(t, 1)
	card := legacy(issued(t, 94, guest, 2000))
	card.Torn = func(cmd byte) bool { return cmd == 0xC7 }
	booked := r.unknownThenBack(card)
	uid, _, _, _ := card.Activation()
	if changed, err := (&cardapp.Session{C: desfire.New(field{card}), UID: uid, Keys: keys}).Upgrade(context.Background()); err != nil || !changed {
		t.Fatalf("upgrade: %v %v", changed, err)
	}
	r.reader.Put(card)
	// Decided by the counters (file 4 knows nothing of the charge), at a
	// later tap: counted as charged, flagged.
	r.until("assumed", r.has(device.EventCardChargeAssumed))
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); int64(v) != 2000-booked.Amount {
		t.Fatalf("credit %d after one %d pour\n%s", v, booked.Amount, r.types())
	}
}

// TestCardStatesOnTheReader: a reader whose cards keep their ISO/IEC
// 14443-3 state (activated: ACTIVE, answering no poll; released: HALT,
// answering WUPA only), polling with REQA or with WUPA, with the chip's
// own polling or paused polling: a card left on the reader pours once,
// and again once it was taken away and put back.
func TestCardStatesOnTheReader(t *testing.T) {
	for i, wake := range []bool{false, true} {
		for j, pause := range []bool{false, true} {
			name := fmt.Sprintf("%s, %s", map[bool]string{false: "REQA", true: "WUPA"}[wake], map[bool]string{false: "own polling", true: "paused polling"}[pause])
			t.Run(name, func(t *testing.T) {
				var looks lookCount
				reader := &nfcsim.Reader{States: true, WakeHalted: wake, LateAck: func(code byte) time.Duration {
					if code == 0x4A {
						looks.add()
					}
					return 0
				}}
				r := newRigWith(t, rigOptions{reader: reader, poll: 5 * time.Millisecond, pause: pause}, 1)
				r.pouredOnceWhileLeft(t, issued(t, uint64(110+2*i+j), guest, 2000), &looks, nil)
			})
		}
	}
}

// TestFirstPourTornCommitThenResetIsNotChargedAgain: a first-layout card's
// first pour (servings 0) commits but the answer is torn; staff then
// re-activate the card (servings back to 0). The counters show a debit
// with no serving: the card goes to staff, never charged a second time.
func TestFirstPourTornCommitThenResetIsNotChargedAgain(t *testing.T) {
	r := newRig(t, 1)
	card := legacy(issued(t, 201, guest, 2000))
	card.Torn = func(cmd byte) bool { return cmd == 0xC7 }
	booked := r.unknownThenBack(card)
	card.SetValue(cardapp.DefaultAID, cardapp.FileServings, 0) // staff re-activate
	r.reader.Put(card)
	r.until("ambiguous", r.has(device.EventCardChargeAmbiguous))
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); int64(v) != 2000-booked.Amount {
		t.Fatalf("credit %d after one pour of %d\n%s", v, booked.Amount, r.types())
	}
	if n := r.count(device.EventCardChargeSettled) + r.count(device.EventCardCharged); n != 0 {
		t.Fatalf("charged again: %s", r.types())
	}
	// Staff check the card's history and settle it as paid: it pours again.
	if _, err := cardpay.SettleByStaff(r.journal, hexUID(card), "", cardpay.DecidedPaid, "Anna", r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	r.takeAway()
	r.reader.Put(card)
	r.until("authorised again", func() bool { return r.count(device.EventPourAuthorised) == 2 })
}

// tapAndPour puts card on the reader, pours on line 1 once the pour is
// authorised and waits for the event ev (what names it in a failure).
func (r *rig) tapAndPour(card *nfcsim.Card, what string, ev device.EventType) {
	r.t.Helper()
	r.reader.Put(card)
	r.until("authorised", r.has(device.EventPourAuthorised))
	r.pour(1)
	r.until(what, r.has(ev))
}

// unknownThenBack pours with a card whose charge answer is lost (Torn or
// Silent set by the caller), takes the card away, heals it and puts it
// back in the field, not yet on the reader; it returns the booked pour.
func (r *rig) unknownThenBack(card *nfcsim.Card) device.Event {
	r.t.Helper()
	r.tapAndPour(card, "outcome unknown", device.EventCardChargeUnknown)
	booked, _ := r.event(device.EventPourBooked)
	r.takeAway()
	card.Silent, card.Torn = nil, nil
	card.PutBack()
	return booked
}

// pourAWhile starts a pour on line 1 of a card on the reader and lets
// about a second of it flow.
func (r *rig) pourAWhile(card *nfcsim.Card) {
	r.t.Helper()
	r.tapAndPour(card, "pouring", device.EventPourStarted)
	for range 100 {
		r.wall.Board.Advance(10 * time.Millisecond)
		r.agent.Tick()
	}
}

// entry reads the card's journal entry from a store.
func entry(t testing.TB, st *storage.Store, card *nfcsim.Card) (cardpay.Entry, bool) {
	t.Helper()
	var raw []byte
	if err := st.View("card_debits", func(b storage.Bucket) error { raw = b.Get([]byte(hexUID(card))); return nil }); err != nil {
		t.Fatal(err)
	}
	var e cardpay.Entry
	if raw == nil {
		return e, false
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return e, true
}

func hexUID(c *nfcsim.Card) string { u, _, _, _ := c.Activation(); return hex.EncodeToString(u) }

// TestShutdownMidPourLeavesThePourOwed: the agent stops (its context
// ends) while a prepaid card pours. The pour is booked as the agent winds
// down; the card, not charged, owes it: in the journal with the booked
// amount and reported. Whether the booking comes while the tap still
// waits for it or after it gave up, the result is the same.
func TestShutdownMidPourLeavesThePourOwed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		linger time.Duration
	}{{"booked while the tap waits", 0}, {"booked after the tap gave up", time.Nanosecond}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRigWith(t, rigOptions{poll: 5 * time.Millisecond, linger: tc.linger}, 1)
			card := issued(t, 204, guest, 2000)
			r.pourAWhile(card)
			r.stop()
			r.until("tap stopped and pour booked", func() bool {
				select {
				case <-r.ran:
					return r.count(device.EventPourBooked) > 0
				default:
					return false
				}
			})
			booked, _ := r.event(device.EventPourBooked)
			e, ok := entry(t, r.journal, card)
			if booked.Amount <= 0 || !ok || e.State != "owed" || e.Amount != booked.Amount || e.PourID != booked.PourID {
				t.Fatalf("booked %+v, journal %v %+v\n%s", booked, ok, e, r.types())
			}
			if r.count(device.EventCardUnpaid) == 0 {
				t.Fatalf("no card_unpaid: %s", r.types())
			}
			if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); v != 2000 {
				t.Fatalf("credit %d: charged with the agent stopping", v)
			}
		})
	}
}

// TestPowerLossMidPourIsOwedAfterRecovery: power fails while a prepaid
// card pours (no valve closed, nothing booked, the tap gone). At the next
// start the agent books the pour from its last checkpoint, and that
// booking makes the pour owed by the card with the recovered amount.
func TestPowerLossMidPourIsOwedAfterRecovery(t *testing.T) {
	r := newRigWith(t, rigOptions{poll: 5 * time.Millisecond, linger: time.Nanosecond}, 1)
	card := issued(t, 205, guest, 2000)
	r.pourAWhile(card)
	// The pour's intent, on disk before its valve opened, names the card.
	open, err := r.store.Intents()
	if err != nil || len(open) != 1 || open[0].Ref.CardKey != hexUID(card) {
		t.Fatalf("while pouring the intents are %+v (%v)", open, err)
	}
	// Power lost: the meters and the file die with the process.
	for _, m := range r.wall.Meters {
		m.Close()
	}
	r.store.Close()
	r.stop()
	<-r.ran
	st, err := storage.Open(filepath.Join(r.cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := entry(t, st, card); ok {
		t.Fatal("a journal entry before the pour is booked")
	}
	var evs walltest.Events
	agent, err := device.New(device.Options{Config: r.cfg, Clock: r.clk, Store: st, Valves: r.wall.Valves, Meters: r.wall.Meters,
		Settle: cardpay.Settle, Emit: evs.Add})
	if err != nil {
		t.Fatal(err)
	}
	r.agent, r.store, r.journal = agent, st, st // closed by the rig's cleanup
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	rec, ok := evs.Find(device.EventPourRecovered)
	if !ok || rec.Amount <= 0 {
		t.Fatalf("recovered %v %+v: %s", ok, rec, evs.String())
	}
	e, ok := entry(t, st, card)
	if !ok || e.State != "owed" || e.Amount != rec.Amount || e.PourID != rec.PourID || !e.Booked {
		t.Fatalf("after recovery of %+v the journal holds %v %+v", rec, ok, e)
	}
	// The tap, starting, tells staff (once) of the pour it never saw booked.
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run reports, then ends at once: no reader needed
	for range 2 {
		cardpay.New(cardpay.Options{Agent: agent, Store: st, Now: r.clk.Now}).Run(ctx)
	}
	if n := evs.Count(device.EventCardUnpaid); n != 1 {
		t.Fatalf("%d card_unpaid at start: %s", n, evs.String())
	}
	if ev, _ := evs.Find(device.EventCardUnpaid); ev.PourID != rec.PourID || ev.Amount != rec.Amount {
		t.Fatalf("reported %+v for %+v", ev, rec)
	}
	if e, ok := entry(t, st, card); !ok || e.State != "owed" || e.Booked {
		t.Fatalf("after the report the journal holds %v %+v", ok, e)
	}
}

// lookCount counts the polls (InListPassiveTarget, 0x4A) a simulated
// reader sees, from its own goroutine.
type lookCount struct {
	mu sync.Mutex
	n  int
}

func (l *lookCount) add() { l.mu.Lock(); l.n++; l.mu.Unlock() }

func (l *lookCount) reset() { l.mu.Lock(); l.n = 0; l.mu.Unlock() }

func (l *lookCount) atLeast(n int) func() bool {
	return func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.n >= n }
}

// pouredOnceWhileLeft taps card, pours and charges once, then leaves the
// card on the reader (after fault, if any) for twenty more looks: no second
// pour may be authorised; taken away and put back, it is authorised again.
func (r *rig) pouredOnceWhileLeft(t *testing.T, card *nfcsim.Card, looks *lookCount, fault func(*rig)) {
	t.Helper()
	r.tapAndPour(card, "charged", device.EventCardCharged)
	looks.reset()
	if fault != nil {
		fault(r)
	}
	r.until("twenty looks at the card", looks.atLeast(20))
	if n := r.count(device.EventPourAuthorised); n != 1 {
		t.Fatalf("%d authorisations for one tap\n%s", n, r.types())
	}
	r.takeAway()
	r.reader.Put(card)
	r.until("authorised again", func() bool { return r.count(device.EventPourAuthorised) == 2 })
}

// TestManagerCardChangesTheKegThatRanDry: an INSTALL or MANAGER card on the
// reader of a line whose keg ran dry records a full keg of the same size
// (audited as the card's holder), and the line pours again; on lines that
// pour, the same card toggles service mode as before.
func TestManagerCardChangesTheKegThatRanDry(t *testing.T) {
	r := newRig(t, 1, 2)
	r.wall.Board.Line(1).SetKeg(300)
	if _, err := r.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(500), Price: flow.Price{Minor: 650, PerVol: flow.ML(500)}}}); err != nil {
		t.Fatal(err)
	}
	r.wall.Board.Line(1).Pour([]sim.Point{{T: 0, MLs: 60}, {T: 15 * time.Second, MLs: 60}})
	r.until("keg ran dry", func() bool { return r.agent.Status()[0].Disabled == "keg_empty" && !r.agent.Busy() })
	r.wall.Board.Line(1).SetKeg(50000) // staff connect a fresh keg
	for _, typ := range []int{ttg.CardInstall, ttg.CardManager} {
		size := r.agent.Kegs()[0].Keg.Size
		before := r.count(device.EventKegChanged)
		r.reader.Put(issued(t, uint64(50+typ), cardapp.Info{Type: typ, Name: "Kim"}, 0))
		r.until("keg changed", func() bool { return r.count(device.EventKegChanged) == before+1 })
		r.reader.Remove()
		time.Sleep(30 * time.Millisecond)
		k := r.agent.Kegs()[0]
		if k.Disabled != "" || k.Keg.Size != size || k.Keg.Remaining != size {
			t.Fatalf("after the card: %+v", k)
		}
		var ev device.Event
		for _, e := range r.ev.All() {
			if e.Type == device.EventKegChanged {
				ev = e
			}
		}
		if ev.By == nil || ev.By.Via != "card" || ev.By.Name != "Kim" || ev.By.Role != ttg.CardTypeName(typ) {
			t.Fatalf("keg change by %+v", ev.By)
		}
		if strings.Contains(r.types(), "service mode") || r.agent.Status()[1].Locked {
			t.Fatal("the card also toggled service mode")
		}
		if _, err := r.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(100), Price: flow.Price{Minor: 650, PerVol: flow.ML(500)}}}); err != nil {
			t.Fatalf("line does not pour after the keg change: %v", err)
		}
		if typ == ttg.CardInstall { // run it dry again for the manager's card
			r.agent.Stop(1)
			r.until("booked", func() bool { return !r.agent.Busy() })
			if err := r.agent.MarkEmpty(device.Actor{Name: "test", Via: "cli"}, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestChargeNeedsNoEvents: the tap learns of its pours' end from the
// booking's commit alone. It is handed none of the wall's events (an
// overflowing or lossy event path loses them all), and here not even the
// wake after the commit: the pour on line 2 is still charged exactly once,
// the pour booked at zero on line 1 is seen too, and the journal is left
// empty. (Before, the tap waited for `pour_booked` through a 64-slot
// channel, and a lost event left the card on the reader uncharged.)
func TestChargeNeedsNoEvents(t *testing.T) {
	for _, wake := range []bool{true, false} {
		t.Run(map[bool]string{true: "woken", false: "never woken"}[wake], func(t *testing.T) {
			r := newRigWith(t, rigOptions{poll: 5 * time.Millisecond, noWake: !wake}, 1, 2)
			card := issued(t, 301, guest, 2000)
			r.reader.Put(card)
			r.until("both served lines authorised", func() bool { return r.count(device.EventPourAuthorised) == 2 })
			r.pour(2)
			r.until("card charged", r.has(device.EventCardCharged))
			charged, _ := r.event(device.EventCardCharged)
			if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); charged.Amount <= 0 || int64(v) != 2000-charged.Amount {
				t.Fatalf("credit %d after %+v\n%s", v, charged, r.types())
			}
			if r.count(device.EventPourBooked) != 2 || r.count(device.EventCardCharged) != 1 || r.count(device.EventCardUnpaid) != 0 {
				t.Fatalf("events: %s", r.types())
			}
			if e, ok := entry(t, r.journal, card); ok {
				t.Fatalf("journal after the charge: %+v", e)
			}
		})
	}
}

// TestZeroAndCleaningPoursLeaveNoEntry: a cleaning card's pour and a
// prepaid pour that ends at zero (nothing flowed) are booked into the
// card's entry like any other, and the tap takes them: nothing is owed,
// nothing is charged, and the journal is empty afterwards.
func TestZeroAndCleaningPoursLeaveNoEntry(t *testing.T) {
	cases := []struct {
		name string
		info cardapp.Info
		pour bool
	}{
		{"cleaning pour", cardapp.Info{Type: ttg.CardClean, Name: "Cleaner"}, true},
		{"prepaid pour booked at zero", guest, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, 1)
			card := issued(t, uint64(310+i), c.info, 2000)
			r.reader.Put(card)
			r.until("authorised", r.has(device.EventPourAuthorised))
			if c.pour {
				r.pour(1)
			} else {
				r.agent.Stop(1)
			}
			r.until("booked", r.has(device.EventPourBooked))
			// The tap is done with the pour once the card leaves: two
			// empty looks in a row after the journal was read.
			r.reader.Remove()
			r.until("entry taken", func() bool { _, ok := entry(t, r.journal, card); return !ok })
			if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); v != 2000 || r.count(device.EventCardCharged)+r.count(device.EventCardUnpaid) != 0 {
				t.Fatalf("credit %d: %s", v, r.types())
			}
		})
	}
}
