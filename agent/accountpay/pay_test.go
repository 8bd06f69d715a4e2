package accountpay_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/accountpay"
	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/testwait"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/cloudemu"
	emu "github.com/tapagent/tapagent/sim/touchtopup"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

const posKey = "till-key-0123456789"

// Cards of the rig: John Smith (company 1, customer 5) by ids, Jane Doe
// (customer 6) by link key, and a card mapped to a customer TouchTopUp
// does not know.
const (
	cardJohn    = 1001
	cardJane    = 1002
	cardUnknown = 1003
	cardNone    = 1004 // mapped to nothing
)

// rig is the wall core on the simulated wall, its cash interface served
// over real loopback HTTP, a real bbolt file, the TouchTopUp emulator on
// loopback and the payer between them.
type rig struct {
	t     testing.TB
	cfg   *config.Config
	clk   *clock.Manual
	sim   *simwall.Wall
	emu   *emu.Server
	store *storage.Store
	reg   *cashregister.Register
	dev   *device.Agent
	hs    *httptest.Server
	pay   *accountpay.Payer
	till  *emu.Till

	mu     sync.Mutex
	events []device.Event
}

func newRig(t testing.TB, eo emu.Options, tune func(*config.TouchTopUp)) *rig {
	t.Helper()
	eo.Companies = []emu.Company{{ID: 1, Name: "The Taproom", Customers: map[int64]*emu.Customer{
		5: {ID: 5, Title: "Mr", FirstName: "John", LastName: "Smith", AccountNumber: "54321", Balance: 1000},
		6: {ID: 6, Title: "Ms", FirstName: "Jane", LastName: "Doe", AccountNumber: "54322", Balance: 2000, LinkCode: "463607569"}}}}
	r := &rig{t: t, clk: clock.NewManual(time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC))}
	eo.Now = r.clk.Now
	var err error
	if r.emu, err = emu.New(eo); err != nil {
		t.Fatal(err)
	}
	url, stop, err := r.emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	r.cfg, _ = config.Default()
	r.cfg.Device.DataDir = t.TempDir()
	r.cfg.POS.APIKey = posKey
	tt := &r.cfg.TouchTopUp
	tt.URL, tt.APIKey, tt.Timeout.Duration = url, "tapagent-key", time.Second
	tt.Accounts = []config.TouchTopUpAccount{{Card: cardJohn, CompanyID: 1, CustomerID: 5}, {Card: cardJane, LinkKey: "000001-000006-463607569"},
		{Card: cardUnknown, CompanyID: 1, CustomerID: 99}, {Account: "54321", CompanyID: 1, CustomerID: 5}}
	if tune != nil {
		tune(tt)
	}
	if err := r.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.sim, err = simwall.NewWall(r.cfg, r.clk); err != nil {
		t.Fatal(err)
	}
	r.start()
	t.Cleanup(func() { r.stop(true) })
	return r
}

