package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
)

const kegUsage = `Usage:
  tapagent keg change --line N --size 50L [--plu P] [--keg-id K] [--tapped DATE]
                      a fresh, full keg on line N (a line whose keg ran dry pours again)
  tapagent keg adjust --line N --remaining 20L
                      what is left in the keg after a measurement
  tapagent keg empty --line N
                      the keg is empty: the line takes no pour until a keg change

The agent must be running: the command goes through its local API
(<data dir>/agent.sock) and is recorded with your login name.
Flags of every subcommand: --config FILE (else the installed one), --sim, --data DIR. DATE is YYYY-MM-DD,
"YYYY-MM-DD HH:MM" or RFC 3339. Volumes take a unit: L or mL.`

const lineUsage = `Usage:
  tapagent line lock --line N      take the line out of service (a running pour stops)
  tapagent line unlock --line N    return it to service
  tapagent line clean --line N [--stop]
                                   start (or stop) cleaning mode: an uncharged cleaning pour

The agent must be running (its local API). Flags: --config FILE (else the installed one), --sim, --data DIR.`

const kegsUsage = `Usage: tapagent kegs [--config FILE | --sim] [--data DIR] [--json]

Every line's keg: product, size, what is left, fill level, when it was tapped.
  --json      the list as the local API returns it (volumes in tenths of mL),
              with size_litres and remaining_litres beside them
  --tz ZONE   time zone of the tapped dates (default: the system's)
Asks the running agent; with the agent stopped, reads its database.`

const poursUsage = `Usage: tapagent pours [flags]

The pour history kept on the device, newest last:
  --from, --to WHEN        time range: YYYY-MM-DD, "YYYY-MM-DD HH:MM" or RFC 3339.
                           from is inclusive; a date alone as --to includes that whole
                           day (--from 2026-12-01 --to 2026-12-02 is two days), a time
                           as --to is exclusive
  --line N --product NAME|PLU --card HASH --payment TYPE
                           filters; N is a configured line; payment is one of
                           none, free, card, remote, terminal, register
  --kind LIST              comma-separated entry kinds (default pour), of: pour, vend,
                           cleaning, calibration, unattributed, cardpurchase, operation, alarm
  --totals day|line|product
                           sums of pours instead of the pours
  --csv                    CSV for a spreadsheet (volumes in mL, money in minor units)
  --limit N                at most N entries (default 1000)
  --tz ZONE                time zone of dates and days (default: the system's)
  --config FILE, --sim, --data DIR
Asks the running agent; with the agent stopped, reads its database.`

// wantsHelp reports -h/--help among args, so that a subcommand's help
// needs nothing else to be right.
func wantsHelp(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" })
}

// showHelp prints usage to stdout when args ask for help (wantsHelp).
func showHelp(args []string, usage string, stdout io.Writer) bool {
	if !wantsHelp(args) {
		return false
	}
	fmt.Fprintln(stdout, usage)
	return true
}

// dataFlagSet is the flag set of the keg or history command name, with
// the data flags, its errors to stderr.
func dataFlagSet(name string, stderr io.Writer) (*flag.FlagSet, dataFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, addDataFlags(fs)
}

// dataFlags are the flags every keg and history command takes; the
// configuration is found by the one rule (loadAgentConfig).
type dataFlags struct {
	cfgPath, data *string
	sim           *bool
}

func addDataFlags(fs *flag.FlagSet) dataFlags {
	return dataFlags{cfgPath: fs.String("config", "", "the agent's configuration file (default: "+installedConfig+" when it exists)"),
		sim:  fs.Bool("sim", false, "use the embedded simulator configuration (its data in ./data) instead of the installed agent's"),
		data: fs.String("data", "", "the agent's data directory (default: device.data_dir)")}
}

func (d dataFlags) load() (*config.Config, error) {
	var simCfg func() (*config.Config, error)
	if *d.sim {
		simCfg = config.Default
	}
	cfg, _, err := resolveAgentConfig(*d.cfgPath, simCfg)
	if err != nil {
		return nil, err
	}
	if *d.data != "" {
		cfg.Device.DataDir = *d.data
	}
	return cfg, nil
}

// agentClient connects to the running agent of cfg.
func agentClient(ctx context.Context, cfg *config.Config) (*localapi.Client, error) {
	return localapi.Dial(ctx, localapi.SocketPath(cfg.Device.DataDir))
}

