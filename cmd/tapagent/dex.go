package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/evadts/dexlink"
)

const dexUsage = `tapagent dex COMMAND

  parse FILE [--json]      read any EVA-DTS audit file: warnings, G85 and SE verdicts, structured data
  report [--reset]         take a read-out of this agent's audit (counts in EA3; --reset is a full read)
  reports [--since T] [--until T] [--port N] [--cp1251] [--base64] [--json]
                           kept reports of the last 14 days (RFC 3339 times; port 1 own, 2 DEX)
  serve --port DEV [--once] answer a handheld on a DEX port (9600 8N1) with this agent's audit
  read --port DEV          read a vending machine's DEX port and print (and keep) its audit

report asks the running agent (its local API), else opens its database;
reports opens the database: stop the agent first.`

func cmdDex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, dexUsage)
		return fmt.Errorf("%w: a command is needed", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("dex "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "JSON output")
	cfgPath := fs.String("config", "", "configuration file (default: the embedded sim configuration)")
	data := fs.String("data", "", "the agent's data directory (default: device.data_dir)")
	reset := fs.Bool("reset", false, "report: full read, resetting the interval counters")
	since := fs.String("since", "", "reports: start of the period (RFC 3339)")
	until := fs.String("until", "", "reports: end of the period (RFC 3339)")
	port := fs.String("port", "", "serve/read: the DEX port's serial device; reports: 1 own audit, 2 read from a DEX port (default: both)")
	cp := fs.Bool("cp1251", false, "reports: Windows-1251 text")
	b64 := fs.Bool("base64", false, "reports: base64-packed")
	once := fs.Bool("once", false, "serve: answer one read, then exit")
	rest := args[1:]
	file := ""
	if sub == "parse" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file, rest = rest[0], rest[1:] // "dex parse FILE --json"
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if sub == "parse" {
		if file == "" && fs.NArg() == 1 {
			file = fs.Arg(0)
		}
		if file == "" {
			return fmt.Errorf("%w: dex parse FILE", errUsage)
		}
		return dexParse(file, *asJSON, stdout)
	}
	cfg, err := loadSimConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *data != "" {
		cfg.Device.DataDir = *data
	}
	if c, err := agentClient(ctx, cfg); err == nil && sub == "report" {
		// The running agent takes the read-out: its database is locked.
		rep, err := c.DexReport(ctx, *reset || cfg.Audit.ResetOnRead == "full")
		if err != nil {
			return err
		}
		_, err = stdout.Write(rep)
		return err
	}
	store, err := agent.OpenStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	audit := evadts.NewAudit(store, nil)
	switch sub {
	case "serve", "read":
		if *port == "" {
			return fmt.Errorf("%w: --port DEV is required", errUsage)
		}
		dev, err := dexlink.OpenSerial(*port)
		if err != nil {
			return err
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
		var from, to time.Time
		for _, p := range []struct {
			s   string
			dst *time.Time
		}{{*since, &from}, {*until, &to}} {
			if p.s == "" {
				continue
			}
			if *p.dst, err = time.Parse(time.RFC3339, p.s); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
		}
		which := 0
		if *port != "" {
			if which, err = strconv.Atoi(*port); err != nil || which < 1 || which > 2 {
				return fmt.Errorf("%w: --port for reports is 1 (own audit) or 2 (DEX)", errUsage)
			}
		}
		ks, more, err := audit.Reports(from, to, which)
		if err != nil {
			return err
		}
		if more {
			fmt.Fprintf(stderr, "older reports left out (at most %d, %d KiB at once): ask again with --until %s\n",
				evadts.MaxReports, evadts.MaxReportBytes>>10, ks[0].Date.Add(-time.Nanosecond).Format(time.RFC3339Nano))
		}
		if *asJSON {
			b, err := evadts.MarshalKept(ks, *cp, *b64)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "%s\n", b)
			return err
		}
		for _, k := range ks {
			fmt.Fprintf(stdout, "# %s port %d\n", k.Date.Format(time.RFC3339), k.Port)
			stdout.Write(evadts.Encode([]byte(k.Data), *cp, *b64))
			fmt.Fprintln(stdout)
		}
		return nil
	}
	fmt.Fprintln(stderr, dexUsage)
	return fmt.Errorf("%w: unknown dex command %q", errUsage, sub)
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

func amount(v, decimals int64, cur string) string {
	if decimals <= 0 {
		return strings.TrimSpace(fmt.Sprintf("%d %s", v, cur))
	}
	d := int64(1)
	for i := int64(0); i < decimals; i++ {
		d *= 10
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return strings.TrimSpace(fmt.Sprintf("%s%d.%0*d %s", sign, v/d, decimals, v%d, cur))
}
