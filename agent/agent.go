// Package agent is the one assembly of the daemon: from the configuration
// and two seams, the hardware (Hardware: valves, meters, the openers of the
// serial and I2C peripherals) and the peers' addresses (Peers), it builds
// the wall core (package device), the booking hooks, the payment sessions
// and the links, starts them in one order, reports readiness to the
// service manager, and stops them in the reverse order. `tapagent run` is
// the assembly on the Linux board (Linux); `tapagent sim` is the same
// assembly on the simulated board and peers (package simwall).
//
// The feature packages under agent/ never import this package: they are
// parts it assembles.
package agent

import (
	"context"
	"errors"
	"github.com/tapagent/tapagent/agent/clouds"
	"log/slog"
	"sync"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/sdnotify"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/transport"
	"github.com/tapagent/tapagent/web"
)

// Peripheral names a serial or I2C peripheral of a board.
type Peripheral int

// The peripherals a board may offer.
const (
	CardReader   Peripheral = iota // PN532 card reader
	CardTerminal                   // MDB cashless terminal
	VendMachine                    // EXE vending machine, paid at the terminal
	DEXPort                        // DEX/UCS audit port
)

// Lines are the wall's valves and meters by line id, and how to free them.
type Lines struct {
	Valves  map[int]board.Valve
	Meters  map[int]board.PulseSource
	Release func() error
}

// Hardware is the board the agent runs on. Lines is called first and
// drives every valve closed; the openers are called only for the
// peripherals Has reports.
type Hardware interface {
	Lines() (Lines, error)
	Has(p Peripheral) bool
	OpenReader(ctx context.Context) (pn532.Transport, error)
	OpenTerminal(ctx context.Context) (transport.Bus, error)
	OpenMachine(ctx context.Context) (transport.Port, error)
	OpenDEX(ctx context.Context) (transport.Port, error)
}

// DeviceNamer is Hardware that says where it opened a peripheral, for the
// log: a simulator's devices are on no configured port.
type DeviceNamer interface {
	DeviceName(p Peripheral) string
}

// deviceName is where p was opened: the hardware's word if it has one,
// else port, the configured one.
func (a *Agent) deviceName(p Peripheral, port string) string {
	if n, ok := a.o.Hardware.(DeviceNamer); ok {
		if name := n.DeviceName(p); name != "" {
			return name
		}
	}
	return port
}

// Peers are the addresses of the servers the agent talks to.
type Peers struct {
	// TTG is the TTG server's base URL; "" runs without a server (the
	// records wait in the outbox).
	TTG string
	// MQTT is the diagnostics broker; "" keeps the link off.
	MQTT string
}

// PeersFrom are the peers the configuration names.
func PeersFrom(cfg *config.Config) Peers {
	return Peers{TTG: cfg.TTG.URL, MQTT: cfg.MQTT.Broker}
}

// Driver runs the wall's timers: on the real clock (the default) or in a
// simulator's virtual time.
type Driver interface {
	// Drive ticks the wall until ctx ends (a simulator may end sooner).
	Drive(ctx context.Context, a *Agent)
	// Shutdown stops every pour, lets it settle and closes the wall.
	Shutdown(a *Agent) error
}

// Options build an assembly.
type Options struct {
	Config *config.Config
	// ConfigPath is the configuration file (config.set writes it); "" for none.
	ConfigPath string
	Version    string
	Hardware   Hardware
	Peers      Peers
	// Clock is the wall's clock; nil reads the system clocks.
	Clock clock.Clock
	Log   *slog.Logger
	// Events receives every event after the audit; nil writes them to Log.
	Events func(device.Event)
	// Driver runs the wall's timers; nil runs them on the real clock.
	Driver Driver
	// Restart replaces the restart path (agent.restart, the control API's
	// restart); nil ends Run with ErrRestart for the service manager.
	Restart func() error
	// Listening runs once the listeners are up, before the uplink starts
	// (the simulator tells its embedded server where control listens).
	Listening func(a *Agent) error
	// Stopped runs once the wall is closed and the uplink flushed, before
	// the store closes.
	Stopped func(a *Agent)
	// Dashboard is the wall as the web dashboard acts on it; nil is the
	// wall core itself (the simulator adds its simulated kegs).
	Dashboard func(*device.Agent) web.Wall
	// WebFallback is where the dashboard listens when [web] listen is
	// taken ("" fails the start instead); the simulator's default.
	WebFallback string
	// Notifier reports readiness and the watchdog; the zero value reads
	// NOTIFY_SOCKET from the environment.
	Notifier *sdnotify.Notifier
}

