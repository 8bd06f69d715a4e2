package terminalsale_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/fsfault"
	"github.com/tapagent/tapagent/internal/walltest"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// rig is the simulated wall on virtual time with the agent, a simulated
// cashless reader on the bus and the terminal controller, restartable the
// way a crash restarts the process (the reader keeps its state).
type rig struct {
	t      testing.TB
	cfg    *config.Config
	clk    *clock.Manual
	wall   *simwall.Wall
	reader *mdbsim.Reader
	lines  []int
	items  map[byte]terminalsale.Item

	store *storage.Store
	agent *device.Agent
	tap   *terminalsale.Tap
	stop  func()

	ev walltest.Events
	// bus is the master's transport to the reader (nil: the reader in
	// process).
	bus mdb.Transport
	// manual leaves the terminal's turns to the test (no Run).
	manual bool
	// machine starts the EXE loop paid by the current terminal (exe rigs).
	machine func() (stop func())
}

// portion is 300 mL; line 1 costs 6.50 per 500 mL, so 3.90.
const portion, price = flow.Vol(3000), 390

func newRig(t testing.TB, lines ...int) *rig { return newRigWith(t, nil, lines...) }

// newRigWith sets the reader up (faults, options) before the bus starts.
func newRigWith(t testing.TB, set func(*mdbsim.Reader), lines ...int) *rig {
	return newRigOn(t, set, nil, lines...)
}

// manualRig is a rig whose terminal turns only when the test says.
func manualRig(t testing.TB, set func(*mdbsim.Reader), lines ...int) *rig {
	return newRigFull(t, set, nil, true, lines...)
}

// newRigOn is a rig whose master reaches the reader through the transport
// bus makes (nil: in process).
func newRigOn(t testing.TB, set func(*mdbsim.Reader), bus func(*mdbsim.Reader) mdb.Transport, lines ...int) *rig {
	return newRigFull(t, set, bus, false, lines...)
}

func newRigFull(t testing.TB, set func(*mdbsim.Reader), bus func(*mdbsim.Reader) mdb.Transport, manual bool, lines ...int) *rig {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	for i := range cfg.Sim.Lines {
		cfg.Sim.Lines[i].AirBurstsPerMin = 0
	}
	r := &rig{t: t, cfg: cfg, clk: clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)),
		reader: mdbsim.New(mdb.Cashless1), lines: lines}
	r.reader.Level = 3
	if set != nil {
		set(r.reader)
	}
	if bus != nil {
		r.bus = bus(r.reader)
	}
	r.manual = manual
	if r.wall, err = simwall.NewWall(cfg, r.clk); err != nil {
		t.Fatal(err)
	}
	r.start()
	t.Cleanup(func() {
		if r.agent != nil {
			r.stop()
			r.agent.Close()
			r.store.Close()
		}
	})
	return r
}

func (r *rig) start() {
	r.t.Helper()
	var err error
	if r.store, err = storage.Open(filepath.Join(r.cfg.Device.DataDir, "tapagent.db"), storage.Options{}); err != nil {
		r.t.Fatal(err)
	}
	r.agent, err = device.New(device.Options{Config: r.cfg, Clock: r.clk, Store: r.store, Valves: r.wall.Valves,
		Meters: r.wall.Meters, Settle: terminalsale.Settle, Emit: r.ev.Add})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.agent.Start(); err != nil {
		r.t.Fatal(err)
	}
	var bus mdb.Transport = r.reader
	if r.bus != nil {
		bus = r.bus
	}
	m := &mdb.Master{T: bus, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 3, MaxPrice: 0xFFFF}, Poll: time.Millisecond, Now: r.clk.Now}
	r.tap = terminalsale.New(terminalsale.Options{Master: m, Agent: r.agent, Store: r.store, Lines: r.lines, Items: r.items, Portion: portion,
		CardType: ttg.CardMDBPre, Minor: 2, VendTimeout: 5 * time.Second, SelectTimeout: 30 * time.Second, Now: r.clk.Now})
	if r.manual {
		r.stop = func() {}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.tap.Run(ctx); close(done) }()
	r.stop = func() { cancel(); <-done }
}