func (r *rig) start() {
	t := r.t
	var err error
	if r.store, err = storage.Open(filepath.Join(r.cfg.Device.DataDir, "tapagent.db"), storage.Options{}); err != nil {
		t.Fatal(err)
	}
	r.reg = cashregister.NewRegister(r.store, cashregister.ArticlesFrom(r.cfg.POS, r.cfg.LineForPLU), r.clk.Now)
	settle := func(rec storage.Record) []storage.Change { return append(r.reg.Settle(rec), accountpay.Settle(rec)...) }
	r.dev, err = device.New(device.Options{Config: r.cfg, Clock: r.clk, Store: r.store, Valves: r.sim.Valves, Meters: r.sim.Meters,
		Settle: settle, Register: r.reg.ForWall(), Emit: r.emit})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Start(); err != nil {
		t.Fatal(err)
	}
	r.hs = httptest.NewServer(r.reg.Handler(posKey))
	r.till = &emu.Till{CashURL: r.hs.URL + cashregister.BasePath, Key: posKey, Server: r.emu}
	r.pay, err = accountpay.New(accountpay.Options{Config: r.cfg.TouchTopUp, Agent: r.dev, Store: r.store, Debits: r.reg,
		MinPour: func(line int) flow.Vol { lc, _ := r.cfg.Line(line); return lc.FlowConfig().MinPour }, Now: r.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	r.pay.Start(context.Background())
}

// stop shuts down cleanly, or (crash) like kill -9.
func (r *rig) stop(clean bool) {
	if r.dev == nil {
		return
	}
	r.hs.Close()
	if clean {
		r.dev.Close()
	}
	for _, m := range r.sim.Meters {
		m.Close()
	}
	r.store.Close()
	r.dev = nil
}

func (r *rig) emit(ev device.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// last is the latest event of a type.
func (r *rig) last(typ device.EventType) (device.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Type == typ {
			return r.events[i], true
		}
	}
	return device.Event{}, false
}

func (r *rig) tap(line int, k accountpay.Key) (string, error) {
	return r.pay.Tap(context.Background(), line, k)
}

func (r *rig) run(d time.Duration) {
	for end := r.clk.Mono() + d; r.clk.Mono() < end; {
		r.sim.Board.Advance(10 * time.Millisecond)
		r.dev.Tick()
	}
}

// pour pulls line's handle at 50 mL/s for d, then lets go and lets the
// pour be booked.
func (r *rig) pour(line int, d time.Duration) {
	r.sim.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: 50}, {T: d, MLs: 50}})
	r.run(d)
	r.sim.Board.Line(line).ReleaseHandle()
	r.run(4 * time.Second)
}

func (r *rig) debits() []cashregister.Debit {
	ds, err := r.reg.Debits()
	if err != nil {
		r.t.Fatal(err)
	}
	return ds
}

func (r *rig) balance(cust int64) int64 {
	b, err := r.emu.Balance(1, cust)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rig) booked(pourID string) storage.Record {
	r.t.Helper()
	recs, err := r.store.Outbox(0, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.ID == pourID {
			return rec
		}
	}
	r.t.Fatalf("pour %s not booked", pourID)
	return storage.Record{}
}

// TestBalanceCapsThePour: an account with 200 pours 200 worth and stops;
// the debit (CustomerID, CompanyID, the pour's money) is issued with the
// pour; the till collects it and the account's balance goes down by
// exactly that.
func TestBalanceCapsThePour(t *testing.T) {
	r := newRig(t, emu.Options{}, nil)
	if err := r.emu.SetBalance(1, 5, 200); err != nil {
		t.Fatal(err)
	}
	id, err := r.tap(1, accountpay.Key{Card: cardJohn})
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := r.last(device.EventAccountReady)
	if ready.Detail != "Mr John Smith" || ready.Amount != 200 {
		t.Fatalf("account_ready %+v", ready)
	}
	r.pour(1, 10*time.Second) // 500 mL at 50 mL/s: worth 650
	rec := r.booked(id)
	if rec.Pour.Amount != 200 || !rec.Pour.Complete || rec.Ref.Account != "1/5" || rec.Ref.CardName != "Mr John Smith" {
		t.Fatalf("booked %+v %+v", rec.Pour, rec.Ref)
	}
	ds := r.debits()
	if len(ds) != 1 || ds[0].CustomerID != 5 || ds[0].CompanyID != 1 || ds[0].Amount != 200 || ds[0].Waiter != 0 || ds[0].PLU != 101 {
		t.Fatalf("debits %+v", ds)
	}
	c, err := r.till.Collect(context.Background())
	if err != nil || c.Booked != 1 || c.Amount != 200 {
		t.Fatalf("collection %+v, %v", c, err)
	}
	if b := r.balance(5); b != 0 {
		t.Fatalf("balance after collection %d, want 0", b)
	}
	if len(r.debits()) != 0 {
		t.Fatal("collected debits left")
	}
	// Nothing left: the next tap is refused below the line's minimum.
	if _, err := r.tap(1, accountpay.Key{Card: cardJohn}); !errors.Is(err, accountpay.ErrRefused) {
		t.Fatalf("empty account: %v", err)
	}
	if ev, _ := r.last(device.EventAccountRefused); !strings.Contains(ev.Detail, "minimum pour") {
		t.Fatalf("refusal %+v", ev)
	}
}

