package agent

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/agent/accountpay"
	"github.com/tapagent/tapagent/agent/auditfeed"
	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/agent/clouds"
	"github.com/tapagent/tapagent/agent/diagcmd"
	"github.com/tapagent/tapagent/agent/exesale"
	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/agent/retention"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/agent/smartnowsync"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/firmware"
	"github.com/tapagent/tapagent/storage"
)

// running is what Run started.
type running struct {
	store    *storage.Store
	dev      *device.Agent
	audit    *evadts.Audit
	register *cashregister.Register
	accounts *accountpay.Payer
	up       *serversync.Uplink
	clouds   *clouds.Links
	smartnow *smartnowsync.Sync
	vouchers *voucherpay.Service // nil without vouchers
	diag     diagcmd.Parts
	fan      fanout
	reader   atomic.Pointer[cardpay.Tap]
	terminal atomic.Pointer[terminalsale.Tap]
	machine  atomic.Pointer[exesale.Loop]
	control  string // client-control URL
	web      string // dashboard URL
	// telemetronAPI is the machine's Telemetron API URL.
	telemetronAPI string
	mqtt          *diag.Diag
	cash          string // cash-register interface URL
	// ctx is the parts' context, ended when the sessions stop.
	ctx context.Context
	end context.CancelFunc
	// sessions stop before the wall shuts down (no new sale while it
	// books); links after it (the uplink delivers the last bookings). Last
	// started, first stopped.
	sessions, links []func()
}

// uplinkGrace bounds the delivery of the last records at exit.
const uplinkGrace = 5 * time.Second

// Run starts every part, drives the wall until ctx ends and stops them in
// reverse order: payment sessions, the wall (pours settled and booked),
// the uplink (what it can deliver within uplinkGrace), listeners, the MQTT
// link, hardware, storage. After a remote restart request it returns
// ErrRestart. Run once.
func (a *Agent) Run(ctx context.Context) error {
	ctx, restart := context.WithCancelCause(ctx)
	defer restart(nil)
	defer a.stopLinks()
	if err := a.start(ctx, restart); err != nil {
		a.stopSessions()
		if d := a.run.dev; d != nil {
			err = errors.Join(err, d.Close())
		}
		return err
	}
	drv := a.o.Driver
	if drv == nil {
		drv = &realClock{}
	}
	a.tellServiceManager(a.run.ctx) // STOPPING once the sessions stop
	drv.Drive(ctx, a)
	a.stopSessions()
	err := drv.Shutdown(a)
	a.set(PartWall, StateStopped)
	if errors.Is(context.Cause(ctx), ErrRestart) {
		a.log.Info("restarting on request: exiting for the service manager to start the agent again")
		return errors.Join(err, ErrRestart)
	}
	return err
}

// start builds the wall and brings the parts up in plan order.
func (a *Agent) start(ctx context.Context, restart context.CancelCauseFunc) error {
	ctx, a.run.end = context.WithCancel(ctx)
	a.run.ctx = ctx
	if err := a.build(restart); err != nil {
		return err
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{PartMQTT, a.startMQTT}, {PartWall, a.startWall}, {PartLocalAPI, a.startLocalAPI}, {PartRegister, a.startRegister}, {PartAccounts, a.startAccounts},
		{PartControl, a.startControl}, {PartWeb, a.startWeb}, {PartTelemetronAPI, a.startTelemetronAPI}, {PartUplink, a.startUplink}, {PartDEX, a.startDEX},
		{PartReader, a.startReader}, {PartTerminal, a.startTerminal}, {PartMachine, a.startMachine},
		{PartClouds, a.startClouds}, {PartSmartNow, a.startSmartNow}, {PartVouchers, a.startVouchers},
	}
	for _, s := range steps {
		if !a.has(s.name) {
			continue
		}
		if err := s.fn(ctx); err != nil {
			a.set(s.name, StateFailed)
			return err
		}
	}
	return nil
}