// crash drops agent and terminal the way kill -9 does: no valve closed, no
// booking, no word to the reader.
func (r *rig) crash() {
	r.stop()
	for _, m := range r.wall.Meters {
		m.Close()
	}
	r.store.Close()
	r.agent = nil
}

// plant writes a journal entry into the crashed rig's store, as a crash
// at that step would have left it.
func (r *rig) plant(e terminalsale.Entry) {
	r.t.Helper()
	raw, err := json.Marshal(e)
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := storage.Open(filepath.Join(r.cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update("mdb_vends", func(b storage.Bucket) error { return b.Put([]byte("10"), raw) }); err != nil {
		r.t.Fatal(err)
	}
}

// until runs the wall on virtual time, with a little real time for the
// bus, until cond holds.
func (r *rig) until(what string, cond func() bool) {
	r.t.Helper()
	walltest.Loop{Wall: r.wall, Agent: r.agent, Events: &r.ev, Pause: 100 * time.Microsecond}.Until(r.t, what, cond)
}

func (r *rig) event(typ device.EventType) (device.Event, bool) { return r.ev.Find(typ) }
func (r *rig) has(typ device.EventType) func() bool            { return r.ev.Has(typ) }
func (r *rig) types() string                                   { return r.ev.String() }

// pour is the glass under the tap: beer runs while the valve is open.
func (r *rig) pour(line int) {
	r.wall.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: 80}, {T: 20 * time.Second, MLs: 80}, {T: 20100 * time.Millisecond, MLs: 0}})
}

func (r *rig) records() []storage.Record {
	r.t.Helper()
	recs, err := r.store.Outbox(0, 100)
	if err != nil {
		r.t.Fatal(err)
	}
	return recs
}

func (r *rig) journalEmpty() bool {
	empty := true
	r.store.View("mdb_vends", func(b storage.Bucket) error {
		return b.ForEach(func(k, _ []byte) error {
			if !strings.HasPrefix(string(k), "cash") { // the cash-sale queue and its counts
				empty = false
			}
			return nil
		})
	})
	return empty
}

// sum is the money the wall's records hold.
func sum(recs []storage.Record) int64 {
	var n int64
	for _, rc := range recs {
		n += rc.Pour.Amount
	}
	return n
}

func TestVendOnTheSimulatedWall(t *testing.T) {
	r := cardVend(t)
	r.until("vend success", r.has(device.EventMDBVendSuccess))
	r.until("session ended", r.has(device.EventMDBSessionEnd))
	recs := r.records()
	if len(recs) != 1 {
		t.Fatalf("records %+v", recs)
	}
	rec := recs[0]
	if rec.Pour.Amount != price || !rec.Pour.Complete || rec.Ref.CardType != "61" || rec.Pour.Volume < portion {
		t.Fatalf("record %+v", rec)
	}
	units, _ := ttg.NewUnits("l", 3)
	tx, err := ttg.Converter{Units: units}.Transaction(rec)
	if err != nil || tx.CardType != ttg.CardMDBPre || tx.Money != price {
		t.Fatalf("TTG transaction %+v, %v", tx, err)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) || len(l.Refunds) != 0 {
		t.Fatalf("reader ledger %+v", l)
	}
	if !r.journalEmpty() {
		t.Fatal("journal not empty after the vend")
	}
	if h := r.tap.Health(); h.Vends != 1 || !h.Ready || h.Level != 3 {
		t.Fatalf("health %+v", h)
	}
}

