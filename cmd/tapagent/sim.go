package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
)

func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default: the embedded 4-line wall)")
	scenario := fs.String("scenario", "demo", "scenario: a built-in name ("+strings.Join(sim.BuiltinScenarios(), ", ")+`), a TOML file, or "none"`)
	duration := fs.Duration("duration", 0, "virtual time to run (default: the scenario's duration; with --scenario none, until interrupted)")
	data := fs.String("data", "", "data directory (default: device.data_dir, ./data)")
	asJSON := fs.Bool("json", false, "print one JSON event per line instead of the terminal view")
	plain := fs.Bool("plain", false, "print one readable line per event instead of the live view")
	var speed optionalFloat
	fs.Var(&speed, "speed", "run at `N` virtual seconds per real second; 0 runs as fast as possible (default: sim.speed, 1)")
	ttgURL := fs.String("ttg-url", "", "TTG server to use instead of the embedded emulator (default: ttg.url, else embedded)")
	ttgUser := fs.String("ttg-user", "", "TTG user name (default: ttg.username)")
	ttgPass := fs.String("ttg-pass", "", "TTG password (default: ttg.password)")
	noTTG := fs.Bool("no-ttg", false, "run without any TTG server (records stay in the outbox)")
	readerPort := fs.String("reader", "", "a real PN532 on this serial port instead of the simulated reader and its cards")
	mdbPort := fs.String("mdb", "", "a real MDB adapter or UART ([mdb] transport) on this port instead of the simulated card terminal")
	exePort := fs.String("exe", "", "a real EXE bridge on this port instead of the simulated vending machine (paid at the card terminal)")
	webAddr := fs.String("web", "", `web dashboard address ("off": none; default: web.listen, else 127.0.0.1:8080, or any free port when that is taken)`)
	touchTopUp := fs.Bool("touchtopup", false, "run the TouchTopUp emulator with two customer accounts (cards 2001, 2002; account numbers 54321, 54322) and a till that collects their debits")
	telemetronOn := fs.Bool("telemetron", false, "start the Telemetron cloud emulator on loopback and feed it (vend rows, events, state, loading, EVA-DTS reports); serve the machine's own Telemetron API too, with a printed login")
	smartNow := fs.Bool("smartnow", false, "run the SmartNow emulator on loopback with vouchers "+simwall.SimVoucherCodes+" and deliver to it")
	mqttURL := fs.String("mqtt", "", "MQTT broker for field diagnostics, e.g. tcp://127.0.0.1:1883 (\"off\": none; default: mqtt.broker, else none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := loadSimConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *data != "" {
		cfg.Device.DataDir = *data
	}
	for flagVal, dst := range map[string]*string{*ttgURL: &cfg.TTG.URL, *ttgUser: &cfg.TTG.Username, *ttgPass: &cfg.TTG.Password, *mqttURL: &cfg.MQTT.Broker} {
		if flagVal != "" {
			*dst = flagVal
		}
	}
	if *mqttURL == "off" {
		cfg.MQTT.Broker = ""
	}
	var sc *sim.Scenario
	if *scenario != "none" {
		if sc, err = sim.LoadScenario(*scenario); err != nil {
			return err
		}
	}
	// The dashboard's login is written to the data directory: only once
	// nothing else can refuse the run, so a mistyped flag leaves no file.
	login, webFallback := simWeb(cfg, *webAddr, stderr)
	if err := cfg.Validate(); err != nil {
		return err
	}
	o := simwall.Options{Config: cfg, Scenario: sc, Duration: *duration, Speed: cfg.Sim.Speed, Out: stdout, NoTTG: *noTTG, Version: version, ConfigPath: *cfgPath,
		ReaderPort: *readerPort, TerminalPort: *mdbPort, MachinePort: *exePort, Log: newLogger(stderr, cfg.Log.Level, cfg.Log.Format), WebLogin: login, WebFallback: webFallback,
		TouchTopUp: *touchTopUp, SmartNow: *smartNow, Telemetron: *telemetronOn}
	if speed.set {
		o.Speed = speed.v
	}
	switch {
	case *asJSON:
		o.Output = simwall.OutputJSON
	case *plain || !isTerminal(stdout):
		o.Output = simwall.OutputLines
	default:
		o.Output = simwall.OutputView
		f := stdout.(*os.File) // isTerminal said so
		o.TermSize = func() (int, int) { return terminalSize(f) }
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		o.Resized = winch
		o.Colour = os.Getenv("NO_COLOR") == ""
	}
	if cfg.Web.Listen != "" && o.Output == simwall.OutputView && *duration == 0 {
		o.Duration = -1 // the dashboard stays up after the scenario, until Ctrl-C
	}
	sum, err := simwall.Run(ctx, o)
	if err != nil {
		return err
	}
	if o.Output != simwall.OutputJSON {
		fmt.Fprintf(stdout, "\nsimulated %s: %s booked, %s, %s waiting in the outbox (%s)\n",
			sum.Virtual.Truncate(time.Millisecond), flow.Count(sum.Events[device.EventPourBooked], "pour", "pours"),
			flow.Count(sum.Events[device.EventAlarm], "alarm", "alarms"), flow.Count(sum.Outbox, "record", "records"), cfg.Device.DataDir)
		if sum.TTG != "" {
			if sum.TTGRecords >= 0 {
				fmt.Fprintf(stdout, "TTG server %s: %s stored\n", sum.TTG, flow.Count(sum.TTGRecords, "record", "records"))
			} else {
				fmt.Fprintf(stdout, "TTG server %s: %s\n", sum.TTG, flow.Count(sum.Events[device.EventTTGDelivered], "upload", "uploads"))
			}
		}
		for _, line := range sum.Clouds {
			fmt.Fprintln(stdout, line)
		}
	}
	if sum.Dropped > 0 {
		fmt.Fprintf(stderr, "tapagent sim: the output fell behind and skipped %d events; the event log in the database has them all\n", sum.Dropped)
	}
	return nil
}

