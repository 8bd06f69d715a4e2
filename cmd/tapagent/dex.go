package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/evadts/dexlink"
	"github.com/tapagent/tapagent/flow"
)

const dexUsage = `tapagent dex COMMAND

  parse FILE [--json]      read any EVA-DTS audit file: warnings, G85 and SE verdicts, structured data
  report [--reset]         take a read-out of this agent's audit (counts in EA3; --reset is a full read)
  reports [--since T] [--until T] [--port N] [--cp1251] [--base64] [--json]
                           kept reports of the last 14 days (RFC 3339 times; port 1 own, 2 DEX)
  serve --port DEV [--once] answer a handheld on a DEX port (9600 8N1) with this agent's audit
  read --port DEV          read a vending machine's DEX port and print (and keep) its audit

report and reports ask the running agent (its local API), else open its
database (reports read-only).`

func cmdDex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commandHelp(args, stdout, stderr, dexUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("dex "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var asJSON, reset, cp, b64, once *bool
	var since, until, port *string
	switch sub {
	case "parse":
		asJSON = fs.Bool("json", false, "JSON output")
		return dexParseCommand(fs, args[1:], asJSON, stdout)
	case "report":
		reset = fs.Bool("reset", false, "full read, resetting the interval counters")
	case "reports":
		since = fs.String("since", "", "start of the period (RFC 3339)")
		until = fs.String("until", "", "end of the period (RFC 3339)")
		port = fs.String("port", "", "1 own audit, 2 read from a DEX port (default: both)")
		cp = fs.Bool("cp1251", false, "Windows-1251 text")
		b64 = fs.Bool("base64", false, "base64-packed")
		asJSON = fs.Bool("json", false, "JSON output")
	case "serve", "read":
		port = fs.String("port", "", "the DEX port's serial device")
		if sub == "serve" {
			once = fs.Bool("once", false, "answer one read, then exit")
		}
	default:
		fmt.Fprintln(stderr, dexUsage)
		return fmt.Errorf("%w: unknown dex command %q", errUsage, sub)
	}
	data := fs.String("data", "", "the agent's data directory (default: device.data_dir)")
	cfg, _, err := loadAgentConfig(fs, args[1:])
	if err != nil {
		return err
	}
	if *data != "" {
		cfg.Device.DataDir = *data
	}
	if (sub == "serve" || sub == "read") && *port == "" {
		return fmt.Errorf("%w: --port DEV is required", errUsage)
	}
	var q reportsQuery
	if sub == "reports" {
		if q, err = parseReportsFlags(*since, *until, *port); err != nil {
			return err
		}
	}
	if c, err := agentClient(ctx, cfg); err == nil && (sub == "report" || sub == "reports") {
		// The running agent answers: its database is locked.
		if sub == "reports" {
			kr, err := c.DexReports(ctx, q.from, q.to, q.port)
			if err != nil {
				return err
			}
			return printReports(stdout, stderr, kr.Reports, kr.More, *asJSON, *cp, *b64)
		}
		rep, err := c.DexReport(ctx, *reset || cfg.Audit.ResetOnRead == "full")
		if err != nil {
			return err
		}
		_, err = stdout.Write(rep)
		return err
	}
	// report reads out an agent that has run (counting the read); reports
	// only looks; serve and read keep what they do, on a first run too.
	open := agent.OpenStore
	switch sub {
	case "report":
		open = openExistingStore
	case "reports":
		open = openStoreReadOnly
	}
	store, err := open(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	audit := evadts.NewAudit(store, nil)
	switch sub {
	case "serve", "read":
		dev, err := dexlink.OpenSerial(*port)
		if err != nil {
			return fmt.Errorf("dex: %w", err)
		}
		defer dev.Close()
		id := evadts.IdentityFrom(cfg, version)
		if sub == "read" {
			rep, st, err := dexlink.Read(ctx, dev, id.CommID, dexlink.SpecTimers)
			if err != nil {
				return err
			}
			if err := audit.Keep(evadts.PortDEX, rep); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "read %d bytes in %s\n", st.Payload, st.Duration.Round(time.Millisecond))
			_, err = stdout.Write(rep)
			return err
		}
		for ctx.Err() == nil {
			n, err := dexlink.ServeAudit(ctx, dev, audit, id, cfg.Audit.ResetOnRead == "full")
			if err != nil {
				fmt.Fprintf(stderr, "dex serve: %v\n", err)
			} else {
				fmt.Fprintf(stderr, "audit of %d bytes read\n", n)
			}
			if *once {
				return err
			}
		}
		return nil
	case "report":
		full := *reset || cfg.Audit.ResetOnRead == "full"
		rep, err := audit.Read(evadts.IdentityFrom(cfg, version), full, "cli")
		if err != nil {
			return err
		}
		_, err = stdout.Write(rep)
		return err
	case "reports":
		ks, more, err := audit.Reports(q.from, q.to, q.port)
		if err != nil {
			return err
		}
		return printReports(stdout, stderr, ks, more, *asJSON, *cp, *b64)
	}
	return nil
}

// reportsQuery is the period and port of `dex reports`.
type reportsQuery struct {
	from, to time.Time
	port     int
}

// parseReportsFlags reads --since, --until (RFC 3339) and --port by the
// local API's rule, so that both paths take the same values.
func parseReportsFlags(since, until, port string) (reportsQuery, error) {
	var q reportsQuery
	var err error
	v := url.Values{"since": {since}, "until": {until}, "port": {port}}
	if q.from, q.to, q.port, err = localapi.ParseReportsQuery(v); err != nil {
		return q, fmt.Errorf("%w: --%w", errUsage, err)
	}
	return q, nil
}

// printReports writes kept reports as `dex reports` shows them; more says
// older ones were left out.
func printReports(stdout, stderr io.Writer, ks []evadts.Kept, more, asJSON, cp, b64 bool) error {
	if more && len(ks) > 0 {
		fmt.Fprintf(stderr, "older reports left out (at most %d, %d KiB at once): ask again with --until %s\n",
			evadts.MaxReports, evadts.MaxReportBytes>>10, ks[0].Date.Add(-time.Nanosecond).Format(time.RFC3339Nano))
	}
	if asJSON {
		b, err := evadts.MarshalKept(ks, cp, b64)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	for _, k := range ks {
		fmt.Fprintf(stdout, "# %s port %d\n", k.Date.Format(time.RFC3339), k.Port)
		if _, err := stdout.Write(evadts.Encode([]byte(k.Data), cp, b64)); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// dexParseCommand is `dex parse FILE [--json]`, the file before or after
// the flag.
func dexParseCommand(fs *flag.FlagSet, args []string, asJSON *bool, out io.Writer) error {
	file := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if file == "" {
		return fmt.Errorf("%w: dex parse FILE", errUsage)
	}
	return dexParse(file, *asJSON, out)
}

func dexParse(path string, asJSON bool, out io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := evadts.Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !hasAuditData(f) {
		return fmt.Errorf("%s: %w", path, errNoAuditData)
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(f)
	}
	r := f.Report
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "file\t%s\n", path)
	fmt.Fprintf(tw, "sender\t%s (%s), line ends %s\n", f.CommID, f.Version, f.LineEnds)
	fmt.Fprintf(tw, "G85\t%s (stated %s, computed %s)\n", f.G85.Verdict, f.G85.Stated, f.G85.Computed)
	fmt.Fprintf(tw, "SE\tstated %d, counted %d\n", f.SEStated, f.SEActual)
	fmt.Fprintf(tw, "machine\t%s %s at %q asset %q\n", r.Machine.Serial, r.Machine.Model, r.Machine.Location, r.Machine.Asset)
	fmt.Fprintf(tw, "sales\t%d vends, %s since init; %d, %s since reset\n", r.Sales.CountInit, amount(r.Sales.ValueInit, r.Decimals, r.Currency),
		r.Sales.CountReset, amount(r.Sales.ValueReset, r.Decimals, r.Currency))
	fmt.Fprintf(tw, "products\t%d\n", len(r.Products))
	for _, p := range r.Products {
		fmt.Fprintf(tw, "  %s\t%s %q: %d paid (%s), %d test, %d free\n", p.ID, amount(p.Price, r.Decimals, r.Currency), p.Name,
			p.Paid.CountInit, amount(p.Paid.ValueInit, r.Decimals, r.Currency), p.Test.CountInit, p.Free.CountInit)
	}
	for _, e := range r.Events {
		fmt.Fprintf(tw, "event %s\t%d since reset, %d since init, active %v\n", e.ID, e.CountReset, e.CountInit, e.Active)
	}
	fmt.Fprintf(tw, "reads\t%d (%d resets)\n", r.Reads, r.Resets)
	fmt.Fprintf(tw, "warnings\t%d\n", len(f.Warnings))
	for _, w := range f.Warnings {
		line := ""
		if w.Line > 0 {
			line = fmt.Sprintf("line %d: ", w.Line)
		}
		fmt.Fprintf(tw, "  \t%s%s\n", line, w.Message)
	}
	return nil
}

// errNoAuditData is a file with at most an EVA-DTS envelope around it.
var errNoAuditData = errors.New("no EVA-DTS audit data in this file (no data block such as ID1, VA1 or PA1)")

// hasAuditData reports whether the file holds any EVA-DTS data block (two
// letters and a number, as ID1, CA17, PA2) besides the transmission's
// envelope (DXS, ST, SE, G85, DXE): text that merely mentions "DXS*" is
// not an audit.
func hasAuditData(f *evadts.File) bool {
	for _, seg := range f.Segments {
		id := seg.ID
		if id == "G85" || len(id) < 3 || !isUpper(id[0]) || !isUpper(id[1]) {
			continue
		}
		if strings.TrimLeft(id[2:], "0123456789") == "" {
			return true
		}
	}
	return false
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// amount prints an EVA-DTS value with the file's own decimals and currency.
func amount(v, decimals int64, cur string) string {
	return flow.Money(v, int(min(max(decimals, 0), 18)), cur)
}