// TestApprovedAmountIsWhatThePourCosts: the reader takes 0.40 off; the
// record books what it approved, not the price asked.
func TestApprovedAmountIsWhatThePourCosts(t *testing.T) {
	r := newRigWith(t, func(rd *mdbsim.Reader) { rd.F.Discount = 40 }, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.pour(1)
	r.reader.PresentCard(-1)
	r.until("vend success", r.has(device.EventMDBVendSuccess))
	r.until("booked", func() bool { return len(r.records()) == 1 })
	if got := r.records()[0].Pour.Amount; got != price-40 {
		t.Fatalf("booked %d, want the approved %d", got, price-40)
	}
}

func TestDeniedVendPoursNothing(t *testing.T) {
	r := newRig(t, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(100) // less than a portion
	r.until("denied", r.has(device.EventMDBVendDenied))
	r.until("session ended", r.has(device.EventMDBSessionEnd))
	if _, ok := r.event(device.EventPourAuthorised); ok || len(r.records()) != 0 || !r.journalEmpty() {
		t.Fatalf("a denied vend poured: %s", r.types())
	}
}

// TestShortPourIsRefunded: the keg is empty (nothing flows), the portion
// is not delivered: VEND FAILURE, the reader refunds, the record books 0.
func TestShortPourIsRefunded(t *testing.T) {
	r := newRig(t, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000)
	r.until("refunded", r.has(device.EventMDBVendRefunded))
	recs := r.records()
	if len(recs) != 1 || recs[0].Pour.Amount != 0 || recs[0].Pour.Reason != flow.ReasonNoPour && recs[0].Pour.Reason != flow.ReasonNoFlow {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); len(l.Sales) != 0 || !slices.Equal(l.Refunds, []uint32{price}) {
		t.Fatalf("reader ledger %+v", l)
	}
}

// TestRefusedRefundIsBooked: the reader cannot refund a short pour; the
// money it kept is booked, so the books agree with the terminal.
func TestRefusedRefundIsBooked(t *testing.T) {
	r := newRigWith(t, func(rd *mdbsim.Reader) { rd.F.RefundFails = true }, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000)
	r.until("refund failed", r.has(device.EventMDBRefundFailed))
	r.until("payment booked", func() bool { return len(r.records()) == 2 })
	recs := r.records()
	if sum(recs) != price || recs[1].Pour.Reason != flow.ReasonPayment || recs[1].Ref.CardType != "61" || !r.journalEmpty() {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) {
		t.Fatalf("reader ledger %+v", l)
	}
}

// cardVend is a rig with a ready reader, line 1 asked to pour and a card
// worth 10.00 presented: a vend under way.
func cardVend(t *testing.T) *rig {
	t.Helper()
	r := newRig(t, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.pour(1)
	r.reader.PresentCard(1000)
	return r
}

// midPour is a rig whose card vend on line 1 was approved and has poured
// more than 100 mL: the moment the crash tests kill the agent.
func midPour(t *testing.T) *rig {
	t.Helper()
	r := cardVend(t)
	r.until("pouring", func() bool {
		in, _ := r.store.Intents()
		return len(in) == 1 && in[0].Progress.Volume > 1000
	})
	return r
}

// TestCrashBetweenApprovedAndSuccess: the agent dies mid-pour. On restart
// the reader is reset, which makes the vend a sale (§7.4.7): the one
// record books the approved amount with what the meter measured.
func TestCrashBetweenApprovedAndSuccess(t *testing.T) {
	r := midPour(t)
	r.crash()
	r.start()
	r.until("reconciled", r.has(device.EventMDBVendReconciled))
	r.until("reader ready again", func() bool { return r.tap.Health().Ready })
	recs := r.records()
	if len(recs) != 1 || recs[0].Pour.Amount != price || recs[0].Pour.Reason != flow.ReasonCrash ||
		recs[0].Pour.Volume >= portion || recs[0].Pour.Volume < 1000 {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) || !r.journalEmpty() {
		t.Fatalf("reader ledger %+v, journal empty %v", l, r.journalEmpty())
	}
	ev, _ := r.event(device.EventMDBVendReconciled)
	if !strings.Contains(ev.Detail, "meter measured") {
		t.Fatalf("reconciliation %+v", ev)
	}
}

// TestOpenVendSurvivesAMoveAside: the agent dies mid-pour and the database
// is then found corrupt (its event log scribbled over) and moved aside. The
// vend journal is carried into the fresh database with the open pour, so
// the restart reconciles the vend exactly as after a plain crash: the sale
// the reader made is booked once, not forgotten.
func TestOpenVendSurvivesAMoveAside(t *testing.T) {
	r := midPour(t)
	for i := 0; i < 300; i++ { // an event log with pages of its own
		r.agent.Report(device.Event{Type: device.EventAgentStarted, Detail: strings.Repeat("x", 60)})
	}
	r.crash()
	fsfault.ScribbleBucket(t, filepath.Join(r.cfg.Device.DataDir, "tapagent.db"), "events")
	r.start()
	if r.store.MovedAside() == "" {
		t.Fatal("corruption not detected")
	}
	r.until("reconciled", r.has(device.EventMDBVendReconciled))
	r.until("reader ready again", func() bool { return r.tap.Health().Ready })
	recs := r.records()
	if len(recs) != 1 || recs[0].Pour.Amount != price || recs[0].Pour.Reason != flow.ReasonCrash {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) || !r.journalEmpty() {
		t.Fatalf("reader ledger %+v, journal empty %v", l, r.journalEmpty())
	}
}

// TestJournalLeftByACrash: the states a crash can leave before any pour.
func TestJournalLeftByACrash(t *testing.T) {
	for _, tc := range []struct {
		state string
		want  int64 // booked
		event device.EventType
	}{{"requested", 0, device.EventMDBVendUnknown}, {"approved", price, device.EventMDBVendReconciled}} {
		t.Run(tc.state, func(t *testing.T) {
			r := newRig(t, 1)
			r.until("reader ready", r.has(device.EventMDBReady))
			r.crash()
			r.plant(terminalsale.Entry{Vend: "10-7", State: tc.state, Line: 1, Portion: portion, Price: price, Approved: tc.want})
			r.start()
			r.until(string(tc.event), r.has(tc.event))
			r.until("journal settled", r.journalEmpty)
			if got := sum(r.records()); got != tc.want || !r.journalEmpty() {
				t.Fatalf("booked %d, want %d; journal empty %v", got, tc.want, r.journalEmpty())
			}
		})
	}
}

// TestStoppedWhileRefunding: a short portion was booked and VEND FAILURE
// sent, then the agent stopped before the reader confirmed the refund. The
// next start cannot know whether the reader refunded before its reset, so
// it books no sale on a guess and says so; without the refund asked, a
// short portion cut by a stop is the reader's sale (§7.4.7), as before.
func TestStoppedWhileRefunding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		asked  bool
		event  device.EventType
		booked int64
	}{{"refund asked", true, device.EventMDBVendUnknown, 0}, {"no refund asked", false, device.EventMDBVendReconciled, price}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1)
			r.until("reader ready", r.has(device.EventMDBReady))
			r.crash()
			r.plant(terminalsale.Entry{Vend: "10-8", State: "booked", Line: 1, Portion: portion, Price: price, Approved: price,
				PourID: "1001-9", Volume: portion / 2, RefundAsked: tc.asked})
			r.start()
			r.until(string(tc.event), r.has(tc.event))
			r.until("journal settled", r.journalEmpty)
			if got := sum(r.records()); got != tc.booked {
				t.Fatalf("booked %d, want %d", got, tc.booked)
			}
		})
	}
}

