package serversync_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/tapagent/tapagent/internal/testwait"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/walltest"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// bench is the agent on the simulated wall with a real TTG emulator on
// loopback. Uploads happen only when a test calls flush, so what reaches
// the server is under the test's control.
type bench struct {
	t     *testing.T
	cfg   *config.Config
	clk   *clock.Manual
	wall  *simwall.Wall
	store *storage.Store
	up    *Uplink
	first *Uplink // owns the emulator
	agent *device.Agent
	srv   *ttgserver.Server

	ev walltest.Events
}

func newBench(t *testing.T, start time.Time, mutate func(*config.Config)) *bench {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.TTG.TimeZone = "UTC"
	cfg.TTG.Timeout.Duration = 2 * time.Second
	for i := range cfg.Sim.Lines {
		cfg.Sim.Lines[i].AirBurstsPerMin = 0
	}
	if mutate != nil {
		mutate(cfg)
	}
	b := &bench{t: t, cfg: cfg, clk: clock.NewManual(start)}
	if b.wall, err = simwall.NewWall(cfg, b.clk); err != nil {
		t.Fatal(err)
	}
	b.open(nil)
	t.Cleanup(b.close)
	return b
}

// open starts the agent and uplink; srvURL reuses a running emulator.
func (b *bench) open(reuse *Uplink) {
	var err error
	b.store, err = storage.Open(filepath.Join(b.cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		b.t.Fatal(err)
	}
	cfg := *b.cfg
	if reuse != nil {
		cfg.TTG.URL = reuse.URL
	}
	if b.up, err = New(&cfg, b.store, true, nil); err != nil {
		b.t.Fatal(err)
	}
	if reuse == nil {
		b.first, b.srv = b.up, b.up.Server
	}
	b.agent, err = device.New(device.Options{Config: b.cfg, Clock: b.clk, Store: b.store, Valves: b.wall.Valves,
		Meters: b.wall.Meters, Emit: b.ev.Add, Catalog: b.up.Catalog(), Cards: b.up.Cards(), OnBooked: b.up.Syncer.Kick})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.agent.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.up.Attach(b.agent.Report)
	if err := b.up.Syncer.Refresh(context.Background()); err != nil {
		b.t.Logf("initial refresh: %v", err)
	}
}

func (b *bench) close() {
	if b.agent != nil {
		b.agent.Close()
		if b.up != b.first {
			b.up.Stop(time.Second)
		}
		b.store.Close()
		b.agent = nil
	}
	if b.first != nil {
		b.first.Stop(0)
		b.first = nil
	}
}

// restart stops the agent as a crash would (no flush) and starts it again
// against the same server.
func (b *bench) restart() {
	b.agent.Close()
	if b.up != b.first {
		b.up.Stop(0)
	}
	b.store.Close()
	b.agent = nil
	for _, m := range b.wall.Meters {
		m.Close()
	}
	b.open(b.first)
}

func (b *bench) count(typ device.EventType) int { return b.ev.Count(typ) }

func (b *bench) run(d time.Duration) {
	for end := b.clk.Mono() + d; b.clk.Mono() < end; {
		b.wall.Board.Advance(10 * time.Millisecond)
		b.agent.Tick()
	}
}

func (b *bench) pour(line int, mls float64, d time.Duration) {
	b.wall.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: mls}, {T: d, MLs: mls}, {T: d + time.Millisecond, MLs: 0}})
}

func (b *bench) flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return b.up.Syncer.Flush(ctx)
}

func (b *bench) outbox() []storage.Record {
	recs, err := b.store.Outbox(0, 1<<30)
	if err != nil {
		b.t.Fatal(err)
	}
	return recs
}

func evening(h, m, s int) time.Time { return time.Date(2026, 11, 20, h, m, s, 0, time.UTC) }

