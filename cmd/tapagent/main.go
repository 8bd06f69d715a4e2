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
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one entry of the command line: its name, what it takes and
// does (the usage line), its subcommands, and how it runs.
type command struct {
	name, args, what string
	subs             []string
	run              func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// commands is the command table: the usage, the dispatch and the tests of
// every command's help all come from it.
func commands() []command {
	return []command{
		{"sim", "[flags]", "run the agent on the simulated 4-line wall (no hardware, no config needed)", nil,
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdSim(ctx, a, o, e) }},
		{"run", "--config FILE", "run the agent on real hardware", nil,
			func(ctx context.Context, a []string, _ io.Reader, _, e io.Writer) error { return cmdRun(ctx, a, e) }},
		{"calibrate", "[flags]", "find a line's K-factor by pouring into a measured vessel", nil, cmdCalibrate},
		{"ttg", "COMMAND", "TTG server field tool", []string{"check", "products", "items", "happyhours", "outbox", "push", "deadletters"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdTTG(ctx, a, o, e) }},
		{"ttg-server", "[flags]", "run the TTG-compatible server emulator", nil,
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
				return cmdTTGServer(ctx, a, o, e)
			}},
		{"diag", "COMMAND", "field diagnostics over MQTT", []string{"devices", "status", "watch", "call", "desired", "keygen"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdDiag(ctx, a, o, e) }},
		{"dex", "COMMAND", "EVA-DTS audit", []string{"parse", "report", "reports", "serve", "read"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdDex(ctx, a, o, e) }},
		{"mdb", "COMMAND", "MDB cashless field tool (Qibixx adapter or UART)", []string{"probe", "vend", "raw", "log"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdMDB(ctx, a, o, e) }},
		{"exe", "COMMAND", "EXE vending machine field tool through a bridge", []string{"status", "vend"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdEXE(ctx, a, o, e) }},
		{"card", "COMMAND", "DESFire card field tool (charger role)", []string{"read", "issue", "topup", "upgrade", "erase", "format", "settle"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdCard(ctx, a, o, e) }},
		{"keg", "COMMAND", "keg operations on the running agent", []string{"change", "adjust", "empty"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdKeg(ctx, a, o, e) }},
		{"line", "COMMAND", "line operations on the running agent", []string{"lock", "unlock", "clean"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdLine(ctx, a, o, e) }},
		{"kegs", "[flags]", "every line's keg: size, what is left, fill level", nil,
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error { return cmdKegs(ctx, a, o, e) }},
		{"pours", "[flags]", "the pour history on the device: filters, totals, CSV", nil,
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
				return cmdPours(ctx, a, o, e)
			}},
		{"outbox", "[flags]", "per sink (TTG, SmartNow): records waiting, the oldest, dead letters, last error", nil,
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
				return cmdOutbox(ctx, a, o, e)
			}},
		{"web", "user COMMAND", "dashboard users: add, remove, list", []string{"user"},
			func(_ context.Context, a []string, in io.Reader, o, e io.Writer) error { return cmdWeb(a, in, o, e) }},
		{"telemetron", "user COMMAND", "users of the machine's Telemetron API: add, remove, list", []string{"user"},
			func(_ context.Context, a []string, in io.Reader, o, e io.Writer) error {
				return cmdTelemetron(a, in, o, e)
			}},
		{"doctor", "[flags]", "check this controller: board, GPIO, ports, permissions, reader, terminal, server, broker, clock, disk", nil,
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
				return cmdDoctor(ctx, a, o, e)
			}},
		{"firmware", "COMMAND", "the .deb update hand-off", []string{"request", "apply"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
				return cmdFirmware(ctx, a, o, e)
			}},
		{"release", "COMMAND", "sign releases (for update notifications)", []string{"keygen", "manifest"},
			func(ctx context.Context, a []string, _ io.Reader, o, e io.Writer) error {
				return cmdRelease(ctx, a, o, e)
			}},
		{"version", "", "print the version, commit, Go version and platform", nil, cmdVersion},
	}
}

// usage is the top-level help, from the command table.
func usage() string {
	var b strings.Builder
	b.WriteString("tapagent — self-pour tap wall and vending controller agent\n\nUsage:\n")
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	for _, c := range commands() {
		what := c.what
		if len(c.subs) > 0 {
			what += ": " + strings.Join(c.subs, ", ")
		}
		fmt.Fprintf(tw, "  tapagent %s\t%s\n", strings.TrimSpace(c.name+" "+c.args), what)
	}
	tw.Flush()
	b.WriteString("\nRun \"tapagent COMMAND -h\" for the flags of a command.\n")
	return b.String()
}

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Main runs the command line and returns the exit status; tests call it directly.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage())
		return 0
	}
	i := slices.IndexFunc(commands(), func(c command) bool { return c.name == args[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "tapagent: unknown command %q\n\n%s", args[0], usage())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := commands()[i].run(ctx, args[1:], stdin, stdout, stderr)
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

// cmdVersion prints the version; -h says so.
func cmdVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionString())
	return nil
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
