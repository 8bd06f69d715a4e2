package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/agent/clientcontrol"
	"github.com/tapagent/tapagent/agent/diagcmd"
	"github.com/tapagent/tapagent/agent/exesale"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/evadts/dexlink"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/transport"
)

// buildDiag gathers what the MQTT commands reach, the firmware updater
// among them (the control API's update notification uses it too).
func (a *Agent) buildDiag() error {
	r := &a.run
	p := diagcmd.Parts{Config: a.cfg, Agent: r.dev, Store: r.store, Audit: r.audit, Uplink: r.up, Version: a.o.Version,
		ConfigPath: a.o.ConfigPath, Log: a.log, Assembly: func() any { return a.Parts() }}
	if a.has(PartReader) {
		p.Reader = func() any {
			if t := r.reader.Load(); t != nil {
				return t.Health()
			}
			return nil
		}
	}
	if a.has(PartTerminal) {
		p.Terminal = func() any {
			if t := r.terminal.Load(); t != nil {
				return t.Health()
			}
			return nil
		}
		p.TerminalSelect = a.TerminalSelect
	}
	if v := r.vouchers; v != nil {
		p.VoucherScan = func(ctx context.Context, line int, code string) error {
			return v.Scan(ctx, line, code, diagcmd.MQTTVia(ctx)) // each operator key is its own source of guesses
		}
	}
	if a.has(PartMachine) {
		p.Machine = func() any {
			if l := r.machine.Load(); l != nil {
				return l.Health()
			}
			return nil
		}
	}
	var err error
	p.Updater, err = diagcmd.NewUpdater(p)
	r.diag = p
	return err
}

// startMQTT connects the diagnostics link before the wall starts, so that
// it publishes the start-up events. Settings the link refuses keep it off
// and the wall pours on (reported once the wall runs).
func (a *Agent) startMQTT(context.Context) error {
	dctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	boot := fmt.Sprintf("%d-%d", a.cfg.Device.ID, time.Now().UnixMilli())
	d, events, err := diagcmd.Start(dctx, a.run.diag, boot, done)
	switch {
	case errors.Is(err, diagcmd.ErrLinkRefused):
		stop()
		a.set(PartMQTT, StateRefused)
		a.log.Error("MQTT diagnostics off; fix the configuration and restart (tapagent doctor shows it too)", "err", err)
		return nil
	case err != nil:
		stop()
		return err
	}
	a.run.fan.add(events)
	a.run.mqtt = d
	// Stops after the wall has closed and booked: the link sends its events.
	a.pushLink(PartMQTT, func() { stop(); <-done })
	a.set(PartMQTT, StateRunning)
	return nil
}

// startRegister gives back the waiter reservations left from before a
// restart, then serves the cash-register interface.
func (a *Agent) startRegister(context.Context) error {
	r := &a.run
	n, err := r.register.Reconcile()
	if err != nil {
		return err
	}
	if n > 0 {
		r.dev.Report(device.Event{Type: device.EventPOSReconciled, Detail: fmt.Sprintf("%d unused waiter reservations given back", n)})
	}
	cash, err := cashregister.Serve(a.cfg.POS.Listen, a.cfg.POS.APIKey, r.register)
	if err != nil {
		return fmt.Errorf("cash interface: %w", err)
	}
	a.pushLink(PartRegister, func() { _ = cash.Close() })
	r.cash = cash.URL
	r.dev.Report(device.Event{Type: device.EventPOSListening, Detail: cash.URL})
	a.set(PartRegister, StateRunning)
	return nil
}

// startControl serves the TTG client-control calls.
func (a *Agent) startControl(ctx context.Context) error {
	cfg, r := a.cfg, &a.run
	access, err := clientcontrol.AccessFrom(cfg.Control)
	if err != nil {
		return err
	}
	zone, err := cfg.TTG.Location()
	if err != nil {
		return fmt.Errorf("ttg.time_zone: %w", err)
	}
	o := clientcontrol.Options{Agent: r.dev, DeviceID: cfg.Device.ID, Sys: sysinfo.NewReader(cfg.Device.DataDir),
		FirmwareNotified: func() { _, _ = r.diag.Updater.Notified(ctx, cfg.Firmware.ManifestURL, a.o.Version) },
		Access:           access, Zone: zone}
	if r.up != nil {
		o.Link, o.ServerToken = r.up.LinkState, r.up.Token
	}
	ctl, err := clientcontrol.Serve(cfg.Control.Listen, o)
	if err != nil {
		return fmt.Errorf("client-control listener: %w", err)
	}
	a.pushLink(PartControl, func() { _ = ctl.Close() })
	r.control = ctl.URL
	r.dev.Report(device.Event{Type: device.EventControlListening, Detail: ctl.URL})
	a.set(PartControl, StateRunning)
	return nil
}

