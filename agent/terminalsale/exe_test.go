package terminalsale_test

import (
	"context"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/testwait"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/exesale"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/exesim"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// cola is selection 2 of the EXE machine beside the wall.
const colaSel, colaPrice, colaPLU = 2, 150, 501

// newExeRig is the wall with a terminal that sells line 1 and the EXE
// machine's selection 2, and the machine behind a bridge on a pty, its
// sale cycles paid at the terminal.
func newExeRig(t *testing.T, set func(*mdbsim.Reader)) (*rig, *exesim.Machine) {
	t.Helper()
	r := newRigWith(t, func(rd *mdbsim.Reader) {
		if set != nil {
			set(rd)
		}
	}, 1)
	r.stop()
	r.items = map[byte]terminalsale.Item{colaSel: {Product: "Cola 0.33", PLU: colaPLU, Price: colaPrice}}
	r.agent.Close()
	r.store.Close()
	r.start()
	mc := &exesim.Machine{}
	b, err := mc.OnBridge()
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(b.Close)
	master := &exe.Master{P: b.Line, Response: 200 * time.Millisecond, VendTimeout: 5 * time.Second}
	r.machine = func() func() {
		_, stopLoop := exesale.Start(context.Background(), cfgEXE(), master, r.tap, r.ev.Add)
		return stopLoop
	}
	return r, mc
}

// chooseCan is a customer with funds at the terminal pressing the can's
// button once the session is open.
func (r *rig) chooseCan(mc *exesim.Machine, funds int32) {
	r.t.Helper()
	// This terminal's power-up (the rig was restarted: an earlier
	// terminal's mdb_ready does not count, its RESET is still to come).
	r.until("reader ready", func() bool { return r.tap.Health().Ready })
	r.reader.PresentCard(funds)
	r.until("session", r.has(device.EventMDBSession))
	mc.Choose(colaSel)
}

func TestExeVendPaidAtTheTerminal(t *testing.T) {
	r, mc := newExeRig(t, nil)
	defer r.machine()()
	r.chooseCan(mc, 1000)
	r.until("vend success", r.has(device.EventMDBVendSuccess))
	r.until("machine reported", r.has(device.EventEXEVend))
	r.until("journal settled", r.journalEmpty)
	recs := r.records()
	if len(recs) != 1 {
		t.Fatalf("records %+v", recs)
	}
	rec := recs[0]
	if rec.Kind != storage.KindVend || rec.Pour.Amount != colaPrice || rec.Pour.Reason != flow.ReasonVended || rec.PLU != colaPLU ||
		rec.Ref.CardType != "61" {
		t.Fatalf("record %+v", rec)
	}
	units, _ := ttg.NewUnits("l", 3)
	tx, err := ttg.Converter{Units: units}.Transaction(rec)
	if err != nil || tx.Money != colaPrice || tx.PLU != colaPLU || tx.Servings != 100 || tx.Volume != 0 || tx.CardType != ttg.CardMDBPre {
		t.Fatalf("TTG transaction %+v, %v", tx, err)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{colaPrice}) || len(l.Refunds) != 0 {
		t.Fatalf("reader ledger %+v", l)
	}
	if v, _ := mc.Vended(); !slices.Equal(v, []byte{colaSel}) || !r.journalEmpty() {
		t.Fatalf("vended %v, journal empty %v", v, r.journalEmpty())
	}
}

// TestExeSelectionWaitsForACard: a selection before any card is refused
// once (not every poll) and sold when the card comes.
func TestExeSelectionWaitsForACard(t *testing.T) {
	r, mc := newExeRig(t, nil)
	defer r.machine()()
	r.until("reader ready", r.has(device.EventMDBReady))
	mc.Choose(colaSel)
	r.until("refused", r.has(device.EventEXEVendRefused))
	polled := mc.Answered()
	testwait.Until(t, 5*time.Second, "several more polls", func() bool { return mc.Answered() >= polled+10 })
	r.reader.PresentCard(1000)
	r.until("vend success", r.has(device.EventMDBVendSuccess))
	if n := r.ev.Count(device.EventEXEVendRefused); n != 1 {
		t.Fatalf("refusal reported %d times: %s", n, r.types())
	}
	if ev, _ := r.event(device.EventEXEVendRefused); !strings.Contains(ev.Detail, terminalsale.ErrNoCard.Error()) {
		t.Fatalf("refusal %+v", ev)
	}
}

func TestExeDeniedVendIsNotVended(t *testing.T) {
	r, mc := newExeRig(t, nil)
	defer r.machine()()
	r.chooseCan(mc, 100)
	r.until("denied", r.has(device.EventMDBVendDenied))
	r.until("machine told", r.has(device.EventEXEVendRefused))
	r.until("journal settled", r.journalEmpty)
	if v, _ := mc.Vended(); len(v) != 0 || len(r.records()) != 0 || !r.journalEmpty() {
		t.Fatalf("vended %v, records %+v", v, r.records())
	}
}

// TestExeFailedVendIsRefunded: the machine cannot dispense; VEND FAILURE,
// the reader refunds, nothing is booked.
func TestExeFailedVendIsRefunded(t *testing.T) {
	r, mc := newExeRig(t, nil)
	mc.Set(false, false, true, false, 0)
	defer r.machine()()
	r.chooseCan(mc, 1000)
	r.until("refunded", r.has(device.EventMDBVendRefunded))
	r.until("machine reported", r.has(device.EventEXEVendFailed))
	r.until("journal settled", r.journalEmpty)
	if l := r.reader.Ledger(); len(l.Sales) != 0 || !slices.Equal(l.Refunds, []uint32{colaPrice}) {
		t.Fatalf("reader ledger %+v", l)
	}
	if len(r.records()) != 0 || !r.journalEmpty() {
		t.Fatalf("records %+v", r.records())
	}
}

// TestExeRefusedRefundIsBooked: the reader keeps the money of a failed
// vend; it is booked (no item), so the books agree with the terminal.
func TestExeRefusedRefundIsBooked(t *testing.T) {
	r, mc := newExeRig(t, func(rd *mdbsim.Reader) { rd.F.RefundFails = true })
	mc.Set(false, false, true, false, 0)
	defer r.machine()()
	r.chooseCan(mc, 1000)
	r.until("kept", r.has(device.EventMDBRefundFailed))
	r.until("booked", func() bool { return len(r.records()) == 1 && r.journalEmpty() })
	if rec := r.records()[0]; rec.Kind != storage.KindVend || rec.Pour.Reason != flow.ReasonPayment || rec.Pour.Amount != colaPrice {
		t.Fatalf("record %+v", rec)
	}
}

// TestExeCrashWhileTheMachineVends: the agent dies after the approval
// while the machine dispenses. The reader is reset on restart, which
// makes the vend a sale (§7.4.7): booked once, at the approved amount.
func TestExeCrashWhileTheMachineVends(t *testing.T) {
	r, mc := newExeRig(t, nil)
	mc.Set(false, false, false, false, time.Second)
	stopLoop := r.machine()
	r.chooseCan(mc, 1000)
	r.until("approved", r.has(device.EventMDBVendApproved))
	r.crash()
	stopLoop()
	r.start()
	r.until("reconciled", r.has(device.EventMDBVendReconciled))
	r.until("reader ready again", func() bool { return r.tap.Health().Ready })
	recs := r.records()
	if len(recs) != 1 || recs[0].Kind != storage.KindVend || recs[0].Pour.Amount != colaPrice || recs[0].PLU != colaPLU {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{colaPrice}) || !r.journalEmpty() {
		t.Fatalf("reader ledger %+v, journal empty %v", l, r.journalEmpty())
	}
}

// TestExeJournalLeftByACrash: an approved machine vend in the journal at
// start is booked as the item's sale with its product and PLU.
func TestExeJournalLeftByACrash(t *testing.T) {
	r, _ := newExeRig(t, nil)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.crash()
	r.plant(terminalsale.Entry{Vend: "10-9", State: "approved", Exe: true, Selection: colaSel, Product: "Cola 0.33", PLU: colaPLU,
		Price: colaPrice, Approved: colaPrice})
	r.start()
	r.until("reconciled", r.has(device.EventMDBVendReconciled))
	recs := r.records()
	if len(recs) != 1 || recs[0].Kind != storage.KindVend || recs[0].Product != "Cola 0.33" || recs[0].Pour.Amount != colaPrice || !r.journalEmpty() {
		t.Fatalf("records %+v", recs)
	}
	if ev, _ := r.event(device.EventMDBVendReconciled); !strings.Contains(ev.Detail, "outcome is not known") {
		t.Fatalf("reconciliation %+v", ev)
	}
}

func cfgEXE() config.EXE { return config.EXE{Poll: config.Duration{Duration: 20 * time.Millisecond}} }

// TestExeVendRequestReplyLost: the reply to a machine selection's VEND
// REQUEST is lost on the wire; the vend stays open, the reader's repeated
// approval comes at a POLL and the can is sold once.
func TestExeVendRequestReplyLost(t *testing.T) {
	r, mc := newExeRig(t, func(rd *mdbsim.Reader) {
		rd.StrictComplete = true
		rd.F.LoseReplyTo = []byte{mdb.Cashless1 | mdb.CmdVend, mdb.VendRequest}
	})
	defer r.machine()()
	r.chooseCan(mc, 1000)
	r.until("vend success", r.has(device.EventMDBVendSuccess))
	r.until("journal settled", func() bool { return r.journalEmpty() && len(r.records()) == 1 })
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{colaPrice}) || len(l.Refunds) != 0 {
		t.Fatalf("reader ledger %+v: %s", l, r.types())
	}
	if v, _ := mc.Vended(); !slices.Equal(v, []byte{colaSel}) {
		t.Fatalf("vended %v", v)
	}
}