func TestPoursArriveExactly(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), nil)
	if _, err := b.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(300)}}); err != nil {
		t.Fatal(err)
	}
	b.pour(1, 60, 10*time.Second)
	items, _ := b.up.Syncer.Catalog().LineItems(2, 102, b.clk.Now(), ttg.KegState{FillPermille: 1000})
	if len(items) == 0 || items[0].ItemID != "102-03" || items[0].Volume != flow.ML(300) || items[0].Price != 390 {
		t.Fatalf("line 2 items %+v", items)
	}
	if _, err := b.agent.Authorise(2, device.Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: items[0].Volume,
		PortionPrice: items[0].Price}, Ref: storage.Ref{ItemID: items[0].ItemID}}); err != nil {
		t.Fatal(err)
	}
	b.pour(2, 50, 10*time.Second)
	if _, err := b.agent.CardTap(context.Background(), 4, 1000001); err != nil {
		t.Fatal(err)
	}
	b.pour(4, 50, 4*time.Second)
	b.run(15 * time.Second)
	recs := b.outbox()
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.outbox()); n != 0 {
		t.Fatalf("%d left in the outbox", n)
	}
	txs := b.srv.Transactions()
	if len(txs) != 3 {
		t.Fatalf("server has %d transactions", len(txs))
	}
	u := b.up.Syncer.Catalog().Units()
	for _, r := range recs {
		var got *ttg.Transaction
		for i := range txs {
			if txs[i].Tx.PLU == r.PLU {
				got = &txs[i].Tx
			}
		}
		if got == nil {
			t.Fatalf("record %s (plu %d) not on the server", r.ID, r.PLU)
		}
		card, _ := strconv.ParseInt(r.Ref.CardID, 10, 64)
		if int64(got.Volume) != u.FromVol(r.Pour.Volume) || int64(got.Money) != r.Pour.Amount || got.CardID != card ||
			got.ItemID != r.Ref.ItemID || got.VolumeDP != u.DP {
			t.Errorf("record %+v arrived as %+v", r, *got)
		}
	}
	c, _ := b.srv.Card(1000001)
	if c.LockedBy != 0 || c.Credit != 2000-c.Balance || c.Balance == 0 {
		t.Fatalf("card after its pour: %+v", c)
	}
}

func TestHappyHourAppliesAtTheMinute(t *testing.T) {
	b := newBench(t, evening(16, 59, 30), nil)
	c := ttg.NewClient(ttg.ClientConfig{BaseURL: b.up.URL, Username: "tapagent", Password: "tapagent", ClientID: 9})
	hh := ttg.HappyHour{GroupID: "1", Name: "After work", StartTime: 17 * 60, EndTime: 18 * 60, PriceLevel: ttg.PriceHH1, AffectedPLUs: "101"}
	if err := c.Call(context.Background(), "/m2m/api/addhappyhour", map[string]any{"id": 9, "happyhours": []ttg.HappyHour{hh}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.up.Syncer.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	pourAt := func() {
		if _, err := b.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(100)}}); err != nil {
			t.Fatal(err)
		}
		b.pour(1, 60, 3*time.Second)
		b.run(5 * time.Second)
	}
	pourAt() // authorised 16:59:30
	b.run(25 * time.Second)
	pourAt() // authorised 17:00:00
	recs := b.outbox()
	if len(recs) != 2 || recs[0].Ref.PricingState != "0" || recs[1].Ref.PricingState != "1" {
		t.Fatalf("pricing states %v / %v", recs[0].Ref, recs[1].Ref)
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	txs := b.srv.Transactions()
	if txs[0].Tx.PricePerUnit != 13 || txs[1].Tx.PricePerUnit != 10 {
		t.Fatalf("prices per cl: %d then %d, want 13 then 10", txs[0].Tx.PricePerUnit, txs[1].Tx.PricePerUnit)
	}
	if want := int32(int64(txs[1].Tx.Volume) * 10 / 10); txs[1].Tx.Money > want {
		t.Fatalf("happy hour pour charged %d for %d", txs[1].Tx.Money, txs[1].Tx.Volume)
	}
}