// build opens storage and the lines and builds the wall core with its
// booking hooks and event fan-out; nothing runs yet.
func (a *Agent) build(restart context.CancelCauseFunc) error {
	cfg, r := a.cfg, &a.run
	var err error
	if r.store, err = OpenStore(cfg); err != nil {
		a.set(PartStore, StateFailed)
		return err
	}
	a.pushLink(PartStore, func() { _ = r.store.Close() })
	a.set(PartStore, StateRunning)
	if a.o.Stopped != nil {
		a.pushLink("", func() { a.o.Stopped(a) })
	}
	lines, err := a.o.Hardware.Lines()
	if err != nil {
		a.set(PartWall, StateFailed)
		return err
	}
	a.pushLink("", func() {
		if err := lines.Release(); err != nil {
			a.log.Error("releasing valves", "err", err)
		}
	})
	a.set(PartAudit, StateRunning)
	r.fan.add(a.o.Events)
	if cfg.POS.Listen != "" {
		r.register = cashregister.NewRegister(r.store, cashregister.ArticlesFrom(cfg.POS, cfg.LineForPLU), a.clk.Now)
	}
	if cfg.TTG.URL != "" {
		if r.up, err = serversync.New(cfg, r.store, false, a.log); err != nil {
			a.set(PartUplink, StateFailed)
			return err
		}
	}
	if r.clouds, err = clouds.New(cfg, r.store, time.Now, a.o.Version, a.log); err != nil {
		a.set(PartClouds, StateFailed)
		return err
	}
	if cfg.SmartNow.URL != "" {
		if r.smartnow, err = smartnowsync.New(smartnowsync.Options{Config: cfg, Store: r.store, Log: a.log}); err != nil {
			a.set(PartSmartNow, StateFailed)
			return err
		}
	}
	r.dev, r.audit, err = NewWall(Wall{Config: cfg, Store: r.store, Clock: a.clk, Lines: lines, Log: a.log, Emit: r.fan.emit, OnBooked: r.booked,
		Register: r.register, Terminal: a.has(PartTerminal), Uplink: r.up, Clouds: r.clouds, SmartNow: r.smartnow, Restart: a.restartPath(restart)})
	if err != nil {
		a.set(PartWall, StateFailed)
		return err
	}
	if err := a.buildVouchers(); err != nil {
		return err
	}
	return a.buildDiag()
}

// Wall is what the wall core is built from.
type Wall struct {
	Config *config.Config
	Store  *storage.Store
	Clock  clock.Clock
	Lines  Lines
	Log    *slog.Logger
	// Emit receives every event after the audit has counted it.
	Emit func(device.Event)
	// Register is the cash register holding waiters' credits; nil refuses waiters.
	Register *cashregister.Register
	// Terminal settles the MDB vend journal in each booking.
	Terminal bool
	// Uplink prices pours from the server's catalogue and is woken by each
	// booking; nil prices from the configuration.
	Uplink *serversync.Uplink
	// Clouds are the other sinks (SmartNow), woken by each booking too.
	Clouds *clouds.Links
	// SmartNow closes lines outside the machine's opening hours and, with
	// [smartnow] prices, prices them from its assortment.
	SmartNow *smartnowsync.Sync
	// OnBooked is called after each booking commits (with the sinks'
	// wakes): the card tap learns of its pour's end there.
	OnBooked func()
	Restart  func() error
}

// NewWall builds the wall core as the daemon runs it, with its audit: the
// audit counters, the cash register's debits and the payment journals are
// committed inside each pour's booking, and events pass the audit first.
// The card journal is settled always (a card pouring when the agent
// stopped is owed even if the reader is gone since); the MDB vend journal
// with a terminal (it queues cash sales for the terminal to report).
func NewWall(w Wall) (*device.Agent, *evadts.Audit, error) {
	audit := evadts.NewAudit(w.Store, w.Clock.Now)
	settlers := []func(storage.Record) []storage.Change{cardpay.Settle, accountpay.Settle}
	if w.Terminal {
		settlers = append(settlers, terminalsale.Settle)
	}
	opts := device.Options{Config: w.Config, Clock: w.Clock, Store: w.Store, Valves: w.Lines.Valves, Meters: w.Lines.Meters,
		Log: w.Log, Emit: auditfeed.Events(audit, w.Emit, w.Log), Settle: auditfeed.Settle(audit, w.Register, settlers...),
		Restart: w.Restart}
	if w.Register != nil {
		opts.Register = w.Register.ForWall()
	}
	opts.OnBooked = w.OnBooked
	if up := w.Uplink; up != nil {
		opts.Catalog, opts.Cards = up.Catalog(), up.Cards()
		opts.OnBooked = func() {
			up.Syncer.Kick()
			if w.OnBooked != nil {
				w.OnBooked()
			}
		}
	}
	if w.Clouds != nil {
		opts.OnBooked = w.Clouds.Then(opts.OnBooked)
	}
	if sn := w.SmartNow; sn != nil {
		opts.Hours = sn.Hours()
		if c := sn.Catalog(); c != nil {
			opts.Catalog = c // config validation refuses it beside a TTG server
		}
	}
	d, err := device.New(opts)
	return d, audit, err
}

// booked wakes the card tap, if one runs, after a booking commits: it
// reads its pour's end from the card journal (cardpay.Settle).
func (r *running) booked() {
	if t := r.reader.Load(); t != nil {
		t.Booked()
	}
}

// restartPath is how a remote restart request reaches the service manager.
func (a *Agent) restartPath(restart context.CancelCauseFunc) func() error {
	if a.o.Restart != nil {
		return a.o.Restart
	}
	return func() error { restart(ErrRestart); return nil }
}