// TestQuickPoursDoNotOverspend: while one pour of an account is open, a
// second tap can spend only what the first cannot; once the first is
// booked (its debit uncollected), only the rest.
func TestQuickPoursDoNotOverspend(t *testing.T) {
	r := newRig(t, emu.Options{}, nil)
	if _, err := r.tap(1, accountpay.Key{Card: cardJohn}); err != nil {
		t.Fatal(err)
	}
	// The same account by its account number, on another line, at once.
	if _, err := r.tap(2, accountpay.Key{Account: "54321"}); !errors.Is(err, accountpay.ErrRefused) {
		t.Fatalf("second tap while the first may spend everything: %v", err)
	}
	r.pour(1, 4*time.Second) // about 200 mL of Helles: about 260
	ds := r.debits()
	if len(ds) != 1 || ds[0].Amount < 200 || ds[0].Amount > 300 {
		t.Fatalf("debits %+v", ds)
	}
	first := int64(ds[0].Amount)
	id, err := r.tap(2, accountpay.Key{Account: "54321"})
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := r.last(device.EventAccountReady); ev.Amount != 1000-first {
		t.Fatalf("second pour may spend %d, want %d", ev.Amount, 1000-first)
	}
	r.pour(2, 20*time.Second)
	if rec := r.booked(id); rec.Pour.Amount != 1000-first {
		t.Fatalf("second pour %d, want the rest %d", rec.Pour.Amount, 1000-first)
	}
	c, err := r.till.Collect(context.Background())
	if err != nil || c.Booked != 2 || c.Amount != 1000 {
		t.Fatalf("collection %+v, %v", c, err)
	}
	if b := r.balance(5); b != 0 {
		t.Fatalf("balance %d after spending it all", b)
	}
}

// TestStaleBalanceRefreshed: a balance younger than balance_max_age is
// used again; an older one, or one whose debits the till has collected
// since, is read afresh.
func TestStaleBalanceRefreshed(t *testing.T) {
	r := newRig(t, emu.Options{}, nil)
	avail := func() int64 {
		t.Helper()
		id, err := r.tap(1, accountpay.Key{Card: cardJane})
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := r.last(device.EventAccountReady)
		if err := r.dev.Stop(1); err != nil {
			t.Fatal(err)
		}
		r.run(2 * time.Second)
		r.booked(id)
		return ev.Amount
	}
	if a := avail(); a != 2000 {
		t.Fatalf("first read %d", a)
	}
	if err := r.emu.SetBalance(1, 6, 500); err != nil { // a change the agent has not seen
		t.Fatal(err)
	}
	if a := avail(); a != 2000 {
		t.Fatalf("within balance_max_age: %d, want the cached 2000", a)
	}
	r.run(61 * time.Second)
	if a := avail(); a != 500 {
		t.Fatalf("after balance_max_age: %d, want 500", a)
	}
	// A debit collected since the read makes the read stale at once.
	if _, err := r.tap(1, accountpay.Key{Card: cardJane}); err != nil {
		t.Fatal(err)
	}
	r.pour(1, 2*time.Second) // about 100 mL
	if err := r.emu.SetBalance(1, 6, 1000); err != nil {
		t.Fatal(err)
	}
	c, err := r.till.Collect(context.Background())
	if err != nil || c.Booked != 1 || c.Amount <= 0 {
		t.Fatalf("collection %+v, %v", c, err)
	}
	if a := avail(); a != 1000-c.Amount {
		t.Fatalf("after a collection: %d, want the fresh %d", a, 1000-c.Amount)
	}
}

