// Command tapagent is the agent for self-pour tap walls and vending
// controllers: `tapagent run` on real hardware, `tapagent sim` on the
// simulated board, and field tools for technicians.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `tapagent — self-pour tap wall and vending controller agent

Usage:
  tapagent sim [flags]          run the agent on the simulated 4-line wall (no hardware, no config needed)
  tapagent run --config FILE    run the agent on real hardware
  tapagent calibrate [flags]    find a line's K-factor by pouring into a measured vessel
  tapagent ttg COMMAND          TTG server field tool: check, products, items, happyhours, outbox, push, deadletters
  tapagent ttg-server [flags]   run the TTG-compatible server emulator
  tapagent diag COMMAND         field diagnostics over MQTT: devices, status, watch, call
  tapagent dex COMMAND          EVA-DTS audit: parse FILE, report (this agent's audit), reports (last 14 days)
  tapagent mdb COMMAND          MDB cashless field tool: probe, vend, raw, log (via a Qibixx adapter)
  tapagent exe COMMAND          EXE vending machine field tool through a bridge: status, test vend
  tapagent card COMMAND         DESFire card field tool (charger role): read, issue, topup, erase, format
  tapagent keg COMMAND          keg operations on the running agent: change, adjust, empty
  tapagent line COMMAND         line operations on the running agent: lock, unlock, clean
  tapagent kegs                 every line's keg: size, what is left, fill level
  tapagent pours [flags]        the pour history on the device: filters, totals, CSV
  tapagent doctor [flags]       check this controller: board, GPIO, ports, permissions, server, broker, clock, disk
  tapagent firmware COMMAND     the .deb update hand-off: request (agent side), apply (root side)
  tapagent release COMMAND      sign releases: keygen, manifest (for update notifications)
  tapagent web user COMMAND     dashboard users: add NAME --role staff|operator (password from stdin), remove NAME, list
  tapagent version              print the version

Run "tapagent COMMAND -h" for the flags of a command.
`

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Main runs the command line and returns the exit status; tests call it directly.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "sim":
		err = cmdSim(ctx, args[1:], stdout, stderr)
	case "run":
		err = cmdRun(ctx, args[1:], stderr)
	case "ttg":
		err = cmdTTG(ctx, args[1:], stdout, stderr)
	case "dex":
		err = cmdDex(ctx, args[1:], stdout, stderr)
	case "diag":
		err = cmdDiag(ctx, args[1:], stdout, stderr)
	case "ttg-server":
		err = cmdTTGServer(ctx, args[1:], stdout, stderr)
	case "calibrate":
		err = cmdCalibrate(ctx, args[1:], stdin, stdout, stderr)
	case "mdb":
		err = cmdMDB(ctx, args[1:], stdout, stderr)
	case "exe":
		err = cmdEXE(ctx, args[1:], stdout, stderr)
	case "card":
		err = cmdCard(ctx, args[1:], stdout, stderr)
	case "firmware":
		err = cmdFirmware(ctx, args[1:], stdout, stderr)
	case "release":
		err = cmdRelease(ctx, args[1:], stdout, stderr)
	case "doctor":
		err = cmdDoctor(ctx, args[1:], stdout, stderr)
	case "web":
		err = cmdWeb(args[1:], stdin, stdout, stderr)
	case "keg":
		err = cmdKeg(ctx, args[1:], stdout, stderr)
	case "line":
		err = cmdLine(ctx, args[1:], stdout, stderr)
	case "kegs":
		err = cmdKegs(ctx, args[1:], stdout, stderr)
	case "pours":
		err = cmdPours(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "tapagent: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tapagent %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		if errors.Is(err, errRestart) {
			return 75
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func versionString() string {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				commit = s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("tapagent %s (commit %s, %s, %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