// startDEX answers audit read-outs on the DEX port until the agent stops.
func (a *Agent) startDEX(ctx context.Context) error {
	port, err := a.o.Hardware.OpenDEX(ctx)
	if err != nil {
		return err
	}
	id := evadts.IdentityFrom(a.cfg, a.o.Version)
	full := a.cfg.Audit.ResetOnRead == "full"
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			n, err := dexlink.ServeAudit(ctx, port, a.run.audit, id, full)
			switch {
			case err == nil:
				a.log.Info("audit read on the DEX port", "bytes", n)
			case ctx.Err() == nil && !errors.Is(err, dexlink.ErrTimeout):
				a.log.Warn("DEX session failed", "err", err)
			}
		}
	}()
	a.pushSession(PartDEX, func() { _ = port.Close(); <-done })
	a.log.Info("DEX port open", "dev", a.cfg.DEX.Port)
	a.set(PartDEX, StateRunning)
	return nil
}

// startReader wakes the PN532 and runs the card tap on it.
func (a *Agent) startReader(ctx context.Context) error {
	t, err := a.o.Hardware.OpenReader(ctx)
	if err != nil {
		return err
	}
	d := pn532.NewDevice(t, pn532.Options{})
	fw, err := transport.AskReader(ctx, d)
	if err != nil {
		d.Close()
		return fmt.Errorf("card reader: %w", err)
	}
	r := &a.run
	// The tap gets a context of its own, cancelled before the reader is
	// closed: a tap blocked in a poll (up to a second) then returns at once
	// instead of holding the exit or reporting the closed port as a fault.
	tctx, cancelTap := context.WithCancel(ctx)
	tap, stop, err := cardpay.Start(tctx, d, a.cfg.Cards, a.cfg.Served(a.cfg.Reader.Lines), a.cardAgent(), r.store, a.clk.Now, a.log)
	if err != nil {
		cancelTap()
		d.Close()
		return err
	}
	r.reader.Store(tap)
	a.pushSession(PartReader, func() { cancelTap(); d.Close(); stop() })
	r.dev.Report(device.Event{Type: device.EventReaderReady, Detail: fmt.Sprintf("%s, lines %v", fw, a.cfg.Served(a.cfg.Reader.Lines))})
	a.set(PartReader, StateRunning)
	return nil
}

// startTerminal runs the MDB cashless terminal.
func (a *Agent) startTerminal(ctx context.Context) error {
	bus, err := a.o.Hardware.OpenTerminal(ctx)
	if err != nil {
		return fmt.Errorf("MDB terminal: %w", err)
	}
	r := &a.run
	t, stop := terminalsale.Start(ctx, a.cfg, transport.MDBMaster(a.cfg, bus, a.o.Version), r.dev, r.store, a.terminalVouchers(), a.clk.Now, a.log)
	r.terminal.Store(t)
	a.pushSession(PartTerminal, func() { stop(); _ = bus.Close() })
	a.log.Info("MDB card terminal", "setup", terminalsale.Describe(a.cfg, a.deviceName(CardTerminal, a.cfg.MDB.Port)))
	a.set(PartTerminal, StateRunning)
	return nil
}

// startMachine runs the EXE machine's sale cycles, paid at the terminal.
func (a *Agent) startMachine(ctx context.Context) error {
	port, err := a.o.Hardware.OpenMachine(ctx)
	if err != nil {
		return fmt.Errorf("EXE machine: %w", err)
	}
	m := &exe.Master{P: port}
	transport.TuneEXE(m, a.cfg.EXE)
	l, stop := exesale.Start(ctx, a.cfg.EXE, m, a.run.terminal.Load(), a.run.dev.Report)
	a.run.machine.Store(l)
	a.pushSession(PartMachine, func() { stop(); _ = port.Close() })
	a.log.Info("EXE vending machine", "setup", exesale.Describe(a.cfg.EXE, a.deviceName(VendMachine, a.cfg.EXE.Port)))
	a.set(PartMachine, StateRunning)
	return nil
}

// TerminalSelect picks the line for the session at the MDB terminal
// (mdb.select, a scenario's select step).
func (a *Agent) TerminalSelect(line int) error {
	if t := a.run.terminal.Load(); t != nil {
		return t.Select(line)
	}
	return errors.New("the MDB terminal is not running")
}

// Device is the wall core; nil before Run has built it.
func (a *Agent) Device() *device.Agent { return a.run.dev }

// Store is the agent's database; nil before Run has opened it.
func (a *Agent) Store() *storage.Store { return a.run.store }

// Uplink is the TTG link; nil without a server.
func (a *Agent) Uplink() *serversync.Uplink { return a.run.up }

// CashURL is where the cash-register interface listens; "" without it.
func (a *Agent) CashURL() string { return a.run.cash }

// ControlURL is where the client-control API listens; "" without it.
func (a *Agent) ControlURL() string { return a.run.control }
