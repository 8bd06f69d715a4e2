package simwall

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tapagent/tapagent/agent/exesale"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/exesim"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/storage"
)

// terminal is the MDB side of a simulated wall: a simulated cashless
// reader behind the Qibixx adapter protocol on a pseudo-terminal (or a
// real adapter) and the terminal controller on the agent.
type terminal struct {
	sim *mdbsim.Reader // nil with a real adapter
	tap *terminalsale.Tap
	// The EXE vending machine the terminal also pays for ([exe] items):
	// simulated behind a bridge on a pseudo-terminal, or a real bridge.
	machine *exesim.Machine // nil with a real bridge or none
	exe     *exesale.Loop
	minor   byte
	close   func()
}

// startTerminal runs the MDB terminal when the configuration sells lines
// through one or port names a real adapter; nil otherwise.
func startTerminal(ctx context.Context, cfg *config.Config, agent *device.Agent, store *storage.Store, port, exePort, version string,
	now func() time.Time) (*terminal, error) {
	if len(cfg.MDB.Lines) == 0 && port == "" {
		return nil, nil
	}
	tm := &terminal{minor: byte(cfg.Device.Decimals)}
	var bus terminalsale.Bus
	var closers []func()
	if port != "" {
		var err error
		if bus, err = terminalsale.Open(ctx, cfg.MDB, port); err != nil {
			return nil, err
		}
	} else {
		m, s, err := pty.Open()
		if err != nil {
			return nil, err
		}
		tm.sim = mdbsim.New(terminalsale.Address(cfg.MDB))
		tm.sim.Level, tm.sim.CashSale = 3, true
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { mdbsim.ServeQibixx(sctx, s, tm.sim); close(done) }()
		closers = append(closers, func() { stop(); s.Close(); <-done })
		q := mdb.NewQibixx(pty.File{File: m})
		if err := q.Start(ctx); err != nil {
			q.Close()
			closers[0]()
			return nil, err
		}
		bus = q
	}
	t, stop := terminalsale.Start(ctx, cfg, terminalsale.NewMaster(cfg, bus, version), agent, store, now, nil)
	tm.tap = t
	if len(cfg.EXE.Items) > 0 || exePort != "" {
		stopMachine, err := tm.startMachine(ctx, cfg.EXE, exePort, agent.Report)
		if err != nil {
			stop()
			bus.Close()
			for _, c := range closers {
				c()
			}
			return nil, err
		}
		stopTerminal := stop
		stop = func() { stopMachine(); stopTerminal() }
	}
	var once sync.Once
	tm.close = func() {
		once.Do(func() {
			stop()
			bus.Close()
			for _, c := range closers {
				c()
			}
		})
	}
	return tm, nil
}

// startMachine runs the EXE machine's sale cycles, paid at the terminal:
// a simulated machine behind a bridge on a pseudo-terminal, or the real
// bridge on port.
func (tm *terminal) startMachine(ctx context.Context, cfg config.EXE, port string, report func(device.Event)) (func(), error) {
	if port != "" {
		m, err := exesale.Open(cfg, port)
		if err != nil {
			return nil, err
		}
		l, stop := exesale.Start(ctx, cfg, m, tm.tap, report)
		tm.exe = l
		return func() { stop(); m.P.Close() }, nil
	}
	tm.machine = &exesim.Machine{}
	tm.machine.Set(false, false, false, false, 800*time.Millisecond) // a can takes a moment to drop
	b, err := tm.machine.OnBridge()
	if err != nil {
		return nil, err
	}
	m := &exe.Master{P: b.Line}
	exesale.Tune(m, cfg)
	l, stop := exesale.Start(ctx, cfg, m, tm.tap, report)
	tm.exe = l
	return func() { stop(); b.Close() }, nil
}

// vend is a customer pressing a selection on the simulated EXE machine.
func (tm *terminal) vend(sel int) error {
	switch {
	case tm == nil || tm.exe == nil:
		return fmt.Errorf("no EXE machine: set [exe] items")
	case tm.machine == nil:
		return fmt.Errorf("a real EXE machine is in use: press its button by hand")
	case sel < 0 || sel > 0xFD:
		return fmt.Errorf("selection %d: must be 0-253", sel)
	}
	tm.machine.Choose(byte(sel))
	return nil
}

func (tm *terminal) machineHealth() any {
	if tm == nil || tm.exe == nil {
		return nil
	}
	return tm.exe.Health()
}

// present puts a payment card with funds (the agent's minor units; 0 for
// unknown) at the simulated terminal.
func (tm *terminal) present(funds int64) error {
	switch {
	case tm == nil:
		return fmt.Errorf("no MDB terminal: set [mdb] lines")
	case tm.sim == nil:
		return fmt.Errorf("a real terminal is in use: present the card by hand")
	}
	f := int32(-1)
	if funds > 0 {
		p, err := mdb.Price(funds, tm.sim.Scale, tm.sim.Decimals, tm.minor, true)
		if err != nil {
			return err
		}
		f = int32(p)
	}
	tm.sim.PresentCard(f)
	return nil
}

func (tm *terminal) choose(line int) error {
	if tm == nil {
		return fmt.Errorf("no MDB terminal: set [mdb] lines")
	}
	return tm.tap.Select(line)
}

func (tm *terminal) health() any {
	if tm == nil {
		return nil
	}
	return tm.tap.Health()
}