// TestReaderResetDuringThePour: the reader resets itself while the beer
// runs; the pour finishes and the sale stands, booked once.
func TestReaderResetDuringThePour(t *testing.T) {
	r := cardVend(t)
	r.until("pouring", r.has(device.EventMDBVendApproved))
	r.reader.PowerCycle()
	r.until("warned", r.has(device.EventMDBWarning))
	r.until("booked and settled", func() bool { return len(r.records()) == 1 && r.journalEmpty() })
	if recs := r.records(); recs[0].Pour.Amount != price || !recs[0].Pour.Complete {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) {
		t.Fatalf("reader ledger %+v", l)
	}
}

// TestSelectionOnAMultiLineTerminal: two lines, the customer picks one.
func TestSelectionOnAMultiLineTerminal(t *testing.T) {
	r := newRig(t, 1, 2)
	r.until("reader ready", r.has(device.EventMDBReady))
	if err := r.tap.Select(3); err == nil {
		t.Fatal("a line the terminal does not sell was selected")
	}
	r.pour(2)
	r.reader.PresentCard(1000)
	r.until("session", r.has(device.EventMDBSession))
	if err := r.tap.Select(2); err != nil {
		t.Fatal(err)
	}
	r.until("vend success", r.has(device.EventMDBVendSuccess))
	ev, _ := r.event(device.EventMDBVendSuccess)
	if ev.Line != 2 {
		t.Fatalf("sold line %d", ev.Line)
	}
}

