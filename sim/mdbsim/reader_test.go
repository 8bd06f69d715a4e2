package mdbsim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/mdb"
)

var ctx = context.Background()

func master(r *Reader) *mdb.Master {
	return &mdb.Master{T: r, Addr: r.Addr, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
}

// pollFor polls until a message with code comes, following the state machine.
func pollFor(t *testing.T, m *mdb.Master, code byte) mdb.Msg {
	t.Helper()
	for i := 0; i < 10; i++ {
		msgs, err := m.PollOnce(ctx)
		if err != nil {
			continue
		}
		for _, msg := range msgs {
			if msg.Code() == code {
				return msg
			}
		}
	}
	t.Fatalf("no %02X", code)
	return nil
}

func TestVendOnTheSimulatedReader(t *testing.T) {
	for _, addr := range []byte{mdb.Cashless1, mdb.Cashless2} {
		r := New(addr)
		m := master(r)
		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if m.State != mdb.Enabled || r.State() != mdb.Enabled || m.Periph.Manufacturer != "SIM" {
			t.Fatalf("%02X after init: %s / %s", addr, m.State, r.State())
		}
		r.PresentCard(500)
		if bs := pollFor(t, m, mdb.RspBeginSession).(mdb.BeginSession); bs.Funds != 500 {
			t.Fatalf("funds %d", bs.Funds)
		}
		if err := m.VendRequest(ctx, 390, 102); err != nil {
			t.Fatal(err)
		}
		if a := pollFor(t, m, mdb.RspVendApproved).(mdb.VendApproved); a.Amount != 390 {
			t.Fatalf("approved %d", a.Amount)
		}
		if err := m.VendSuccess(ctx, 102); err != nil {
			t.Fatal(err)
		}
		// A second vend beyond the card's funds is denied.
		if err := m.VendRequest(ctx, 390, 102); err != nil {
			t.Fatal(err)
		}
		pollFor(t, m, mdb.RspVendDenied)
		if err := m.SessionComplete(ctx); err != nil {
			t.Fatal(err)
		}
		pollFor(t, m, mdb.RspEndSession)
		if m.State != mdb.Enabled || len(r.Sales) != 1 || r.Sales[0] != 390 {
			t.Fatalf("state %s, sales %v", m.State, r.Sales)
		}
	}
}

// TestFaults: lost answers and damaged replies during power-up, a reader
// that resets itself mid-session, and an out-of-sequence command.
func TestFaults(t *testing.T) {
	r := New(mdb.Cashless1)
	r.F.Timeouts, r.F.BadChecksums = 2, 2
	m := master(r)
	if err := m.Init(ctx); err != nil {
		t.Fatalf("init through timeouts and bad checksums: %v", err)
	}
	if m.State != mdb.Enabled {
		t.Fatalf("state %s", m.State)
	}
	r.PresentCard(-1)
	pollFor(t, m, mdb.RspBeginSession)
	// The reader reboots mid-session: JUST RESET, set up again without RESET.
	r.PowerCycle()
	pollFor(t, m, mdb.RspJustReset)
	if !m.NeedSetup || m.State != mdb.Inactive {
		t.Fatalf("after JUST RESET: %+v", m)
	}
	before := len(r.Log)
	if err := m.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Log[before:] {
		if l == "10* 10" {
			t.Fatal("a reader's own JUST RESET must not be answered with RESET")
		}
	}
	if m.State != mdb.Enabled {
		t.Fatalf("after recovery %s", m.State)
	}
	// A VEND SUCCESS with no vend: OUT OF SEQUENCE, then RESET and set-up.
	if err := m.VendSuccess(ctx, 1); err != nil {
		t.Fatal(err)
	}
	pollFor(t, m, mdb.RspOutOfSequence)
	before = len(r.Log)
	if err := m.Recover(ctx); err != nil || r.Log[before] != "10* 10" || m.State != mdb.Enabled {
		t.Fatalf("recovery from out of sequence: %v %v %s", err, r.Log[before:], m.State)
	}
	// A reader that is not there: a clear error, not a hang.
	gone := New(mdb.Cashless2)
	gone.F.Silent = true
	if err := master(gone).Init(ctx); err == nil {
		t.Fatal("a silent reader initialised")
	}
}

// TestPAXTrailingFF: a reader that bends the spec is tolerated and logged.
func TestPAXTrailingFF(t *testing.T) {
	r := New(mdb.Cashless1)
	r.F.TrailingFF = true
	m := master(r)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	r.PresentCard(20000)
	pollFor(t, m, mdb.RspBeginSession)
	if len(m.Warnings) != 1 || m.State != mdb.SessionIdle {
		t.Fatalf("warnings %v, state %s", m.Warnings, m.State)
	}
}

// TestThroughTheQibixxAdapter: the master on the adapter driver, over a
// pseudo-terminal, to the simulated reader behind the adapter protocol.
func TestThroughTheQibixxAdapter(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	defer s.Close()
	r := New(mdb.Cashless1)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ServeQibixx(sctx, s, r); close(done) }()
	defer func() { stop(); s.Close(); <-done }()

	q := mdb.NewQibixx(pty.File{File: m})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vmc := &mdb.Master{T: q, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
	if err := vmc.Init(ctx); err != nil {
		t.Fatal(err)
	}
	r.PresentCard(1000)
	pollFor(t, vmc, mdb.RspBeginSession)
	if err := vmc.VendRequest(ctx, 420, 7); err != nil {
		t.Fatal(err)
	}
	if a := pollFor(t, vmc, mdb.RspVendApproved).(mdb.VendApproved); a.Amount != 420 {
		t.Fatalf("approved %d", a.Amount)
	}
	if err := vmc.VendSuccess(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if l := r.Ledger(); len(l.Sales) != 1 {
		t.Fatalf("sales %v", l.Sales)
	}
	// The reader unplugged behind the adapter: NACK, taken as no answer.
	r.SetFaults(func(f *Faults) { f.Silent = true })
	if _, err := vmc.PollOnce(ctx); err == nil {
		t.Fatal("a silent reader answered")
	}
}

// TestOfflineAndBack: one lost answer is only a NAK; a reader silent for
// its non-response time (Z7 = 30 s here) is offline and is RESET every
// 10 s until it answers again.
func TestOfflineAndBack(t *testing.T) {
	r := New(mdb.Cashless1)
	now := time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)
	m := master(r)
	m.Now = func() time.Time { return now }
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	r.F.Silent = true
	now = now.Add(time.Second)
	if _, err := m.PollOnce(ctx); err == nil || m.Offline {
		t.Fatalf("one timeout: %v, offline %v", err, m.Offline)
	}
	now = now.Add(30 * time.Second) // the reader's Z7
	m.PollOnce(ctx)
	if !m.Offline || m.State != mdb.Inactive {
		t.Fatalf("after Z7 of silence: offline %v, %s", m.Offline, m.State)
	}
	resets := func() int {
		n := 0
		for _, l := range r.Log {
			if l == "10* 10" {
				n++
			}
		}
		return n
	}
	before := resets()
	if err := m.Recover(ctx); err == nil {
		t.Fatal("a silent reader recovered")
	}
	after := resets()
	now = now.Add(5 * time.Second)
	m.Recover(ctx) // within 10 s of the last try: no RESET
	if resets() != after || after == before {
		t.Fatalf("RESETs: %d, %d, %d", before, after, resets())
	}
	r.F.Silent = false
	now = now.Add(5 * time.Second)
	if err := m.Recover(ctx); err != nil || m.Offline || m.State != mdb.Enabled {
		t.Fatalf("back: %v offline %v %s", err, m.Offline, m.State)
	}
}

// TestLevel3Options: the VMC enables only the level-3 options both sides
// offer, then speaks 32-bit money; a level-2 VMC never sends them.
func TestLevel3Options(t *testing.T) {
	r := New(mdb.Cashless1)
	r.Level, r.Options = 3, mdb.OptFTL|mdb.Opt32BitMoney|mdb.OptAlwaysIdle
	m := master(r)
	m.ID.Level, m.ID.Options = 3, mdb.Opt32BitMoney|mdb.OptAlwaysIdle|mdb.OptNegativeVend
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Enabled != mdb.Opt32BitMoney|mdb.OptAlwaysIdle || m.Periph.Options != r.Options {
		t.Fatalf("enabled %06b, offered %06b", m.Enabled, m.Periph.Options)
	}
	found := false
	for _, l := range r.Log {
		if l == "17* 04 00 00 00 22 3D" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no EXPANSION ENABLE OPTIONS 17 04 00000022 in %v", r.Log)
	}
	r.PresentCard(250000)
	if bs := pollFor(t, m, mdb.RspBeginSession).(mdb.BeginSession); bs.Funds != 250000 || bs.Currency != 0x1978 {
		t.Fatalf("expanded begin session %+v", bs)
	}
	if err := m.VendRequest(ctx, 100000, 9); err != nil {
		t.Fatal(err)
	}
	if a := pollFor(t, m, mdb.RspVendApproved).(mdb.VendApproved); a.Amount != 100000 {
		t.Fatalf("expanded approval %d", a.Amount)
	}

	// The same reader with a level-2 VMC: no option bytes, no 32-bit money.
	r2 := New(mdb.Cashless1)
	r2.Level, r2.Options = 3, mdb.Opt32BitMoney
	m2 := master(r2)
	if err := m2.Init(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range r2.Log {
		if strings.HasPrefix(l, "17* 04") {
			t.Fatalf("a level-2 VMC enabled options: %v", r2.Log)
		}
	}
	r2.PresentCard(-1)
	pollFor(t, m2, mdb.RspBeginSession)
	if err := m2.VendRequest(ctx, 100000, 9); err == nil || !strings.Contains(err.Error(), "32-bit") {
		t.Fatalf("a 17-bit price without the option: %v", err)
	}
}

// TestVendFailureRefund: after VEND FAILURE the VMC polls for the refund.
func TestVendFailureRefund(t *testing.T) {
	for _, fails := range []bool{false, true} {
		r := New(mdb.Cashless1)
		r.F.RefundFails = fails
		m := master(r)
		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		r.PresentCard(1000)
		pollFor(t, m, mdb.RspBeginSession)
		m.VendRequest(ctx, 300, 1)
		pollFor(t, m, mdb.RspVendApproved)
		err := m.VendFailure(ctx)
		if fails != errors.Is(err, mdb.ErrRefundFailed) || !fails && err != nil {
			t.Fatalf("refund fails %v: %v", fails, err)
		}
		// A refund that failed leaves the money taken: a sale.
		kept, given := r.Sales, r.Refunds
		if fails {
			kept, given = r.Refunds, r.Sales
		}
		if len(kept) != 0 || len(given) != 1 || given[0] != 300 || m.State != mdb.SessionIdle {
			t.Fatalf("refund fails %v: sales %v, refunds %v, state %s", fails, r.Sales, r.Refunds, m.State)
		}
	}
}

// TestSessionCompleteDuringAVend: what a reader may do with SESSION
// COMPLETE while a vend is open — end the session, or take it as out of
// sequence (§7.3) — each offered by the simulator.
func TestSessionCompleteDuringAVend(t *testing.T) {
	for _, strict := range []bool{false, true} {
		r := New(mdb.Cashless1)
		r.StrictComplete = strict
		m := &mdb.Master{T: r, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		r.PresentCard(1000)
		pollFor(t, m, mdb.RspBeginSession)
		if err := m.VendRequest(ctx, 300, 1); err != nil {
			t.Fatal(err)
		}
		if err := m.SessionComplete(ctx); err != nil {
			t.Fatal(err)
		}
		want := byte(mdb.RspEndSession)
		if strict {
			want = mdb.RspOutOfSequence
		}
		pollFor(t, m, want)
	}
}

// TestLostReplyIsExecuted: a command whose reply is lost on the wire was
// executed all the same; the data reply the VMC never ACKed comes again at
// the next POLL.
func TestLostReplyIsExecuted(t *testing.T) {
	r := New(mdb.Cashless1)
	r.Immediate = true
	m := &mdb.Master{T: r, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	r.PresentCard(1000)
	pollFor(t, m, mdb.RspBeginSession)
	r.SetFaults(func(f *Faults) { f.LoseReplyTo = []byte{mdb.Cashless1 | mdb.CmdVend, mdb.VendRequest} })
	if err := m.VendRequest(ctx, 300, 1); !errors.Is(err, mdb.ErrTimeout) || r.State() != mdb.Vend {
		t.Fatalf("VEND REQUEST: %v, reader %s", err, r.State())
	}
	pollFor(t, m, mdb.RspVendApproved)
}