func TestServerDownFor1000PoursThenBack(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), nil)
	b.srv.SetFaults(ttgserver.Faults{FailAll: true})
	b.up.Start(b.agent.Report) // the uploader keeps trying while the wall pours
	const perLine = 250
	for i := 0; i < perLine; i++ {
		for line := 1; line <= 4; line++ {
			if _, err := b.agent.Authorise(line, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(30)}}); err != nil {
				t.Fatalf("pour %d line %d: %v", i, line, err)
			}
			b.pour(line, 60, 2*time.Second)
		}
		b.run(1500 * time.Millisecond)
		for line := 1; line <= 4; line++ {
			b.wall.Board.Line(line).ReleaseHandle()
		}
	}
	if n := len(b.outbox()); n != 4*perLine || len(b.srv.Transactions()) != 0 {
		t.Fatalf("%d records waiting, want %d; server has %d", n, 4*perLine, len(b.srv.Transactions()))
	}
	if b.count(device.EventTTGLinkDown) == 0 {
		t.Fatal("the link never went down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := b.up.Syncer.UploadOnce(ctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("upload while down: %v", err)
	}
	b.srv.SetFaults(ttgserver.Faults{})
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.srv.Transactions()); n != 4*perLine {
		t.Fatalf("server has %d transactions, want exactly %d", n, 4*perLine)
	}
	if n := len(b.outbox()); n != 0 {
		t.Fatalf("%d left", n)
	}
}

func bookPours(t *testing.T, b *bench, n int) {
	for i := 0; i < n; i++ {
		if _, err := b.agent.Authorise(1+i%4, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(20)}}); err != nil {
			t.Fatal(err)
		}
		b.pour(1+i%4, 60, time.Second)
		if i%4 == 3 {
			b.run(1500 * time.Millisecond)
		}
	}
	b.run(1500 * time.Millisecond)
}

func TestKilledMidUploadNoLossNoDuplicate(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), nil)
	bookPours(t, b, 12)
	// The server stores the batch but every reply is lost: to the agent the
	// upload failed, as if it had died before hearing back.
	b.srv.SetFaults(ttgserver.Faults{LoseReply: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := b.up.Syncer.UploadOnce(ctx)
	cancel()
	if err == nil {
		t.Fatal("upload with lost replies reported success")
	}
	if len(b.srv.Transactions()) != 12 || len(b.outbox()) != 12 {
		t.Fatalf("server %d, outbox %d", len(b.srv.Transactions()), len(b.outbox()))
	}
	// Restart the agent against the same server: it resends, the server
	// recognises every record, nothing is doubled or lost.
	b.restart()
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if len(b.srv.Transactions()) != 12 || len(b.outbox()) != 0 {
		t.Fatalf("after restart: server %d, outbox %d", len(b.srv.Transactions()), len(b.outbox()))
	}
	if b.count(device.EventTTGDelivered) == 0 {
		t.Fatal("no delivery reported")
	}
}

func TestMalformedAndSlowServer(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), func(c *config.Config) { c.TTG.Timeout.Duration = 200 * time.Millisecond })
	bookPours(t, b, 4)
	for name, f := range map[string]ttgserver.Faults{
		"malformed reply": {Malformed: 10},
		"Timeout":         {Latency: time.Second},
	} {
		b.srv.SetFaults(f)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := b.up.Syncer.UploadOnce(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "/m2m/api/") {
			t.Errorf("%s: error %v", name, err)
		}
		if n := len(b.outbox()); n != 4 {
			t.Fatalf("%s: outbox %d", name, n)
		}
	}
	b.srv.SetFaults(ttgserver.Faults{})
	testwait.Until(t, 10*time.Second, "the slow requests finish server-side", func() bool { return b.srv.Busy() == 0 })
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.srv.Transactions()); n != 4 {
		t.Fatalf("server %d", n)
	}
}

