package terminalsale_test

import (
	"github.com/tapagent/tapagent/device"
	"slices"
	"testing"

	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
)

// TestImmediateApprovalLineLost: the reader approves in VEND REQUEST's
// own response and the adapter ACKs it on the bus, but the host never
// reads the line, so the approval is not repeated. The vend stays open;
// VEND CANCEL after the vend timeout gets no VEND DENIED (the reader has
// approved), so VEND FAILURE refunds it: nothing poured, booked or charged.
func TestImmediateApprovalLineLost(t *testing.T) {
	a := &mdbsim.Adapter{}
	r := newRigOn(t, func(rd *mdbsim.Reader) { rd.Immediate = true }, onUSBAdapter(t, a), 1, 2)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000)
	r.until("session", r.has(device.EventMDBSession))
	a.LoseAnswer("R,13,00")
	if err := r.tap.Select(1); err != nil {
		t.Fatal(err)
	}
	r.until("refunded", func() bool { return len(r.reader.Ledger().Refunds) == 1 })
	r.until("settled", func() bool { return r.journalEmpty() && r.ev.Count(device.EventMDBSessionEnd) > 0 })
	if _, ok := r.event(device.EventMDBVendApproved); ok || len(r.records()) != 0 {
		t.Fatalf("records %+v: %s", r.records(), r.types())
	}
	if l := r.reader.Ledger(); len(l.Sales) != 0 || !slices.Equal(l.Refunds, []uint32{price}) {
		t.Fatalf("reader ledger %+v", l)
	}
}

// TestVendRequestReplyLost: the reader takes VEND REQUEST but its reply is
// lost on the wire (damaged, or an approval the adapter reports as
// p,NACK). The vend stays open rather than ending the session under an
// approval: the repeated answer comes at a POLL and the portion is sold
// once. A reader that would answer SESSION COMPLETE during the vend with
// OUT OF SEQUENCE (and then be reset, which makes the approval a sale for
// nothing) is never asked it.
func TestVendRequestReplyLost(t *testing.T) {
	for _, tc := range []struct {
		name              string
		immediate, strict bool
		adapter           bool
	}{
		{"ack lost", false, false, false},
		{"ack lost, strict reader", false, true, false},
		{"immediate approval lost", true, false, false},
		{"immediate approval lost, strict reader", true, true, false},
		{"immediate approval damaged behind the adapter", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := func(rd *mdbsim.Reader) { rd.Immediate, rd.StrictComplete = tc.immediate, tc.strict }
			var bus func(*mdbsim.Reader) mdb.Transport
			if tc.adapter {
				bus = onUSBAdapter(t, &mdbsim.Adapter{})
			}
			r := newRigOn(t, set, bus, 1, 2)
			r.until("reader ready", r.has(device.EventMDBReady))
			r.pour(1)
			r.reader.PresentCard(1000)
			r.until("session", r.has(device.EventMDBSession))
			r.reader.SetFaults(func(f *mdbsim.Faults) {
				if tc.adapter {
					f.BadChecksums = 1
				} else {
					f.LoseReplyTo = []byte{mdb.Cashless1 | mdb.CmdVend, mdb.VendRequest}
				}
			})
			if err := r.tap.Select(1); err != nil {
				t.Fatal(err)
			}
			r.until("vend success", r.has(device.EventMDBVendSuccess))
			r.until("booked and settled", func() bool { return len(r.records()) == 1 && r.journalEmpty() })
			if got := sum(r.records()); got != price {
				t.Fatalf("booked %d: %s", got, r.types())
			}
			if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) || len(l.Refunds) != 0 {
				t.Fatalf("reader ledger %+v: %s", l, r.types())
			}
		})
	}
}
