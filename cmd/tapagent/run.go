package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/agent/auditfeed"
	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/agent/clientcontrol"
	"github.com/tapagent/tapagent/agent/diagcmd"
	"github.com/tapagent/tapagent/agent/exesale"
	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/evadts/dexlink"
	"github.com/tapagent/tapagent/firmware"
	"github.com/tapagent/tapagent/internal/sdnotify"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/web"
)

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (required)")
	checkOnly := fs.Bool("check-config", false, "check the configuration, say what to fix, and exit (non-zero when the agent would not start)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return fmt.Errorf("%w: --config FILE is required", errUsage)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if cfg.EXE.Port != "" && cfg.MDB.Port == "" {
		return errors.New("config: exe.port: the EXE machine is paid at the MDB card terminal; set mdb.port too")
	}
	if *checkOnly {
		return checkConfig(*cfgPath, cfg, stderr)
	}
	log := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	hw, err := openHardware(cfg)
	if err != nil {
		return err
	}
	defer hw.release(log)
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, restart := context.WithCancelCause(ctx)
	opts := device.Options{Config: cfg, Clock: clock.System{}, Store: store,
		Valves: hw.valves, Meters: hw.meters, Log: log, Emit: logEvents(log),
		Restart: func() error { restart(errRestart); return nil }}
	var register *cashregister.Register
	if cfg.POS.Listen != "" {
		register = cashregister.NewRegister(store, cashregister.ArticlesFrom(cfg), nil)
		opts.Register = register
	}
	audit := evadts.NewAudit(store, nil)
	// A card pouring is in the card journal: its booking settles it.
	settlers := []func(storage.Record) []storage.Change{cardpay.Settle}
	if cfg.MDB.Port != "" {
		settlers = append(settlers, terminalsale.Settle)
	}
	opts.Settle = auditfeed.Settle(audit, register, settlers...)
	var mqttEvents, tapEvents, webEvents atomic.Pointer[func(device.Event)]
	logged := opts.Emit
	opts.Emit = auditfeed.Events(audit, func(ev device.Event) {
		logged(ev)
		if f := mqttEvents.Load(); f != nil {
			(*f)(ev)
		}
		if f := tapEvents.Load(); f != nil {
			(*f)(ev)
		}
		if f := webEvents.Load(); f != nil {
			(*f)(ev)
		}
	}, log)
	var up *serversync.Uplink
	if cfg.TTG.URL != "" {
		if up, err = serversync.New(cfg, store, false, log); err != nil {
			return err
		}
		opts.Catalog, opts.Cards, opts.OnBooked = up.Syncer, up.Syncer, up.Syncer.Kick
	}
	agent, err := device.New(opts)
	if err != nil {
		return err
	}
	var readerTap atomic.Pointer[cardpay.Tap]
	parts := diagcmd.Parts{Config: cfg, Agent: agent, Store: store, Audit: audit, Uplink: up, Version: version, ConfigPath: *cfgPath, Log: log}
	if cfg.Reader.Port != "" || cfg.Reader.I2C != "" {
		parts.Reader = func() any {
			if t := readerTap.Load(); t != nil {
				return t.Health()
			}
			return nil
		}
	}
	var terminal atomic.Pointer[terminalsale.Tap]
	var machine atomic.Pointer[exesale.Loop]
	if cfg.EXE.Port != "" {
		parts.Machine = func() any {
			if l := machine.Load(); l != nil {
				return l.Health()
			}
			return nil
		}
	}
	if cfg.MDB.Port != "" {
		parts.Terminal = func() any {
			if t := terminal.Load(); t != nil {
				return t.Health()
			}
			return nil
		}
		parts.TerminalSelect = func(line int) error {
			if t := terminal.Load(); t != nil {
				return t.Select(line)
			}
			return errors.New("the MDB terminal is not running")
		}
	}
	if parts.Updater, err = diagcmd.NewUpdater(parts); err != nil {
		return errors.Join(err, agent.Close())
	}
	var linkRefused error
	src := web.Sources{Reader: parts.Reader, Terminal: parts.Terminal, Machine: parts.Machine, Sys: sysinfo.NewReader(cfg.Device.DataDir)}
	if up != nil {
		src.Link = up.LinkState
	}
	if cfg.MQTT.Broker != "" {
		dctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		dg, events, err := diagcmd.Start(dctx, parts, fmt.Sprintf("%d-%d", cfg.Device.ID, time.Now().UnixMilli()), done)
		switch {
		case errors.Is(err, diagcmd.ErrLinkRefused):
			// Only the link is off: the wall pours on, and says why.
			stop()
			linkRefused = err
			log.Error("MQTT diagnostics off; fix the configuration and restart (tapagent doctor shows it too)", "err", err)
		case err != nil:
			stop()
			return errors.Join(err, agent.Close())
		default:
			mqttEvents.Store(&events)
			src.Broker, src.BrokerURL = dg.LinkError, cfg.MQTT.Broker
			defer func() { stop(); <-done }()
		}
	}
	if err := agent.Start(); err != nil {
		return errors.Join(err, agent.Close())
	}
	if cfg.Web.Listen != "" {
		ws, err := web.Start(ctx, web.ForAgent(cfg, agent, store, src, time.Now, version, log))
		if err != nil {
			return errors.Join(err, agent.Close())
		}
		defer ws.Close()
		obs := ws.Observe
		webEvents.Store(&obs)
		log.Info("web dashboard listening", "url", ws.URL)
	}
	stopAPI, err := localapi.Start(ctx, localapi.Options{Path: localapi.SocketPath(cfg.Device.DataDir), Agent: agent, Store: store,
		Audit: audit, Identity: evadts.IdentityFrom(cfg, version), Version: version, Log: log})
	if err != nil {
		return errors.Join(err, agent.Close())
	}
	defer stopAPI()
	if linkRefused != nil {
		agent.Report(device.Event{Type: "mqtt_refused", Detail: linkRefused.Error()})
	}
	if err := cfg.Firmware.ManifestRefusal(); err != nil {
		log.Warn("firmware update notifications refused", "err", err)
	}
	firmware.ReportResult(filepath.Join(cfg.Device.DataDir, "update"), func(typ, detail string) {
		agent.Report(device.Event{Type: typ, Detail: detail})
	})
	if register != nil {
		if _, err := register.Reconcile(); err != nil {
			return errors.Join(err, agent.Close())
		}
		cash, err := cashregister.Serve(cfg.POS.Listen, cfg.POS.APIKey, register)
		if err != nil {
			return errors.Join(fmt.Errorf("cash interface: %w", err), agent.Close())
		}
		defer cash.Close()
		log.Info("cash interface listening", "url", cash.URL)
	}
	if cfg.Control.Listen != "" {
		access, err := clientcontrol.AccessFrom(cfg.Control)
		if err != nil {
			return errors.Join(err, agent.Close())
		}
		zone, err := cfg.TTG.Location()
		if err != nil {
			return errors.Join(fmt.Errorf("ttg.time_zone: %w", err), agent.Close())
		}
		o := clientcontrol.Options{Agent: agent, DeviceID: cfg.Device.ID, Sys: sysinfo.NewReader(cfg.Device.DataDir),
			FirmwareNotified: func() { _, _ = parts.Updater.Notified(ctx, cfg.Firmware.ManifestURL, version) }, Access: access, Zone: zone}
		if up != nil {
			o.Link, o.ServerToken = up.LinkState, up.Token
		}
		ctl, err := clientcontrol.Serve(cfg.Control.Listen, o)
		if err != nil {
			return errors.Join(fmt.Errorf("client-control listener: %w", err), agent.Close())
		}
		defer ctl.Close()
		log.Info("client-control listening", "url", ctl.URL)
	}
	if cfg.DEX.Port != "" {
		port, err := dexlink.OpenSerial(cfg.DEX.Port)
		if err != nil {
			return errors.Join(err, agent.Close())
		}
		defer port.Close()
		id := evadts.IdentityFrom(cfg, version)
		go func() {
			for ctx.Err() == nil {
				n, err := dexlink.ServeAudit(ctx, port, audit, id, cfg.Audit.ResetOnRead == "full")
				switch {
				case err == nil:
					log.Info("audit read on the DEX port", "bytes", n)
				case !errors.Is(err, dexlink.ErrTimeout):
					log.Warn("DEX session failed", "err", err)
				}
			}
		}()
		log.Info("DEX port open", "dev", cfg.DEX.Port)
	}
	if cfg.Reader.Port != "" || cfg.Reader.I2C != "" {
		d, fw, err := cardpay.OpenReader(ctx, cfg, "")
		if err != nil {
			return errors.Join(err, agent.Close())
		}
		defer d.Close()
		tap, stopTap, err := cardpay.Start(ctx, d, cfg, agent, store, time.Now, log)
		if err != nil {
			return errors.Join(err, agent.Close())
		}
		obs := tap.Observe
		tapEvents.Store(&obs)
		readerTap.Store(tap)
		defer stopTap()
		log.Info("card reader ready", "reader", fw, "lines", cardpay.Lines(cfg))
	}
	if cfg.MDB.Port != "" {
		bus, err := terminalsale.Open(ctx, cfg.MDB, "")
		if err != nil {
			return errors.Join(err, agent.Close())
		}
		defer bus.Close()
		t, stopTerminal := terminalsale.Start(ctx, cfg, terminalsale.NewMaster(cfg, bus, version), agent, store, time.Now, log)
		terminal.Store(t)
		defer stopTerminal()
		log.Info("MDB card terminal", "setup", terminalsale.Describe(cfg))
		if cfg.EXE.Port != "" {
			m, err := exesale.Open(cfg.EXE, "")
			if err != nil {
				return errors.Join(err, agent.Close())
			}
			defer m.P.Close()
			l, stopMachine := exesale.Start(ctx, cfg.EXE, m, t, agent.Report)
			machine.Store(l)
			defer stopMachine()
			log.Info("EXE vending machine", "setup", exesale.Describe(cfg.EXE))
		}
	}
	if up != nil {
		up.Start(agent.Report)
		defer func() {
			if err := up.Stop(3 * time.Second); err != nil {
				log.Warn("TTG upload incomplete at exit; records stay in the outbox", "err", err)
			}
		}()
	}
	log.Info("tapagent running", "version", version, "device", cfg.Device.ID, "lines", len(cfg.Lines), "board", cfg.Board.Profile)
	settle := 2 * time.Second
	tellServiceManager(ctx, sdnotify.FromEnv(os.Getenv), agent, log)
	err = agent.Run(ctx, cfg.Device.Tick.Duration, settle)
	if errors.Is(context.Cause(ctx), errRestart) {
		log.Info("restarting on request: exiting for the service manager to start the agent again")
		return errors.Join(err, errRestart)
	}
	return err
}