func TestRefusedRecordsAreDeadLetters(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), func(c *config.Config) { c.Lines[2].PLU = 999 })
	bookPours(t, b, 4)
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	dl, err := b.store.DeadLetters()
	if err != nil || len(dl) != 1 || dl[0].Record.Line != 3 || !strings.Contains(dl[0].Reason, "plu 999 does not exist") {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
	if len(b.srv.Transactions()) != 3 || len(b.outbox()) != 0 || b.count(device.EventTTGDeadLetter) != 1 {
		t.Fatalf("server %d outbox %d", len(b.srv.Transactions()), len(b.outbox()))
	}
}

func TestCachedCatalogWhenServerDown(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), nil)
	b.srv.SetFaults(ttgserver.Faults{FailAll: true})
	b.restart()
	price, _, ok := b.up.Syncer.FreePourPrice(101, b.clk.Now(), flow.Keg{})
	if !ok || price.Amount(flow.ML(500)) != 650 {
		t.Fatalf("cached price: %+v %v", price, ok)
	}
	b.srv.SetFaults(ttgserver.Faults{})
}

func TestConfigChangeIsPickedUp(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), func(c *config.Config) { c.TTG.StampPoll.Duration = 50 * time.Millisecond })
	b.up.Start(b.agent.Report)
	c := ttg.NewClient(ttg.ClientConfig{BaseURL: b.up.URL, Username: "tapagent", Password: "tapagent", ClientID: 9})
	ctx := context.Background()
	if err := c.Call(ctx, "/m2m/api/changeproductprice", map[string]any{"id": 9, "products": []map[string]any{{"plu": 101, "price_per_unit": 15}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "/m2m/api/configupdate", map[string]any{"id": 9}, nil); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "the new price arrives", func() bool {
		p, _, _ := b.up.Syncer.FreePourPrice(101, b.clk.Now(), flow.Keg{})
		return p.Amount(flow.ML(100)) == 150
	})
}

func TestCardPurchasesAndTokenExpiry(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), nil)
	b.srv.SetFaults(ttgserver.Faults{ExpireTokens: true})
	for _, ref := range []storage.Ref{
		{CardID: "555", PurchaseType: "111", CardName: "Kim", StaffName: "Bar", Alcohol: "1"},
		{CardID: "555", PurchaseType: "113", Amount: "700", CardName: "Kim", StaffName: "Bar"},
	} {
		if _, err := b.agent.BookCardPurchase(ref); err != nil {
			t.Fatal(err)
		}
		b.clk.Advance(time.Second)
	}
	if err := b.flush(); err != nil {
		t.Fatalf("flush after token expiry: %v", err)
	}
	c, ok := b.srv.Card(555)
	if !ok || c.Credit != 700 || len(b.srv.CardPurchases()) != 2 {
		t.Fatalf("card %+v (%v), purchases %d", c, ok, len(b.srv.CardPurchases()))
	}
	if _, err := b.agent.CardTap(context.Background(), 1, 1000004); !errors.Is(err, device.ErrCardRefused) {
		t.Fatalf("blocked card: %v", err)
	}
	if _, err := b.agent.CardTap(context.Background(), 1, 31337); !errors.Is(err, device.ErrCardRefused) {
		t.Fatalf("unknown card: %v", err)
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	for _, ev := range b.ev.All() {
		if j, _ := json.Marshal(ev); strings.Contains(string(j), "31337") || strings.Contains(string(j), "1000004") {
			t.Errorf("a card UID in clear in an event: %s", j)
		}
	}
	var released bool
	for _, tx := range b.srv.Transactions() {
		released = released || (tx.Tx.CardID == 1000004 && tx.Tx.PLU == 0)
	}
	if !released {
		t.Fatal("refused card not released with an empty transaction")
	}
}

// resendModes are the two readings of a resent card purchase a server may
// take: counted as skipped (3.39), or refused because it already happened.
var resendModes = []struct {
	name   string
	refuse bool
}{{"server skips resends", false}, {"server refuses resends", true}}