// TestCashSalesReachTheReader: an open pour paid at the bar is reported
// to a reader that takes CASH SALE.
func TestCashSalesReachTheReader(t *testing.T) {
	r := newRigWith(t, func(rd *mdbsim.Reader) { rd.CashSale = true }, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	if _, err := r.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: 2000, PortionPrice: 300}}); err != nil {
		t.Fatal(err)
	}
	r.pour(1)
	r.until("cash sale", r.has(device.EventMDBCashSale))
	if l := r.reader.Ledger(); !slices.Equal(l.CashSales, []uint32{300}) {
		t.Fatalf("reader ledger %+v", l)
	}
}

// TestImmediateApprovalIsFollowedUp: a reader that approves in VEND
// REQUEST's own response (and sets up the same way) sells a portion like
// any other: VEND SUCCESS follows the pour, one record at the approved
// amount, the journal empty; a denial in the response pours nothing.
func TestImmediateApprovalIsFollowedUp(t *testing.T) {
	r := newRigWith(t, func(rd *mdbsim.Reader) { rd.Immediate, rd.F.Discount = true, 40 }, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.pour(1)
	r.reader.PresentCard(1000)
	r.until("vend success", r.has(device.EventMDBVendSuccess))
	r.until("session ended", r.has(device.EventMDBSessionEnd))
	recs := r.records()
	if len(recs) != 1 || recs[0].Pour.Amount != price-40 || !recs[0].Pour.Complete || !r.journalEmpty() {
		t.Fatalf("records %+v, journal empty %v", recs, r.journalEmpty())
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price - 40}) || len(l.Refunds) != 0 {
		t.Fatalf("reader ledger %+v", l)
	}
	r.reader.PresentCard(100) // less than a portion
	r.until("denied", r.has(device.EventMDBVendDenied))
	r.until("journal settled", r.journalEmpty)
	if got := len(r.records()); got != 1 {
		t.Fatalf("a denied vend booked: %d records", got)
	}
}

// TestImmediateApprovalOpensAtOnce: an approval in VEND REQUEST's own
// response opens the valve in the same bus turn as the card's session; an
// approval that waits for a POLL takes the next turn.
func TestImmediateApprovalOpensAtOnce(t *testing.T) {
	for _, tc := range []struct {
		immediate bool
		turns     int
	}{{true, 1}, {false, 2}} {
		r := manualRig(t, func(rd *mdbsim.Reader) { rd.Immediate = tc.immediate }, 1)
		ctx := context.Background()
		r.tap.Turn(ctx)
		if !r.tap.Health().Ready {
			t.Fatalf("immediate %v: reader not up", tc.immediate)
		}
		r.reader.PresentCard(1000)
		turns := 0
		for ; turns < 5 && r.ev.Count(device.EventMDBVendApproved) == 0; turns++ {
			r.tap.Turn(ctx)
		}
		if turns != tc.turns {
			t.Fatalf("immediate %v: approved after %d turns, want %d: %s", tc.immediate, turns, tc.turns, r.types())
		}
	}
}

// TestImmediateApprovalShortPourIsRefunded: an approval given in VEND
// REQUEST's response for a pour that runs short is followed by VEND
// FAILURE: the reader refunds, the record books nothing.
func TestImmediateApprovalShortPourIsRefunded(t *testing.T) {
	r := newRigWith(t, func(rd *mdbsim.Reader) { rd.Immediate = true }, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000) // nothing flows
	r.until("refunded", r.has(device.EventMDBVendRefunded))
	r.until("journal settled", r.journalEmpty)
	if recs := r.records(); len(recs) != 1 || recs[0].Pour.Amount != 0 {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); len(l.Sales) != 0 || !slices.Equal(l.Refunds, []uint32{price}) {
		t.Fatalf("reader ledger %+v", l)
	}
}