// OpenStore opens the agent's database in the data directory.
func OpenStore(cfg *config.Config) (*storage.Store, error) {
	return storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), clouds.StoreOptions(cfg, nil, nil))
}

// startClouds delivers to the cloud sinks (SmartNow) until the links stop,
// then what it can within uplinkGrace.
func (a *Agent) startClouds(context.Context) error {
	l := a.run.clouds
	l.Start(a.run.dev.Report)
	a.pushLink(PartClouds, func() { _ = l.Stop(uplinkGrace) })
	a.set(PartClouds, StateRunning)
	return nil
}

// startSmartNow fetches and applies the machine's SmartNow configuration
// and runs its commands; it stops with the sessions.
func (a *Agent) startSmartNow(ctx context.Context) error {
	a.pushSession(PartSmartNow, a.run.smartnow.Start(ctx, a.run.dev))
	a.set(PartSmartNow, StateRunning)
	return nil
}

// startWall recovers interrupted pours and starts the meters, then
// reports what the earlier parts could not: a refused MQTT link, the
// result of a firmware update.
func (a *Agent) startWall(ctx context.Context) error {
	d := a.run.dev
	if err := d.Start(); err != nil {
		return err
	}
	a.set(PartWall, StateRunning)
	// Pruning starts once recovery has booked what the last run left; it
	// ends with the sessions (ctx) and is waited for before storage closes.
	a.pushLink("", retention.Start(ctx, retention.ForAgent(a.cfg, a.run.store, d, a.run.register != nil, a.clk.Now, a.log)))
	if a.partState(PartMQTT) == StateRefused {
		d.Report(device.Event{Type: device.EventMQTTRefused, Detail: a.cfg.MQTT.LinkRefusal().Error()})
	}
	if err := a.cfg.Firmware.ManifestRefusal(); err != nil {
		a.log.Warn("firmware update notifications refused", "err", err)
	}
	firmware.ReportResult(filepath.Join(a.cfg.Device.DataDir, "update"), diagcmd.FirmwareReport(d.Report))
	return nil
}

// startLocalAPI serves the local API on <data_dir>/agent.sock, for the
// commands run beside the agent (docs/operations.md); it stops with the
// sessions, before the wall shuts down.
func (a *Agent) startLocalAPI(ctx context.Context) error {
	stop, err := localapi.Start(ctx, localapi.Options{Path: localapi.SocketPath(a.cfg.Device.DataDir), Agent: a.run.dev,
		Store: a.run.store, Audit: a.run.audit, Identity: evadts.IdentityFrom(a.cfg, a.o.Version), Version: a.o.Version,
		UIDOrder: a.cfg.Cards.UIDOrder, Now: a.clk.Now, Log: a.log})
	if err != nil {
		return err
	}
	a.pushSession(PartLocalAPI, stop)
	a.set(PartLocalAPI, StateRunning)
	return nil
}

// startUplink tells the embedding simulator where the listeners are,
// starts the TTG sync and refreshes the catalogue once (bounded), before
// any payment session starts, so that the first sales are priced from the
// server where it answers.
func (a *Agent) startUplink(ctx context.Context) error {
	if a.o.Listening != nil {
		if err := a.o.Listening(a); err != nil {
			return err
		}
	}
	up := a.run.up
	up.Start(a.run.dev.Report)
	a.pushLink(PartUplink, func() {
		if err := up.Stop(uplinkGrace); err != nil {
			a.log.Warn("TTG upload incomplete at exit; records stay in the outbox", "err", err)
		}
	})
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := up.Syncer.Refresh(rctx); err != nil {
		a.log.Warn("TTG server not reachable at start; pricing from configuration", "url", up.URL, "err", err)
	}
	a.set(PartUplink, StateRunning)
	return nil
}

// pushLink records a stop that runs after the wall is closed; a named
// part is marked stopped.
func (a *Agent) pushLink(name string, stop func()) {
	a.run.links = append(a.run.links, func() {
		stop()
		if name != "" {
			a.set(name, StateStopped)
		}
	})
}

// pushSession records a stop that runs before the wall shuts down.
func (a *Agent) pushSession(name string, stop func()) {
	a.run.sessions = append(a.run.sessions, func() { stop(); a.set(name, StateStopped) })
}

func (a *Agent) stopSessions() {
	if a.run.end != nil {
		a.run.end()
	}
	s := a.run.sessions
	a.run.sessions = nil
	for i := len(s) - 1; i >= 0; i-- {
		s[i]()
	}
}

func (a *Agent) stopLinks() {
	a.stopSessions()
	l := a.run.links
	a.run.links = nil
	for i := len(l) - 1; i >= 0; i-- {
		l[i]()
	}
	a.set(PartWatchdog, StateStopped)
}

func (a *Agent) partState(name string) string {
	for _, p := range a.Parts() {
		if p.Name == name {
			return p.State
		}
	}
	return ""
}