// ErrRestart ends Run when a restart was asked for remotely: the service
// manager starts the agent again.
var ErrRestart = errors.New("restart requested")

// Part is one part of the assembly and its state, as diag.snapshot shows it.
type Part struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Part states.
const (
	StatePending = "pending" // not started yet
	StateRunning = "running"
	StateRefused = "refused" // the configuration keeps it off; the wall runs on
	StateFailed  = "failed"
	StateStopped = "stopped"
	StateOff     = "off" // no service manager to tell
)

// Names of the parts, in start order.
const (
	PartStore    = "storage"
	PartAudit    = "audit"
	PartMQTT     = "mqtt"
	PartWall     = "wall"
	PartLocalAPI = "local_api"
	PartRegister = "cash_register"
	PartAccounts = "touchtopup_accounts"
	PartControl  = "client_control"
	PartUplink   = "ttg_uplink"
	PartDEX      = "dex"
	PartReader   = "card_reader"
	PartTerminal = "card_terminal"
	PartMachine  = "vend_machine"
	PartClouds   = "cloud_sinks"
	PartSmartNow = "smartnow_config"
	PartVouchers = "vouchers"
	PartWeb      = "web"
	// PartTelemetronAPI is the machine's own Telemetron API.
	PartTelemetronAPI = "telemetron_api"
	PartWatchdog      = "service_manager"
	partsCapacity     = 20
)

// Agent is one assembled daemon.
type Agent struct {
	o   Options
	cfg *config.Config // o.Config with the peers' addresses
	log *slog.Logger
	clk clock.Clock

	mu    sync.Mutex
	parts []Part
	run   running // what Run started
}

// New checks the options and plans the parts; it opens nothing.
func New(o Options) (*Agent, error) {
	if o.Config == nil || o.Hardware == nil {
		return nil, errors.New("agent: config and hardware are required")
	}
	cfg := *o.Config
	cfg.TTG.URL, cfg.MQTT.Broker = o.Peers.TTG, o.Peers.MQTT
	if o.Hardware.Has(VendMachine) && !o.Hardware.Has(CardTerminal) {
		return nil, errors.New("config: exe: the EXE machine is paid at the MDB card terminal; set [mdb] too")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Events == nil {
		o.Events = LogEvents(o.Log)
	}
	a := &Agent{o: o, cfg: &cfg, log: o.Log, clk: o.Clock}
	a.parts = plan(&cfg, o.Hardware)
	return a, nil
}

// plan lists the parts the configuration and the board call for.
func plan(cfg *config.Config, hw Hardware) []Part {
	names := make([]string, 0, partsCapacity)
	names = append(names, PartStore, PartAudit)
	add := func(on bool, name string) {
		if on {
			names = append(names, name)
		}
	}
	add(cfg.MQTT.Broker != "", PartMQTT)
	names = append(names, PartWall, PartLocalAPI)
	add(cfg.POS.Listen != "", PartRegister)
	add(cfg.TouchTopUp.URL != "", PartAccounts)
	add(cfg.Control.Listen != "", PartControl)
	add(cfg.Web.Listen != "", PartWeb)
	add(cfg.Telemetron.Listen != "", PartTelemetronAPI)
	add(cfg.TTG.URL != "", PartUplink)
	add(hw.Has(DEXPort), PartDEX)
	add(hw.Has(CardReader), PartReader)
	add(hw.Has(CardTerminal), PartTerminal)
	add(hw.Has(VendMachine), PartMachine)
	add(len(clouds.Names(cfg)) > 1, PartClouds)
	add(cfg.SmartNow.URL != "", PartSmartNow)
	add(cfg.SmartNow.URL != "" && cfg.SmartNow.Vouchers, PartVouchers)
	names = append(names, PartWatchdog)
	parts := make([]Part, len(names))
	for i, n := range names {
		parts[i] = Part{Name: n, State: StatePending}
	}
	return parts
}

// Parts lists the assembly's parts in start order with their states.
func (a *Agent) Parts() []Part {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Part(nil), a.parts...)
}

// has says whether the assembly runs the part.
func (a *Agent) has(name string) bool {
	for _, p := range a.Parts() {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (a *Agent) set(name, state string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.parts {
		if a.parts[i].Name == name {
			a.parts[i].State = state
		}
	}
}

// Config is the configuration the assembly runs, with the peers' addresses.
func (a *Agent) Config() *config.Config { return a.cfg }
