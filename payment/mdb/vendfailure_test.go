package mdb

import (
	"context"
	"errors"
	"testing"
	"time"
)

// linkLost is a transport whose port has gone.
type linkLost struct{}

func (linkLost) Send(context.Context, []Word) (Reply, error) { return Reply{}, ErrLink }
func (linkLost) Answer(byte) error                           { return ErrLink }

// TestVendFailureOutcomes: what VEND FAILURE's answers say about the
// refund (MDB 4.2 §7.4.8) and about the command's delivery: a lost reply is
// only a NAK and the command is sent again; a refund confirmed, refused or
// left unconfirmed after an ACK; a command the reader never got is neither.
// Messages the POLLs bring besides stay for the caller.
func TestVendFailureOutcomes(t *testing.T) {
	const vf, poll = "13* 03 16", "12* 12"
	for _, tc := range []struct {
		name  string
		steps []step
		want  error // nil: refunded
		left  []Msg // in the inbox afterwards
	}{
		{"refunded after a lost reply", []step{{vf, "", ""}, {vf, "00*", ""}, {poll, "00*", ""}}, nil, nil},
		{"refund refused", []step{{vf, "00*", ""}, {poll, "0A C0 CA*", "00"}}, ErrRefundFailed, nil},
		{"END SESSION kept", []step{{vf, "00*", ""}, {poll, "07 07*", "00"}, {poll, "00*", ""}}, nil, []Msg{Simple(RspEndSession)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &trace{t: t, steps: tc.steps}
			m := &Master{T: tr, Addr: Cashless1, State: Vend}
			err := m.VendFailure(context.Background())
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("VEND FAILURE: %v, want %v", err, tc.want)
			}
			if tr.i != len(tr.steps) {
				t.Fatalf("trace at %d of %d", tr.i, len(tr.steps))
			}
			msgs := m.inbox
			if len(msgs) != len(tc.left) || len(msgs) > 0 && msgs[0] != tc.left[0] {
				t.Fatalf("left %#v, want %#v", msgs, tc.left)
			}
		})
	}
	t.Run("unconfirmed", func(t *testing.T) {
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		tr := &trace{t: t, steps: []step{{vf, "00*", ""}, {poll, "", ""}, {poll, "", ""}}}
		m := &Master{T: tr, Addr: Cashless1, State: Vend, Now: func() time.Time { now = now.Add(3 * time.Second); return now }}
		if err := m.VendFailure(context.Background()); !errors.Is(err, ErrRefundUnconfirmed) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("not delivered", func(t *testing.T) {
		m := &Master{T: linkLost{}, Addr: Cashless1, State: Vend}
		err := m.VendFailure(context.Background())
		if !errors.Is(err, ErrLink) || errors.Is(err, ErrRefundUnconfirmed) || errors.Is(err, ErrRefundFailed) {
			t.Fatalf("%v", err)
		}
	})
}

// ackThenLost is a reader that acknowledges VEND FAILURE, after which its
// port goes (or, with cancel set, the caller stops) before any POLL
// answers; until back is set, after which it answers POLL with ACK.
type ackThenLost struct {
	sends  int
	cancel context.CancelFunc
	back   bool
}

func (a *ackThenLost) Send(ctx context.Context, _ []Word) (Reply, error) {
	a.sends++
	switch {
	case a.sends == 1 || a.back:
		return Reply{Kind: ReplyACK}, nil
	case a.cancel != nil:
		a.cancel()
		return Reply{}, ctx.Err()
	default:
		return Reply{}, ErrLink
	}
}

func (a *ackThenLost) Answer(byte) error { return nil }

// TestRefundInterrupted: the reader took VEND FAILURE, then the port was
// lost or the caller stopped during the POLLs that confirm the refund: that
// is neither a refund refused nor one left unconfirmed (which would be
// booked as a sale) but an interruption, and ConfirmRefund settles it once
// the reader answers again.
func TestRefundInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop bool
	}{{"port lost", false}, {"stopped", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			a := &ackThenLost{}
			if tc.stop {
				a.cancel = cancel
			}
			m := &Master{T: a, Addr: Cashless1, State: Vend}
			err := m.VendFailure(ctx)
			if !errors.Is(err, ErrRefundInterrupted) || errors.Is(err, ErrRefundUnconfirmed) || errors.Is(err, ErrRefundFailed) {
				t.Fatalf("VEND FAILURE: %v", err)
			}
			a.back = true
			m.Resume()
			if err := m.ConfirmRefund(context.Background()); err != nil {
				t.Fatalf("refund after the reader came back: %v", err)
			}
		})
	}
}