func cmdKeg(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return opCommand(ctx, "keg", kegUsage, map[string]string{"change": localapi.OpKegChange, "adjust": localapi.OpKegAdjust,
		"empty": localapi.OpKegEmpty}, args, stdout, stderr)
}

func cmdLine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return opCommand(ctx, "line", lineUsage, map[string]string{"lock": localapi.OpLock, "unlock": localapi.OpUnlock,
		"clean": localapi.OpClean}, args, stdout, stderr)
}

// opCommand runs one keg or line operation through the running agent.
func opCommand(ctx context.Context, name, usage string, ops map[string]string, args []string, stdout, stderr io.Writer) error {
	if showHelp(args, usage, stdout) {
		return flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commandHelp(args, stdout, stderr, usage)
	}
	if ops[args[0]] == "" {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: unknown %s command %q", errUsage, name, args[0])
	}
	sub := args[0]
	fs, df := dataFlagSet(name+" "+sub, stderr)
	line := fs.Int("line", 0, "line number")
	size := fs.String("size", "", "keg change: the keg's size (50L)")
	plu := fs.Int("plu", 0, "keg change: the product's PLU when it changes")
	kegID := fs.String("keg-id", "", "keg change: the keg's label or barcode")
	tapped := fs.String("tapped", "", "keg change: when it was connected (default now)")
	remaining := fs.String("remaining", "", "keg adjust: what is left (20L)")
	stop := fs.Bool("stop", false, "line clean: stop cleaning mode")
	if err := parseOnlyFlags(onlyFlags(fs, opFlags(sub)...), args[1:]); err != nil {
		return err
	}
	if *line <= 0 {
		return fmt.Errorf("%w: --line N is needed", errUsage)
	}
	req := localapi.OpRequest{KegChange: device.KegChange{Line: *line, PLU: *plu, KegID: *kegID}, On: !*stop}
	var err error
	switch sub {
	case "change":
		if req.Size, err = flow.ParseVol(*size); err != nil {
			return fmt.Errorf("%w: --size: %w", errUsage, err)
		}
		if req.Tapped, err = history.ParseFrom(*tapped, time.Local); err != nil {
			return fmt.Errorf("%w: --tapped: %w", errUsage, err)
		}
	case "adjust":
		if req.Remaining, err = flow.ParseVol(*remaining); err != nil {
			return fmt.Errorf("%w: --remaining: %w", errUsage, err)
		}
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	c, err := agentClient(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s %s goes through the running agent: %w", name, sub, err)
	}
	k, err := c.Operate(ctx, *line, ops[sub], req)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "line %d: %s\n", k.Line, kegLine(k))
	return nil
}

// opFlags are the flags keg or line subcommand sub takes.
func opFlags(sub string) []string {
	own := []string{"line", "config", "sim", "data"}
	switch sub {
	case "change":
		return append(own, "size", "plu", "keg-id", "tapped")
	case "adjust":
		return append(own, "remaining")
	case "clean":
		return append(own, "stop")
	}
	return own
}

// kegLine is a keg in one line of text.
func kegLine(k device.KegInfo) string {
	s := fmt.Sprintf("%s, %s of %s left (%s)", k.Product, k.Keg.Remaining.Litres(), k.Keg.Size.Litres(), permille(k.Keg.FillPermille()))
	switch {
	case k.Disabled != "":
		s += ", disabled: " + k.Disabled
	case k.Locked:
		s += ", locked"
	}
	return s
}

func permille(p int64) string { return fmt.Sprintf("%d.%d%%", p/10, p%10) }

func cmdKegs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if showHelp(args, kegsUsage, stdout) {
		return flag.ErrHelp
	}
	fs, df := dataFlagSet("kegs", stderr)
	tz := fs.String("tz", "", "time zone of the tapped dates (default: the system's)")
	asJSON := fs.Bool("json", false, "the keg list as JSON")
	if err := parseOnlyFlags(fs, args); err != nil {
		return err
	}
	loc, err := zone(*tz)
	if err != nil {
		return err
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	kegs, err := readKegs(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeKegsJSON(stdout, kegs)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tPRODUCT\tPLU\tKEG\tSIZE\tLEFT\tFILL\tTAPPED\tSTATE")
	for _, k := range kegs {
		state := k.State
		switch {
		case k.Disabled != "":
			state = "disabled: " + k.Disabled
		case k.Locked:
			state = "locked"
		}
		tappedAt := "-"
		if k.Keg.TappedAt != 0 {
			tappedAt = time.UnixMilli(k.Keg.TappedAt).In(loc).Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Line, k.Product, k.PLU, firstOr(k.Keg.ID, "-"),
			k.Keg.Size.Litres(), k.Keg.Remaining.Litres(), permille(k.Keg.FillPermille()), tappedAt, state)
	}
	return tw.Flush()
}

func firstOr(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

func zone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%w: --tz: %w", errUsage, err)
	}
	return loc, nil
}

