package terminalsale_test

import (
	"bytes"
	"context"
	"github.com/tapagent/tapagent/device"
	"slices"
	"sync"
	"testing"

	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
)

// lostACK is a bus on which the VMC's ACK to the first VEND APPROVED is
// damaged on the wire: the reader never hears it and repeats the approval
// at the next POLL (MDB 4.2 §2.2).
type lostACK struct {
	r              *mdbsim.Reader
	approval, done bool
}

func (l *lostACK) Send(ctx context.Context, b []mdb.Word) (mdb.Reply, error) {
	rep, err := l.r.Send(ctx, b)
	l.approval = err == nil && rep.Kind == mdb.ReplyData && len(rep.Data) > 0 && rep.Data[0] == mdb.RspVendApproved
	return rep, err
}

func (l *lostACK) Answer(c byte) error {
	if l.approval && !l.done {
		l.done = true
		return nil // lost on the wire
	}
	return l.r.Answer(c)
}

// TestRepeatedApprovalDuringThePour: the reader repeats a VEND APPROVED
// whose ACK it missed; the repeat belongs to the open vend and is ignored
// (with a warning), so the pour is sold once and nothing is refunded.
func TestRepeatedApprovalDuringThePour(t *testing.T) {
	for _, imm := range []bool{false, true} {
		r := newRigOn(t, func(rd *mdbsim.Reader) { rd.Immediate = imm }, func(rd *mdbsim.Reader) mdb.Transport { return &lostACK{r: rd} }, 1)
		r.until("reader ready", r.has(device.EventMDBReady))
		r.pour(1)
		r.reader.PresentCard(1000)
		r.until("vend success", r.has(device.EventMDBVendSuccess))
		r.until("booked and settled", func() bool { return len(r.records()) == 1 && r.journalEmpty() })
		if got := sum(r.records()); got != price {
			t.Fatalf("immediate %v: booked %d: %s", imm, got, r.types())
		}
		if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) || len(l.Refunds) != 0 {
			t.Fatalf("immediate %v: reader ledger %+v: %s", imm, l, r.types())
		}
		if r.ev.Count(device.EventMDBVendRefunded) != 0 {
			t.Fatalf("immediate %v: refunded: %s", imm, r.types())
		}
	}
}

// strayApproval answers one POLL, once armed, with a VEND APPROVED no
// request asked for, and records the VEND sub-commands the VMC sends.
type strayApproval struct {
	r *mdbsim.Reader

	mu     sync.Mutex
	armed  bool
	vendTo []byte
}

func (s *strayApproval) arm() { s.mu.Lock(); s.armed = true; s.mu.Unlock() }

func (s *strayApproval) sent() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.vendTo)
}

func (s *strayApproval) Send(ctx context.Context, b []mdb.Word) (mdb.Reply, error) {
	s.mu.Lock()
	if len(b) > 2 && b[0].Byte() == mdb.Cashless1|mdb.CmdVend {
		s.vendTo = append(s.vendTo, b[1].Byte())
	}
	stray := s.armed && len(b) == 2 && b[0].Byte() == mdb.Cashless1|mdb.CmdPoll
	if stray {
		s.armed = false
	}
	s.mu.Unlock()
	if stray {
		return mdb.Reply{Kind: mdb.ReplyData, Data: []byte{mdb.RspVendApproved, 0x01, 0x86}}, nil
	}
	return s.r.Send(ctx, b)
}

func (s *strayApproval) Answer(c byte) error { return s.r.Answer(c) }

// TestStrayApprovalIsRefused: a VEND APPROVED with no vend open (the
// session waits for a selection) opens no valve: VEND FAILURE tells the
// reader not to keep it, and SESSION COMPLETE ends the session.
func TestStrayApprovalIsRefused(t *testing.T) {
	var s *strayApproval
	r := newRigOn(t, nil, func(rd *mdbsim.Reader) mdb.Transport { s = &strayApproval{r: rd}; return s }, 1, 2)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000)
	r.until("session", r.has(device.EventMDBSession))
	s.arm()
	r.until("VEND FAILURE and SESSION COMPLETE", func() bool {
		return bytes.Contains(s.sent(), []byte{mdb.VendFailure, mdb.VendComplete})
	})
	if _, ok := r.event(device.EventMDBVendApproved); ok || len(r.records()) != 0 || !r.journalEmpty() {
		t.Fatalf("records %+v: %s", r.records(), r.types())
	}
}