// tellServiceManager reports readiness to systemd (Type=notify) once
// storage and hardware are up, pings its watchdog while the main loop ticks,
// and says when stopping begins. Without systemd it does nothing.
func tellServiceManager(ctx context.Context, n sdnotify.Notifier, agent *device.Agent, log *slog.Logger) {
	if !n.Enabled() {
		return
	}
	if err := n.Send("READY=1\nSTATUS=pouring"); err != nil {
		log.Warn("telling systemd we are ready", "err", err)
	}
	iv, watchdog := sdnotify.WatchdogInterval(os.Getenv, os.Getpid())
	go func() {
		var tick <-chan time.Time
		if watchdog {
			t := time.NewTicker(iv)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				_ = n.Send("STOPPING=1\nSTATUS=closing valves and booking pours")
				return
			case <-tick:
				// A loop that has not ticked for a whole interval is stuck: no ping.
				healthy := agent.Healthy(iv)
				if !healthy {
					log.Error("main loop stuck; withholding the watchdog ping")
				}
				_ = n.Ping(healthy)
			}
		}
	}()
}

// errRestart ends `tapagent run` with exit status 75 so that the service
// manager (systemd Restart=on-failure) starts it again.
var errRestart = errors.New("restart requested")

func openStore(cfg *config.Config) (*storage.Store, error) {
	return storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{
		OpenTimeout: cfg.Storage.OpenTimeout.Duration, MaxEvents: cfg.Storage.MaxEvents})
}