// readKegs asks the running agent, or reads its database when it is stopped.
func readKegs(ctx context.Context, cfg *config.Config) ([]device.KegInfo, error) {
	c, err := agentClient(ctx, cfg)
	if err == nil {
		return c.Kegs(ctx)
	}
	if !errors.Is(err, localapi.ErrNotRunning) {
		return nil, err
	}
	st, err := openStoreReadOnly(cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	kegs, err := st.Kegs()
	if err != nil {
		return nil, err
	}
	out := make([]device.KegInfo, 0, len(cfg.Lines))
	for _, l := range cfg.Lines {
		k := kegs[l.ID]
		info := device.KegInfo{Line: l.ID, Product: l.Product, PLU: l.PLU, Keg: k, State: "agent stopped"}
		if k.PLU != 0 {
			info.Product, info.PLU = k.Product, k.PLU
		}
		if k.Kicked {
			info.Disabled = "keg_empty"
		}
		out = append(out, info)
	}
	return out, nil
}

func cmdPours(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if showHelp(args, poursUsage, stdout) {
		return flag.ErrHelp
	}
	fs, df := dataFlagSet("pours", stderr)
	from := fs.String("from", "", "start of the range (YYYY-MM-DD, \"YYYY-MM-DD HH:MM\" or RFC 3339)")
	to := fs.String("to", "", "end of the range, exclusive (same forms as --from)")
	line := fs.Int("line", 0, "only this line")
	product := fs.String("product", "", "only this product (name or PLU)")
	card := fs.String("card", "", "only this card (its hash)")
	payment := fs.String("payment", "", "only this payment: free, card, remote, terminal or register")
	kind := fs.String("kind", history.KindPour, "entry kinds, comma-separated, or all")
	totals := fs.String("totals", "", "sums of pours by day, line or product instead of the pours")
	asCSV := fs.Bool("csv", false, "CSV for a spreadsheet (volumes in mL, money in minor units)")
	limit := fs.Int("limit", 0, "at most this many entries (default 1000)")
	tz := fs.String("tz", "", "time zone of dates and days (default: the system's)")
	if err := parseOnlyFlags(fs, args); err != nil {
		return err
	}
	loc, err := zone(*tz)
	if err != nil {
		return err
	}
	q := history.Query{Line: *line, Product: *product, Card: *card, Payment: *payment, Limit: *limit, Loc: loc,
		Kinds: strings.Split(*kind, ",")}
	if q.From, err = history.ParseFrom(*from, loc); err != nil {
		return fmt.Errorf("%w: --from: %w", errUsage, err)
	}
	if q.To, err = history.ParseTo(*to, loc); err != nil {
		return fmt.Errorf("%w: --to: %w", errUsage, err)
	}
	if err := q.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg, err := df.load()
	if err != nil {
		return err
	}
	if err := checkLine(cfg, q.Line); err != nil {
		return err
	}
	src, closeSrc, err := historySource(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeSrc()
	if *totals != "" {
		ts, err := src.Totals(ctx, q, *totals)
		if err != nil {
			return err
		}
		if *asCSV {
			return history.WriteTotalsCSV(stdout, ts, *totals)
		}
		return printTotals(stdout, ts, *totals, cfg)
	}
	es, err := src.Find(ctx, q)
	if err != nil {
		return err
	}
	if *asCSV {
		return history.WriteCSV(stdout, es, loc)
	}
	return printPours(stdout, es, loc, cfg)
}

// historyReader is the history, from the running agent or its database.
type historyReader interface {
	Find(ctx context.Context, q history.Query) ([]history.Entry, error)
	Totals(ctx context.Context, q history.Query, by string) ([]history.Total, error)
}

// clientHistory is the running agent's history through its local API.
type clientHistory struct{ c *localapi.Client }

func (h clientHistory) Find(ctx context.Context, q history.Query) ([]history.Entry, error) {
	return h.c.History(ctx, q)
}

func (h clientHistory) Totals(ctx context.Context, q history.Query, by string) ([]history.Total, error) {
	return h.c.Totals(ctx, q, by)
}

func historySource(ctx context.Context, cfg *config.Config) (historyReader, func(), error) {
	c, err := agentClient(ctx, cfg)
	if err == nil {
		return clientHistory{c}, func() {}, nil
	}
	if !errors.Is(err, localapi.ErrNotRunning) {
		return nil, nil, err
	}
	st, err := openStoreReadOnly(cfg)
	if err != nil {
		return nil, nil, err
	}
	return history.New(st), func() { st.Close() }, nil
}

func printPours(w io.Writer, es []history.Entry, loc *time.Location, cfg *config.Config) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tLINE\tPRODUCT\tVOLUME\tAMOUNT\tPAYMENT\tCARD\tID\tDETAIL")
	var sum flow.Vol
	var amount int64
	for _, e := range es {
		what := e.Kind
		if e.Op != "" {
			what = e.Op
		}
		detail := e.Detail
		if e.Actor != nil {
			detail = strings.TrimSpace(detail + " by " + e.Actor.String())
		}
		vol, amt := e.Volume.String(), cfg.Device.Money(e.Amount)
		if e.Kind == history.KindOperation || e.Kind == history.KindAlarm {
			vol, amt = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.In(loc).Format(time.DateTime), what, e.Line,
			firstOr(e.Product, "-"), vol, amt, firstOr(e.Payment, "-"), firstOr(e.Card, "-"), firstOr(e.ID, "-"), detail)
		sum, amount = sum+e.Volume, amount+e.Amount
	}
	fmt.Fprintf(tw, "%s, %s, %s\n", flow.Count(len(es), "entry", "entries"), sum.Litres(), cfg.Device.Money(amount))
	return tw.Flush()
}

func printTotals(w io.Writer, ts []history.Total, by string, cfg *config.Config) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tPOURS\tVOLUME\tAMOUNT\n", strings.ToUpper(by))
	var all history.Total
	var shown int64 // the rows' volumes as printed, in cL
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", t.Key, t.Pours, t.Volume.Litres(), cfg.Device.Money(t.Amount))
		all.Pours, all.Volume, all.Amount = all.Pours+t.Pours, all.Volume+t.Volume, all.Amount+t.Amount
		shown += t.Volume.Centilitres()
	}
	fmt.Fprintf(tw, "all\t%s\t%s\t%s\n", strconv.FormatInt(all.Pours, 10), all.Volume.Litres(), cfg.Device.Money(all.Amount))
	if err := tw.Flush(); err != nil {
		return err
	}
	if shown != all.Volume.Centilitres() {
		// Exact total, rounded rows: say so rather than print a sum that is off.
		_, err := fmt.Fprintln(w, "Volumes are rounded to 0.01 L; all is the rounded exact total, not the sum of the rounded rows.")
		return err
	}
	return nil
}

// checkLine refuses a line the configuration does not have: a filter on it
// would select nothing and read as "no pours".
func checkLine(cfg *config.Config, line int) error {
	if line == 0 {
		return nil
	}
	ids := make([]string, 0, len(cfg.Lines))
	for _, l := range cfg.Lines {
		if l.ID == line {
			return nil
		}
		ids = append(ids, strconv.Itoa(l.ID))
	}
	return fmt.Errorf("%w: --line %d is not a configured line (lines: %s)", errUsage, line, strings.Join(ids, ", "))
}

// kegJSON is a keg as the local API returns it, with its volumes in litres
// beside the tenths of mL.
type kegJSON struct {
	device.KegInfo
	SizeLitres      string `json:"size_litres"`
	RemainingLitres string `json:"remaining_litres"`
}

func writeKegsJSON(w io.Writer, kegs []device.KegInfo) error {
	out := make([]kegJSON, len(kegs))
	for i, k := range kegs {
		out[i] = kegJSON{KegInfo: k, SizeLitres: k.Keg.Size.Litres(), RemainingLitres: k.Keg.Remaining.Litres()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
