package exesim

import (
	"context"
	"errors"
	"github.com/tapagent/tapagent/internal/testwait"
	"testing"
	"time"

	"github.com/tapagent/tapagent/payment/exe"
)

// payer takes a fixed price per selection; deny refuses.
type payer struct {
	deny    bool
	kept    int64
	settled []bool
}

func (p *payer) Pay(_ context.Context, sel byte) (int64, error) {
	if p.deny {
		return 0, errors.New("no funds")
	}
	return 100 * int64(sel), nil
}

func (p *payer) Settle(_ context.Context, _ byte, amount int64, made bool) {
	if made {
		p.kept += amount
	}
	p.settled = append(p.settled, made)
}

// bridge is the machine on one end of a pseudo-terminal and the master on
// the other, as through a serial EXE bridge.
func bridge(t *testing.T) (*Machine, *exe.Master) {
	t.Helper()
	mc := &Machine{}
	b, err := mc.OnBridge()
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(b.Close)
	return mc, &exe.Master{P: b.Line, Response: 200 * time.Millisecond, VendTimeout: 2 * time.Second}
}

func TestSellThroughABridge(t *testing.T) {
	ctx := context.Background()
	mc, m := bridge(t)
	p := &payer{}
	if _, ok, err := m.Sell(ctx, p); ok || err != nil {
		t.Fatalf("a sale with nobody at the machine: %v %v", ok, err)
	}
	mc.Choose(3)
	s, ok, err := m.Sell(ctx, p)
	if !ok || err != nil || !s.Made || s.Selection != 3 || s.Amount != 300 || p.kept != 300 {
		t.Fatalf("sale %+v ok %v err %v, kept %d", s, ok, err, p.kept)
	}
	// A refused payment: no VEND goes to the machine.
	p.deny = true
	mc.Choose(4)
	if s, ok, _ := m.Sell(ctx, p); !ok || s.Made || s.Refused == "" {
		t.Fatalf("refused sale %+v", s)
	}
	if v, _ := mc.Vended(); len(v) != 1 {
		t.Fatalf("vended %v", v)
	}
	// The dispense fails: the payment is given back.
	p.deny = false
	mc.Set(false, false, true, false, 50*time.Millisecond)
	s, _, err = m.Sell(ctx, p)
	if err != nil || s.Made || p.kept != 300 || p.settled[len(p.settled)-1] {
		t.Fatalf("failed vend %+v, %v, kept %d", s, err, p.kept)
	}
}

func TestMachineStates(t *testing.T) {
	ctx := context.Background()
	mc, m := bridge(t)
	mc.Set(true, false, false, false, 0)
	if st, err := m.Status(ctx); err != nil || !st.Inhibited {
		t.Fatalf("inhibited machine: %+v %v", st, err)
	}
	mc.Choose(1)
	if _, ok, _ := m.Sell(ctx, &payer{}); ok {
		t.Fatal("an inhibited machine was offered a vend")
	}
	mc.Set(false, true, false, false, 0)
	p := &payer{}
	if s, ok, err := m.Sell(ctx, p); !ok || err != nil || !s.Made || s.Amount != 0 || len(p.settled) != 0 {
		t.Fatalf("free vend %+v: charged or not made", s)
	}
	mc.Set(false, false, false, true, 0)
	if _, err := m.Status(ctx); !errors.Is(err, exe.ErrTimeout) {
		t.Fatalf("silent machine: %v", err)
	}
}

// An answer that comes after the master gave up must not be read as the
// answer to the next command.
func TestLateAnswerIsNotTheNextOnes(t *testing.T) {
	ctx := context.Background()
	mc, m := bridge(t)
	mc.SetLag(300 * time.Millisecond)
	answered := mc.Answered()
	if _, err := m.Status(ctx); !errors.Is(err, exe.ErrTimeout) {
		t.Fatalf("slow STATUS: %v", err)
	}
	mc.SetLag(0)
	testwait.Until(t, 5*time.Second, "the late STATUS answer (00) goes out", func() bool { return mc.Answered() > answered })
	sel, req, err := m.Credit(ctx)
	if err != nil || req {
		t.Fatalf("CREDIT read the late STATUS answer as selection %02X (request %v, %v)", sel, req, err)
	}
}