// uploadLosingReplies runs one upload against a server that stores what it
// gets but loses its next three replies (refuse: and refuses resends).
func (b *bench) uploadLosingReplies(refuse bool) error {
	b.srv.SetFaults(ttgserver.Faults{LoseReply: 3, RefuseCardResend: refuse})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := b.up.Syncer.UploadOnce(ctx)
	return err
}

// bookCard books a card purchase that must be taken.
func (b *bench) bookCard(ref storage.Ref) {
	b.t.Helper()
	if _, err := b.agent.BookCardPurchase(ref); err != nil {
		b.t.Fatal(err)
	}
}

// TestCardCreateWithLostReplyIsDelivered: the server stores a card create
// but the reply is lost; the agent resends after a restart. Whether the
// server counts the resend as skipped (3.39) or refuses it because the card
// now exists, the record is delivered, not dead-lettered; a create that
// clashes with another customer's card still is.
func TestCardCreateWithLostReplyIsDelivered(t *testing.T) {
	for _, c := range resendModes {
		t.Run(c.name, func(t *testing.T) {
			b := newBench(t, evening(20, 0, 0), nil)
			b.bookCard(storage.Ref{CardID: "555", PurchaseType: "111",
				CardName: "Kim", StaffName: "Bar", Alcohol: "1"})
			err := b.uploadLosingReplies(c.refuse)
			if err == nil || len(b.srv.CardPurchases()) != 1 || len(b.outbox()) != 1 {
				t.Fatalf("lost reply: err %v, server %d, outbox %d", err, len(b.srv.CardPurchases()), len(b.outbox()))
			}
			b.restart()
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			dl, err := b.store.DeadLetters()
			if err != nil || len(dl) != 0 || len(b.outbox()) != 0 || len(b.srv.CardPurchases()) != 1 {
				t.Fatalf("after resend: dead letters %+v (%v), outbox %d, server %d", dl, err, len(b.outbox()), len(b.srv.CardPurchases()))
			}
			// Someone else's card: the server refuses, and so does the check.
			b.bookCard(storage.Ref{CardID: "1000001", PurchaseType: "111",
				CardName: "Kim", StaffName: "Bar"})
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			if dl, _ := b.store.DeadLetters(); len(dl) != 1 || !strings.Contains(dl[0].Reason, "exists") {
				t.Fatalf("clash: dead letters %+v", dl)
			}
		})
	}
}

// TestCardEraseWithLostReplyIsDelivered: the server erases a card (199)
// but the reply is lost. A server that refuses resends answers the resend
// "card N unknown"; the card being gone is what the erase asked for, so the
// record is delivered, not dead-lettered.
func TestCardEraseWithLostReplyIsDelivered(t *testing.T) {
	for _, c := range resendModes {
		t.Run(c.name, func(t *testing.T) {
			b := newBench(t, evening(20, 0, 0), nil)
			b.bookCard(storage.Ref{CardID: "555", PurchaseType: "111",
				CardName: "Kim", StaffName: "Bar"})
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			b.clk.Advance(time.Minute)
			b.bookCard(storage.Ref{CardID: "555", PurchaseType: "199",
				CardName: "Kim", StaffName: "Bar"})
			err := b.uploadLosingReplies(c.refuse)
			if _, there := b.srv.Card(555); err == nil || there || len(b.outbox()) != 1 {
				t.Fatalf("lost reply: err %v, card still there %v, outbox %d", err, there, len(b.outbox()))
			}
			b.restart()
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			if dl, err := b.store.DeadLetters(); err != nil || len(dl) != 0 || len(b.outbox()) != 0 {
				t.Fatalf("after resend: dead letters %+v (%v), outbox %d", dl, err, len(b.outbox()))
			}
		})
	}
}