// defaultSimWeb is where `tapagent sim` serves the dashboard by default.
const defaultSimWeb = "127.0.0.1:8080"

// simWeb turns the dashboard on (unless "off" or the file chose an
// address) and gives it a login; it returns how to log in, and where to
// listen should the default port be taken. Where the login cannot be
// written (a read-only data directory) the dashboard stays off and the
// simulation runs on, to meet the real problem.
func simWeb(cfg *config.Config, addr string, stderr io.Writer) (login, fallback string) {
	switch {
	case addr == "off":
		cfg.Web.Listen = ""
		return "", ""
	case addr != "":
		cfg.Web.Listen = addr
	case cfg.Web.Listen == "":
		// Another sim (or anything) on 8080: the dashboard takes any free
		// port instead (simwall.Options.WebFallback), decided when it
		// binds: a probe here would race with another simulator's.
		cfg.Web.Listen, fallback = defaultSimWeb, "127.0.0.1:0"
	}
	pw, err := simDashboardUser(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tapagent sim: web dashboard off: %v\n", err)
		cfg.Web.Listen = ""
		return "", ""
	}
	return "(user demo, password " + pw + ")", fallback
}

func loadSimConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// optionalFloat is a float flag whose default lives in the configuration:
// unset, it prints no default of its own in -h.
type optionalFloat struct {
	v   float64
	set bool
}

func (f *optionalFloat) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatFloat(f.v, 'g', -1, 64)
}

func (f *optionalFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("not a number")
	}
	if v < 0 {
		return errors.New("must not be negative")
	}
	f.v, f.set = v, true
	return nil
}

// terminalSize is the terminal's columns and rows, 80 × 24 when it does
// not say.
func terminalSize(f *os.File) (int, int) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 || ws.Row == 0 {
		return 80, 24
	}
	return int(ws.Col), int(ws.Row)
}
