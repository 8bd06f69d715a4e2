package mdbsim

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/mdb"
)

// transports are the ways a master reaches the simulated reader: in
// process, through the Qibixx adapter protocol on a pseudo-terminal, and
// through the board UART's 9-bit emulation.
var transports = []struct {
	name string
	open func(t *testing.T, r *Reader) mdb.Transport
}{
	{"in-process", func(_ *testing.T, r *Reader) mdb.Transport { return r }},
	{"qibixx", func(t *testing.T, r *Reader) mdb.Transport {
		m, s, err := pty.Open()
		if err != nil {
			t.Skip(err)
		}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { ServeQibixx(sctx, s, r); close(done) }()
		t.Cleanup(func() { stop(); s.Close(); <-done; m.Close() })
		q := mdb.NewQibixx(pty.File{File: m})
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return q
	}},
	{"uart", func(_ *testing.T, r *Reader) mdb.Transport { return &mdb.UART{L: &UARTLine{R: r}} }},
}

// polls counts the POLLs in a reader's log.
func polls(r *Reader) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.Log {
		if strings.HasPrefix(l, "12*") {
			n++
		}
	}
	return n
}

// TestImmediateReplies: a reader that answers SETUP config, EXPANSION
// REQUEST ID, VEND REQUEST, VEND CANCEL, SESSION COMPLETE and READER CANCEL
// in the immediate response comes up and sells, with no POLL needed for
// any of them; an approval given at once is still followed by VEND
// SUCCESS, and the reader's ledger holds exactly the one sale.
func TestImmediateReplies(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			r := New(mdb.Cashless1)
			r.Immediate = true
			m := &mdb.Master{T: tc.open(t, r), Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
			if err := m.Init(ctx); err != nil {
				t.Fatalf("power-up: %v", err)
			}
			if m.State != mdb.Enabled || m.Config.Level != 1 || m.Periph.Manufacturer != "SIM" {
				t.Fatalf("after power-up: %s %+v %+v", m.State, m.Config, m.Periph)
			}
			if n := polls(r); n != 1 { // the one for JUST RESET
				t.Fatalf("%d POLLs during power-up, want 1", n)
			}
			r.PresentCard(1000)
			pollFor(t, m, mdb.RspBeginSession)
			before := polls(r)
			if err := m.VendRequest(ctx, 420, 7); err != nil {
				t.Fatal(err)
			}
			msgs, err := m.PollOnce(ctx)
			if err != nil || len(msgs) != 1 || msgs[0] != (mdb.VendApproved{Amount: 420}) || polls(r) != before {
				t.Fatalf("approval: %v %v, %d POLLs", msgs, err, polls(r)-before)
			}
			if m.State != mdb.SessionIdle {
				t.Fatalf("state after the approval %s", m.State)
			}
			if err := m.VendSuccess(ctx, 7); err != nil {
				t.Fatal(err)
			}
			// Beyond the funds: denied at once.
			if err := m.VendRequest(ctx, 900, 7); err != nil {
				t.Fatal(err)
			}
			pollFor(t, m, mdb.RspVendDenied)
			// VEND CANCEL of an approval held back: VEND DENIED at once.
			r.SetFaults(func(f *Faults) { f.SlowApproval = 3 })
			if err := m.VendRequest(ctx, 100, 7); err != nil {
				t.Fatal(err)
			}
			if err := m.VendCancel(ctx); err != nil {
				t.Fatal(err)
			}
			pollFor(t, m, mdb.RspVendDenied)
			if err := m.SessionComplete(ctx); err != nil {
				t.Fatal(err)
			}
			pollFor(t, m, mdb.RspEndSession)
			if err := m.ReaderCancel(ctx); err != nil {
				t.Fatal(err)
			}
			pollFor(t, m, mdb.RspCancelled)
			if l := r.Ledger(); !slices.Equal(l.Sales, []uint32{420}) || len(l.Refunds) != 0 || m.State != mdb.Enabled {
				t.Fatalf("ledger %+v, state %s", l, m.State)
			}
		})
	}
}

// TestImmediateReplyDamaged: an immediate response damaged on the line is
// NAKed; the reader took the command and repeats its answer at the next
// POLL, so the vend goes on rather than failing. Through the adapter,
// which checks replies itself, the damaged approval is a p,NACK: VEND
// REQUEST reports no response, the master counts the reader in its Vend
// state all the same, and the repeated approval comes at the next POLL.
func TestImmediateReplyDamaged(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			r := New(mdb.Cashless1)
			r.Immediate = true
			m := &mdb.Master{T: tc.open(t, r), Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
			r.F.BadChecksums = 1 // the READER CONFIG in SETUP's response
			if err := m.Init(ctx); err != nil {
				t.Fatalf("power-up: %v", err)
			}
			r.PresentCard(1000)
			pollFor(t, m, mdb.RspBeginSession)
			r.SetFaults(func(f *Faults) { f.BadChecksums = 1 })
			err := m.VendRequest(ctx, 420, 7)
			if tc.name == "qibixx" && (!errors.Is(err, mdb.ErrTimeout) || m.State != mdb.Vend) ||
				tc.name != "qibixx" && err != nil {
				t.Fatalf("VEND REQUEST with a damaged immediate approval: %v, state %s", err, m.State)
			}
			if a := pollFor(t, m, mdb.RspVendApproved).(mdb.VendApproved); a.Amount != 420 {
				t.Fatalf("approved %d", a.Amount)
			}
			if err := m.VendSuccess(ctx, 7); err != nil {
				t.Fatal(err)
			}
			if l := r.Ledger(); !slices.Equal(l.Sales, []uint32{420}) {
				t.Fatalf("ledger %+v", l)
			}
		})
	}
}