// TestOnlineCardOfAMinor: 3.40's cardinfo has no alcohol flag. A server
// that sends alcohol_allowed is believed; without it the local rule
// ttg.online_card_alcohol decides. Line 1 pours beer (ABV 4.8).
func TestOnlineCardOfAMinor(t *testing.T) {
	for _, c := range []struct {
		name       string
		serverFlag bool
		rule       string
		card       int64
		pours      bool
	}{
		{"server says no: minor refused", true, "allow", 1000003, false},
		{"server says yes: adult pours", true, "refuse", 1000001, true},
		{"spec reply, rule allow: minor pours", false, "allow", 1000003, true},
		{"spec reply, rule refuse: minor refused", false, "refuse", 1000003, false},
		{"spec reply, rule refuse: adult refused too", false, "refuse", 1000001, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBench(t, evening(20, 0, 0), func(cfg *config.Config) { cfg.TTG.OnlineCardAlcohol = c.rule })
			b.srv.SetFaults(ttgserver.Faults{CardInfoAlcohol: c.serverFlag})
			_, err := b.agent.CardTap(context.Background(), 1, c.card)
			if c.pours != (err == nil) {
				t.Fatalf("card %d: %v", c.card, err)
			}
			if !c.pours && !errors.Is(err, device.ErrCardRefused) {
				t.Fatalf("refusal: %v", err)
			}
		})
	}
}

// TestServingsLimitInHundredths: servingsLimit (3.39), consumedServings
// (3.40) and a transaction's servings (3.41) are all read as hundredths of
// a serving, as servings_per_patron is ("200 for 2.00"). A bill card with a
// limit of 2.00 servings of 50 cl pours 1 L in all, then is refused.
func TestServingsLimitInHundredths(t *testing.T) {
	b := newBench(t, evening(20, 0, 0), nil)
	b.bookCard(storage.Ref{CardID: "888", PurchaseType: "121",
		CardName: "Table 9", StaffName: "Bar", ServingsLimit: "200", Alcohol: "1"})
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	caps := []flow.Vol{}
	for _, secs := range []time.Duration{13, 10} {
		if _, err := b.agent.CardTap(context.Background(), 1, 888); err != nil {
			t.Fatalf("tap %d: %v", len(caps)+1, err)
		}
		b.pour(1, 60, secs*time.Second)
		b.run((secs + 20) * time.Second)
		recs := b.outbox()
		if len(recs) == 0 {
			t.Fatalf("tap %d booked nothing", len(caps)+1)
		}
		caps = append(caps, recs[len(recs)-1].Pour.Auth.CapVol)
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := b.srv.Card(888)
	if caps[0] != flow.ML(1000) || caps[1] != flow.ML(1000)-b.firstPour(888) {
		t.Fatalf("caps %v (card consumed %d/100 servings)", caps, c.ConsumedServings)
	}
	if _, err := b.agent.CardTap(context.Background(), 1, 888); !errors.Is(err, device.ErrCardRefused) || !strings.Contains(err.Error(), "servings limit") {
		t.Fatalf("third tap after %d/100 servings: %v", c.ConsumedServings, err)
	}
}

// firstPour is the volume of the card's first transaction on the server,
// in the agent's units, as the server counted its servings.
func (b *bench) firstPour(card int64) flow.Vol {
	for _, tx := range b.srv.Transactions() {
		if tx.Tx.CardID == card && tx.Tx.Volume > 0 {
			// 50 cl a serving: servings/100 × 500 mL.
			return flow.ML(int64(tx.Tx.Servings) * 5)
		}
	}
	return 0
}

// TestCardExpiryInTheServerZone: cardinfo's expirationTimestamp is the
// server's wall clock (ttg.time_zone), not the host's.
func TestCardExpiryInTheServerZone(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip(err)
	}
	expires := time.Date(2026, 11, 20, 21, 0, 0, 0, kolkata) // 15:30 UTC
	for _, c := range []struct {
		name  string
		at    time.Time
		pours bool
	}{
		{"before expiry", expires.Add(-30 * time.Minute), true},
		{"after expiry", expires.Add(30 * time.Minute), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The host clock reads UTC; the server's zone is Kolkata.
			b := newBench(t, c.at.UTC(), func(cfg *config.Config) { cfg.TTG.TimeZone = "Asia/Kolkata" })
			for _, ref := range []storage.Ref{
				{CardID: "556", PurchaseType: "111", CardName: "Kim", StaffName: "Bar",
					Alcohol: "1", Expires: strconv.FormatInt(expires.UnixMilli(), 10)},
				{CardID: "556", PurchaseType: "113", Amount: "1000", CardName: "Kim", StaffName: "Bar"},
			} {
				if _, err := b.agent.BookCardPurchase(ref); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			_, err := b.agent.CardTap(context.Background(), 1, 556)
			if c.pours != (err == nil) {
				t.Fatalf("tap at %s: %v", c.at.In(kolkata).Format(ttg.TimeLayout), err)
			}
		})
	}
}