// TestRefusals: status 0 answers, in both readings (HTTP 200 and 4xx),
// become account_refused with TouchTopUp's msg; an unmapped card or
// account number is refused; a link key TouchTopUp refuses is refused.
func TestRefusals(t *testing.T) {
	for _, codes := range []bool{false, true} {
		r := newRig(t, emu.Options{ErrorStatusCodes: codes}, func(tt *config.TouchTopUp) {
			tt.Accounts = append(tt.Accounts, config.TouchTopUpAccount{Card: 1005, LinkKey: "000001-000006-000000001"})
		})
		for _, c := range []struct {
			k    accountpay.Key
			want string
		}{
			{accountpay.Key{Card: cardUnknown}, "No Data Available"},
			{accountpay.Key{Card: cardNone}, "no TouchTopUp account is configured for this card"},
			{accountpay.Key{Account: "777"}, "no TouchTopUp account is configured for this account number"},
			{accountpay.Key{Card: 1005}, "link key refused: linkkey is not valid"},
		} {
			_, err := r.tap(1, c.k)
			ev, _ := r.last(device.EventAccountRefused)
			if !errors.Is(err, accountpay.ErrRefused) || !strings.Contains(ev.Detail, c.want) {
				t.Errorf("status codes %v, %s: %v, event %q; want %q", codes, c.k, err, ev.Detail, c.want)
			}
		}
		if r.sim.Board.Line(1).Truth().ValveOpen {
			t.Fatal("a refused account opened the valve")
		}
	}
}

// TestOffline: unreachable, an account is refused by default; with an
// allowance it pours within it, counted durably per day.
func TestOffline(t *testing.T) {
	r := newRig(t, emu.Options{}, nil)
	r.emu.SetFaults(cloudemu.Faults{Down: true})
	_, err := r.tap(1, accountpay.Key{Card: cardJohn})
	if ev, _ := r.last(device.EventAccountRefused); !errors.Is(err, accountpay.ErrRefused) || ev.Detail != "TouchTopUp unreachable" {
		t.Fatalf("offline without allowance: %v, %+v", err, ev)
	}
	for name, f := range map[string]cloudemu.Faults{"5xx": {FailAll: true}, "timeout": {Latency: 2 * time.Second}} {
		r.emu.SetFaults(f)
		if _, err := r.tap(1, accountpay.Key{Card: cardJohn}); !errors.Is(err, accountpay.ErrRefused) {
			t.Fatalf("%s: %v", name, err)
		}
		if ev, _ := r.last(device.EventAccountRefused); ev.Detail != "TouchTopUp unreachable" {
			t.Fatalf("%s: %+v", name, ev)
		}
	}

	r = newRig(t, emu.Options{}, func(tt *config.TouchTopUp) { tt.OfflineAllowance = 300 })
	r.emu.SetFaults(cloudemu.Faults{Down: true})
	id, err := r.tap(1, accountpay.Key{Card: cardJohn})
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := r.last(device.EventAccountReady); ev.Amount != 300 || !strings.Contains(ev.Detail, "offline allowance") {
		t.Fatalf("offline ready %+v", ev)
	}
	r.pour(1, 10*time.Second)
	if rec := r.booked(id); rec.Pour.Amount != 300 || rec.Ref.AccountOffline != "2026-12-02" {
		t.Fatalf("offline pour %+v %+v", rec.Pour, rec.Ref)
	}
	if _, err := r.tap(1, accountpay.Key{Card: cardJohn}); !errors.Is(err, accountpay.ErrRefused) {
		t.Fatalf("allowance used up: %v", err)
	}
	// Durable: a restart does not give the allowance back.
	r.stop(true)
	r.start()
	if _, err := r.tap(1, accountpay.Key{Card: cardJohn}); !errors.Is(err, accountpay.ErrRefused) {
		t.Fatalf("allowance after restart: %v", err)
	}
	if ev, _ := r.last(device.EventAccountRefused); !strings.Contains(ev.Detail, "used up") {
		t.Fatalf("refusal %+v", ev)
	}
	// Back online: the offline pour's debit is owed, the rest pours.
	r.emu.SetFaults(cloudemu.Faults{})
	if _, err := r.tap(1, accountpay.Key{Card: cardJohn}); err != nil {
		t.Fatal(err)
	}
	if ev, _ := r.last(device.EventAccountReady); ev.Amount != 700 {
		t.Fatalf("online again: may spend %d, want 700", ev.Amount)
	}
}

