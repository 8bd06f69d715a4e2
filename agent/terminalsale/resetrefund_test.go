package terminalsale_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/storage"
)

// silentAfterApproval is a reader that goes silent right after it sends
// VEND APPROVED (its power browning out), so the VEND FAILURE for a line
// that refused the pour never reaches it.
type silentAfterApproval struct {
	r    *mdbsim.Reader
	done bool
}

func (s *silentAfterApproval) Send(ctx context.Context, b []mdb.Word) (mdb.Reply, error) {
	rep, err := s.r.Send(ctx, b)
	if !s.done && err == nil && rep.Kind == mdb.ReplyData && len(rep.Data) > 0 && rep.Data[0] == mdb.RspVendApproved {
		s.done = true
		s.r.SetFaults(func(f *mdbsim.Faults) { f.Silent = true })
	}
	return rep, err
}

func (s *silentAfterApproval) Answer(c byte) error { return s.r.Answer(c) }

// TestResetWithRefundPending: the line is taken when the approval comes,
// so no pour starts and VEND FAILURE is due, but the reader falls silent
// and is reset before it hears it: the reset makes the vend a sale
// (MDB 4.2 §7.4.7). The kept money is booked once as a payment, the vend
// reconciled, and the terminal sells again without a restart.
func TestResetWithRefundPending(t *testing.T) {
	r := newRigOn(t, func(rd *mdbsim.Reader) { rd.MaxResponse = 5; rd.F.SlowApproval = 50 },
		func(rd *mdbsim.Reader) mdb.Transport { return &silentAfterApproval{r: rd} }, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000)
	r.until("asking", func() bool { return r.reader.State() == mdb.Vend })
	// The line is taken meanwhile: Authorise fails at the approval.
	if _, err := r.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: 2000, PortionPrice: 300}}); err != nil {
		t.Fatal(err)
	}
	r.until("reconciled", r.has(device.EventMDBVendReconciled))
	r.reader.SetFaults(func(f *mdbsim.Faults) { f.Silent = false })
	r.until("ready again", func() bool { return r.ev.Count(device.EventMDBReady) >= 2 })
	if !r.journalEmpty() {
		t.Fatalf("journal still holds the vend: %s", r.types())
	}
	var paid []int64
	for _, rc := range r.records() {
		if rc.Pour.Amount != 0 {
			paid = append(paid, rc.Pour.Amount)
			if rc.Pour.Reason != flow.ReasonPayment || rc.Ref.Vend == "" {
				t.Fatalf("the kept money booked as %+v", rc)
			}
		}
	}
	if !slices.Equal(paid, []int64{price}) {
		t.Fatalf("amounts booked %v", paid)
	}
	r.pour(1)
	r.reader.PresentCard(1000)
	r.until("sold again", func() bool { return r.ev.Count(device.EventMDBVendSuccess) == 1 && r.journalEmpty() })
	if strings.Contains(r.types(), "not settled") {
		t.Fatalf("terminal locked: %s", r.types())
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price, price}) || len(l.Refunds) != 0 {
		t.Fatalf("reader ledger %+v", l)
	}
	if n := r.ev.Count(device.EventMDBVendReconciled); n != 1 {
		t.Fatalf("%d reconciliations: %s", n, r.types())
	}
}

// lostAfterVendFailure is a port that fails once right after the reader
// acknowledged VEND FAILURE, before any POLL confirms the refund.
type lostAfterVendFailure struct {
	r      *mdbsim.Reader
	acked  bool
	failed bool
}

func (l *lostAfterVendFailure) Send(ctx context.Context, b []mdb.Word) (mdb.Reply, error) {
	if l.acked && !l.failed {
		l.failed = true
		return mdb.Reply{}, mdb.ErrLink
	}
	rep, err := l.r.Send(ctx, b)
	if err == nil && rep.Kind == mdb.ReplyACK && len(b) > 1 && b[0].Byte()&0x07 == mdb.CmdVend && b[1].Byte() == mdb.VendFailure {
		l.acked = true
	}
	return rep, err
}

func (l *lostAfterVendFailure) Answer(c byte) error { return l.r.Answer(c) }

// TestRefundInterruptedByPortLoss: nothing flows, the reader takes VEND
// FAILURE, then the port fails before a POLL confirms the refund. That is
// no refund refused: the vend stays open, and once the port is back the
// POLLs confirm the refund; nothing is booked as a sale.
func TestRefundInterruptedByPortLoss(t *testing.T) {
	var bus *lostAfterVendFailure
	r := newRigOn(t, nil, func(rd *mdbsim.Reader) mdb.Transport { bus = &lostAfterVendFailure{r: rd}; return bus }, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000)
	r.until("refunded and settled", func() bool { return r.ev.Count(device.EventMDBVendRefunded) == 1 && r.journalEmpty() })
	if !bus.failed || r.ev.Count(device.EventMDBRefundFailed) != 0 || sum(r.records()) != 0 {
		t.Fatalf("port failed %v; records %+v: %s", bus.failed, r.records(), r.types())
	}
	if l := r.reader.Ledger(); len(l.Sales) != 0 || !slices.Equal(l.Refunds, []uint32{price}) {
		t.Fatalf("reader ledger %+v", l)
	}
}

// TestApprovedAfterResetSettledBeforeTheNextVend: an approved vend that a
// reader reset made a sale, with no pour running for it (its booking
// failed when the reset came), is booked before the next request instead
// of refusing every card until a restart.
func TestApprovedAfterResetSettledBeforeTheNextVend(t *testing.T) {
	r := newRig(t, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	left := terminalsale.Entry{Vend: "10-99", State: "approved", Line: 1, Portion: portion, Price: price, Approved: price, Reset: true}
	raw, err := json.Marshal(left)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.store.Update("mdb_vends", func(b storage.Bucket) error { return b.Put([]byte("10"), raw) }); err != nil {
		t.Fatal(err)
	}
	r.pour(1)
	r.reader.PresentCard(1000)
	r.until("sold", func() bool { return r.ev.Count(device.EventMDBVendSuccess) == 1 && r.journalEmpty() })
	if strings.Contains(r.types(), "not settled") || r.ev.Count(device.EventMDBVendReconciled) != 1 {
		t.Fatalf("events: %s", r.types())
	}
	var paid []int64
	for _, rc := range r.records() {
		paid = append(paid, rc.Pour.Amount)
	}
	if !slices.Equal(paid, []int64{price, price}) {
		t.Fatalf("booked %v", paid)
	}
}