// TestPourAcrossFallBackIsDelivered: Berlin falls back at 03:00 CEST on
// 2026-10-25. A pour that starts before the change and stops after it is
// booked, sent and stored, not dead-lettered for a stop before its start.
func TestPourAcrossFallBackIsDelivered(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	b := newBench(t, time.Date(2026, 10, 25, 0, 59, 30, 0, time.UTC), func(cfg *config.Config) { cfg.TTG.TimeZone = "Europe/Berlin" })
	if _, err := b.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(3000)}}); err != nil {
		t.Fatal(err)
	}
	b.pour(1, 50, 40*time.Second)
	b.run(50 * time.Second)
	recs := b.outbox()
	if len(recs) != 1 {
		t.Fatalf("%d records booked", len(recs))
	}
	wall := func(ms int64) string { return time.UnixMilli(ms).In(berlin).Format(ttg.TimeLayout) }
	if r := recs[0]; wall(r.EndedAt) >= wall(r.StartedAt) {
		t.Fatalf("the pour does not cross the change: %s to %s", wall(r.StartedAt), wall(r.EndedAt))
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	dl, err := b.store.DeadLetters()
	txs := b.srv.Transactions()
	if err != nil || len(dl) != 0 || len(b.outbox()) != 0 || len(txs) != 1 {
		t.Fatalf("dead letters %+v (%v), outbox %d, server %d", dl, err, len(b.outbox()), len(txs))
	}
	if tx := txs[0]; tx.Tx.Stop < tx.Tx.Start || tx.StopEpoch < tx.StartEpoch {
		t.Fatalf("stored %q..%q (%d..%d)", tx.Tx.Start, tx.Tx.Stop, tx.StartEpoch, tx.StopEpoch)
	}
}

// TestEmbeddedEmulatorFollowsTheAgentZone: an emulator database written
// with time_zone UTC is started again by an agent whose ttg.time_zone is
// Asia/Kolkata; the emulator reads the wire in Kolkata from then on, so
// the pour is stored at the instant it was booked.
func TestEmbeddedEmulatorFollowsTheAgentZone(t *testing.T) {
	if _, err := time.LoadLocation("Asia/Kolkata"); err != nil {
		t.Skip("no time zone database:", err)
	}
	b := newBench(t, evening(20, 0, 0), nil)
	b.close()
	for _, m := range b.wall.Meters {
		m.Close()
	}
	b.cfg.TTG.TimeZone = "Asia/Kolkata"
	b.open(nil)
	if cfg := b.up.Syncer.Catalog().Config; cfg["time_zone"] != "Asia/Kolkata" {
		t.Fatalf("emulator time_zone %q", cfg["time_zone"])
	}
	if _, err := b.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(300)}}); err != nil {
		t.Fatal(err)
	}
	b.pour(1, 50, 6*time.Second)
	b.run(20 * time.Second)
	recs := b.outbox()
	if err := b.flush(); err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if txs := b.srv.Transactions(); len(txs) != 1 || txs[0].StopEpoch != recs[0].EndedAt/1000 {
		t.Fatalf("stored %+v, booked stop %d", txs, recs[0].EndedAt/1000)
	}
}