// TestDebitInThePoursCommit: the agent dies mid-pour and between booking
// and collection; after the restart the debit is there once, and the
// till books it once: a repeated collection (its DELETE lost) is refused
// by the account's consecutive number.
func TestDebitInThePoursCommit(t *testing.T) {
	r := newRig(t, emu.Options{}, nil)
	if _, err := r.tap(1, accountpay.Key{Card: cardJohn}); err != nil {
		t.Fatal(err)
	}
	r.sim.Board.Line(1).Pour([]sim.Point{{T: 0, MLs: 50}})
	r.run(2 * time.Second)
	testwait.Until(t, 10*time.Second, "a checkpoint with money", func() bool {
		in, _ := r.store.Intents()
		return len(in) == 1 && in[0].Progress.Amount > 0
	})
	r.stop(false) // kill -9 mid-pour
	r.start()     // recovery books the pour from its checkpoint, and its debit
	ds := r.debits()
	if len(ds) != 1 || ds[0].Amount <= 0 || ds[0].CustomerID != 5 {
		t.Fatalf("debits after the crash %+v", ds)
	}
	owed := int64(ds[0].Amount)
	r.stop(false) // and again, before the till came
	r.start()
	if ds := r.debits(); len(ds) != 1 || int64(ds[0].Amount) != owed {
		t.Fatalf("debits after a second restart %+v", ds)
	}
	r.till.KeepDebits = true // the till's DELETE is lost
	if c, err := r.till.Collect(context.Background()); err != nil || c.Booked != 1 || c.Amount != owed {
		t.Fatalf("collection %+v, %v", c, err)
	}
	r.till.KeepDebits = false
	c, err := r.till.Collect(context.Background())
	if err != nil || c.Booked != 0 || c.Replayed != 1 {
		t.Fatalf("replayed collection %+v, %v", c, err)
	}
	if b := r.balance(5); b != 1000-owed {
		t.Fatalf("balance %d, want %d: debited once", b, 1000-owed)
	}
	if len(r.debits()) != 0 {
		t.Fatal("the replayed collection should have deleted the debit")
	}
}

// TestCardTapRoutes: at the card reader, a mapped online card pours from
// its account; any other card goes on to the wall's online cards.
func TestCardTapRoutes(t *testing.T) {
	r := newRig(t, emu.Options{}, nil)
	var passed []int64
	next := func(_ context.Context, _ int, card int64) (string, error) {
		passed = append(passed, card)
		return "", device.ErrCardRefused
	}
	id, err := r.pay.CardTap(context.Background(), 1, cardJohn, next)
	if err != nil || id == "" || len(passed) != 0 {
		t.Fatalf("mapped card: %q %v, passed on %v", id, err, passed)
	}
	if _, err := r.pay.CardTap(context.Background(), 2, cardNone, next); !errors.Is(err, device.ErrCardRefused) || len(passed) != 1 || passed[0] != cardNone {
		t.Fatalf("unmapped card: %v, passed on %v", err, passed)
	}
}

func TestParseAccount(t *testing.T) {
	for s, ok := range map[string]bool{"1/5": true, "0/5": false, "1/-5": false, "1/5/": false, "01/5": false, "1/5x": false, "": false} {
		if _, got := accountpay.ParseAccount(s); got != ok {
			t.Errorf("%q: %v", s, got)
		}
	}
}