// hardware is the GPIO side of `tapagent run`.
type hardware struct {
	valves map[int]board.Valve
	meters map[int]board.PulseSource
	gpio   []*board.GPIOValve
}

// openHardware requests every valve (driven closed at once) and prepares
// the meters of the configured lines from the board profile.
func openHardware(cfg *config.Config) (*hardware, error) {
	prof, err := board.LoadProfile(cfg.Board.Profile)
	if err != nil {
		return nil, err
	}
	hw := &hardware{valves: map[int]board.Valve{}, meters: map[int]board.PulseSource{}}
	for _, l := range cfg.Lines {
		pins, ok := prof.Line(l.ID)
		if !ok {
			hw.release(nil)
			return nil, fmt.Errorf("board profile %q has no line %d", prof.Name, l.ID)
		}
		v, err := board.OpenGPIOValve(l.ID, pins.Valve)
		if err != nil {
			hw.release(nil)
			return nil, err
		}
		hw.gpio = append(hw.gpio, v)
		hw.valves[l.ID] = v
		hw.meters[l.ID] = board.NewGPIOMeter(l.ID, pins.Meter)
	}
	return hw, nil
}

func (hw *hardware) release(log *slog.Logger) {
	for _, v := range hw.gpio {
		if err := v.Release(); err != nil && log != nil {
			log.Error("releasing valve", "err", err)
		}
	}
}

// logEvents writes agent events to the log.
func logEvents(log *slog.Logger) func(device.Event) {
	return func(ev device.Event) {
		lv := slog.LevelInfo
		switch ev.Type {
		case device.EvAlarm, device.EvStorageError, device.EvStorageMoved, device.EvValveFailedOff:
			lv = slog.LevelWarn
		case device.EvCheckpoint:
			lv = slog.LevelDebug
		}
		log.Log(context.Background(), lv, ev.Type, "line", ev.Line, "pour", ev.PourID, "reason", ev.Reason,
			"volume_ml10", int64(ev.Volume), "amount", ev.Amount, "detail", ev.Detail)
	}
}

// checkConfig reports a configuration that loads: the agent would start
// with it, and each part it would keep off is named with the fix.
func checkConfig(path string, cfg *config.Config, w io.Writer) error {
	if err := web.Check(cfg); err != nil {
		return err
	}
	for _, err := range []error{cfg.MQTT.LinkRefusal(), cfg.Firmware.ManifestRefusal()} {
		if err != nil {
			fmt.Fprintf(w, "warning: %v\n", err)
		}
	}
	fmt.Fprintf(w, "%s: the agent starts with this configuration\n", path)
	return nil
}
