package exesale_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/exesale"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/walltest"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/sim/exesim"
)

// till is a payer that refuses until it has money.
type till struct{ funds int64 }

func (p *till) Pay(context.Context, byte) (int64, error) {
	if p.funds < 100 {
		return 0, errors.New("no card at the terminal")
	}
	return 100, nil
}

func (p *till) Settle(_ context.Context, _ byte, amount int64, made bool) {
	if made {
		p.funds -= amount
	}
}

// machine is a simulated EXE machine behind a bridge on a pty, and the
// loop selling on it.
func machine(t testing.TB, p exe.Payer) (*exesim.Machine, *exesale.Loop, *walltest.Events) {
	t.Helper()
	mc := &exesim.Machine{}
	b, err := mc.OnBridge()
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(b.Close)
	ev := &walltest.Events{}
	l := exesale.New(exesale.Options{Machine: &exe.Master{P: b.Line, Response: 50 * time.Millisecond, VendTimeout: time.Second},
		Payer: p, Report: func(e device.Event) { ev.Add(e) }})
	return mc, l, ev
}

func TestLoopReportsOnceAndSells(t *testing.T) {
	ctx := context.Background()
	p := &till{}
	mc, l, ev := machine(t, p)
	l.Cycle(ctx)
	if !ev.Has(device.EventEXEReady)() {
		t.Fatalf("events %s", ev)
	}
	mc.Choose(5)
	for range 4 {
		l.Cycle(ctx)
	}
	if n := ev.Count(device.EventEXEVendRefused); n != 1 {
		t.Fatalf("a waiting selection reported %d times: %s", n, ev)
	}
	p.funds = 250
	l.Cycle(ctx)
	if h := l.Health(); h.Vends != 1 || h.Refused != 1 || !h.Answering || p.funds != 150 {
		t.Fatalf("health %+v, funds %d, events %s", h, p.funds, ev)
	}
	// The same refusal after a sale is news again.
	p.funds = 0
	mc.Choose(5)
	l.Cycle(ctx)
	if n := ev.Count(device.EventEXEVendRefused); n != 2 {
		t.Fatalf("refusals %d: %s", n, ev)
	}
}

func TestLoopFaultsAndFreeVend(t *testing.T) {
	ctx := context.Background()
	p := &till{}
	mc, l, ev := machine(t, p)
	mc.Set(false, false, false, true, 0) // silent
	for range 3 {
		l.Cycle(ctx)
	}
	if n := ev.Count(device.EventEXEFault); n != 1 || l.Health().Answering || l.Health().Faults != 1 {
		t.Fatalf("a silent machine reported %d times, health %+v", n, l.Health())
	}
	mc.Set(false, true, false, false, 0) // back, in free vend
	mc.Choose(1)
	l.Cycle(ctx)
	if !ev.Has(device.EventEXEReady)() || !ev.Has(device.EventEXEFreeVend)() || l.Health().FreeVends != 1 {
		t.Fatalf("events %s, health %+v", ev, l.Health())
	}
	// A paid vend the machine cannot make: the payment is given back.
	p.funds = 500
	mc.Set(false, false, true, false, 0)
	mc.Choose(2)
	l.Cycle(ctx)
	if !ev.Has(device.EventEXEVendFailed)() || l.Health().Failed != 1 || p.funds != 500 {
		t.Fatalf("events %s, health %+v, funds %d", ev, l.Health(), p.funds)
	}
}
