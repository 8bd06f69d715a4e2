package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

func cmdTTGServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ttg-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8585", "address to serve the TTG API on")
	data := fs.String("data", "./ttg-data", "directory for the server's database")
	user := fs.String("user", "tapagent", "API user name")
	pass := fs.String("pass", "tapagent", "API password")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := newLogger(stderr, "info", "text")
	srv, err := ttgserver.New(ttgserver.Options{DataDir: *data, Users: map[string]string{*user: *pass}, Log: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "TTG emulator on http://%s (data %s); faults: POST /_emulator/faults\n", ln.Addr(), *data)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

const ttgUsage = `tapagent ttg COMMAND [--config FILE]

  check        authenticate and show the server
  products     products with their price now and the pricing state
  items        items (portions) with prices
  happyhours   happy-hour rules and whether each is active now
  outbox       records waiting for the TTG server (every sink: tapagent outbox)
  push         upload the outbox now
  deadletters  records the server refused, with its reason

outbox and deadletters ask the running agent (its local API), else read its
database; push needs the agent stopped (it opens the database).`

func cmdTTG(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commandHelp(args, stdout, stderr, ttgUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("ttg "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "server URL (default: ttg.url)")
	data := fs.String("data", "", "the agent's data directory (default: device.data_dir)")
	own, ok := map[string][]string{"check": {"url"}, "products": {"url"}, "items": {"url"}, "happyhours": {"url"},
		"outbox": {"data"}, "deadletters": {"data"}, "push": {"url", "data"}}[sub]
	if !ok {
		fmt.Fprintln(stderr, ttgUsage)
		return fmt.Errorf("%w: unknown ttg command %q", errUsage, sub)
	}
	cfg, _, err := loadAgentConfig(onlyFlags(fs, own...), args[1:])
	if err != nil {
		return err
	}
	if *url != "" {
		cfg.TTG.URL = *url
	}
	if *data != "" {
		cfg.Device.DataDir = *data
	}
	log := newLogger(stderr, "warn", "text")
	switch sub {
	case "outbox", "push", "deadletters":
		return ttgStoreCommand(ctx, sub, cfg, stdout, log)
	case "check", "products", "items", "happyhours":
		if cfg.TTG.URL == "" {
			return fmt.Errorf("%w: no TTG server: set ttg.url in the configuration or pass --url", errUsage)
		}
		return ttgServerCommand(ctx, sub, cfg, stdout, log)
	}
	return nil
}

func ttgClient(cfg *config.Config, log *slog.Logger) *ttg.Client {
	return ttg.NewClient(ttg.ClientConfig{BaseURL: cfg.TTG.URL, Username: cfg.TTG.Username, Password: cfg.TTG.Password,
		ClientID: cfg.Device.ID, ClientName: cfg.TTG.ClientName, Timeout: cfg.TTG.Timeout.Duration, Log: log})
}

func ttgServerCommand(ctx context.Context, sub string, cfg *config.Config, out io.Writer, log *slog.Logger) error {
	c := ttgClient(cfg, log)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if sub == "check" {
		if err := c.Authenticate(ctx); err != nil {
			return err
		}
		st, err := c.ConfigStamp(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "OK: %s as %q, server uuid %s, configuration exported %s\n", cfg.TTG.URL, cfg.TTG.Username, c.ServerUUID(), st.Human)
		return nil
	}
	loc, err := cfg.TTG.Location()
	if err != nil {
		return err
	}
	syncer := ttg.NewSyncer(c, memCache{}, ttg.SyncConfig{DeviceID: cfg.Device.ID, LocationID: cfg.Device.LocationID, Lines: lineIDs(cfg), Loc: loc}, nil)
	if err := syncer.Refresh(ctx); err != nil {
		return err
	}
	cat := syncer.Catalog()
	now := time.Now()
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	money := func(minor int64) string { return cfg.Device.Money(minor) }
	switch sub {
	case "products":
		printProducts(tw, cat, now, cfg.Device.Money)
	case "items":
		fmt.Fprintf(tw, "ITEM\tPLU\tPORTION\tPRICE\tHH1\tHH2\tHH1%%\tHH2%%\n")
		for _, it := range cat.Items {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\n", it.ItemID, it.ProductPLU, it.PortionName, money(it.Price), money(it.PriceHH1), money(it.PriceHH2), it.PriceHH1Pct, it.PriceHH2Pct)
		}
		for _, l := range lineIDs(cfg) {
			for _, lp := range cat.Lines[l].Portions {
				fmt.Fprintf(tw, "line %d\t\t%s\t%s\t\t\t\t\n", l, lp.PortionName, money(lp.Price))
			}
		}
	case "happyhours":
		fmt.Fprintf(tw, "ID\tNAME\tDAYS\tDATES\tTIME\tKEG\tLEVEL\tPLUS\tACTIVE NOW\n")
		for _, h := range cat.HappyHours {
			active := false
			for _, p := range cat.Products {
				active = active || cat.HappyHourActive(h, now, p, ttg.KegState{FillPermille: 1000})
			}
			fmt.Fprintf(tw, "%d\t%s\t%d-%d\t%s..%s\t%02d:%02d-%02d:%02d\t%d%%/%dd\t%s\t%s\t%v\n", h.HappyID, h.Name,
				h.WeekDayStart, h.WeekDayEnd, h.StartDate, h.EndDate, h.StartTime/60, h.StartTime%60, h.EndTime/60, h.EndTime%60,
				h.KegLevel, h.KegAge, stateName(h.PriceLevel), h.AffectedPLUs, active)
		}
	}
	return nil
}

func stateName(s int) string {
	return [...]string{"default", "happy hour 1", "happy hour 2", "happy hour 1 %", "happy hour 2 %", "?"}[min(max(s, 0), 5)]
}

func lineIDs(cfg *config.Config) []int {
	ids := make([]int, 0, len(cfg.Lines))
	for _, l := range cfg.Lines {
		ids = append(ids, l.ID)
	}
	return ids
}

func ttgStoreCommand(ctx context.Context, sub string, cfg *config.Config, out io.Writer, log *slog.Logger) error {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	if c, err := agentClient(ctx, cfg); err == nil && sub != "push" {
		// The running agent answers: its database is locked.
		if sub == "outbox" {
			recs, err := c.Outbox(ctx)
			printOutbox(tw, recs, cfg.Device.Money)
			return err
		}
		dl, err := c.DeadLetters(ctx)
		printDeadLetters(tw, dl, cfg.Device.Money)
		return err
	}
	open := openStoreReadOnly
	if sub == "push" {
		open = openExistingStore
	}
	store, err := open(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	sink, err := store.Sink(storage.DefaultSink)
	if err != nil {
		return err
	}
	switch sub {
	case "outbox":
		recs, err := sink.Outbox(0, 1<<30)
		if err != nil {
			return err
		}
		printOutbox(tw, recs, cfg.Device.Money)
	case "deadletters":
		dl, err := store.DeadLetters()
		if err != nil {
			return err
		}
		printDeadLetters(tw, dl, cfg.Device.Money)
	case "push":
		if cfg.TTG.URL == "" {
			return fmt.Errorf("%w: no TTG server: set ttg.url or pass --url", errUsage)
		}
		up, err := serversync.New(cfg, store, false, log)
		if err != nil {
			return err
		}
		before, _ := sink.Status()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		err = up.Syncer.Flush(ctx)
		after, _ := sink.Status()
		fmt.Fprintf(tw, "pushed %d records, %d left\n", before.Depth-after.Depth, after.Depth)
		return err
	}
	return nil
}

// printOutbox lists records waiting for the server, money in the wall's
// currency.
func printOutbox(tw io.Writer, recs []storage.Record, money func(int64) string) {
	fmt.Fprintf(tw, "SEQ\tID\tKIND\tLINE\tPLU\tVOLUME\tAMOUNT\tENDED\n")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Seq, r.ID, r.Kind, r.Line, r.PLU, r.Pour.Volume, money(r.Pour.Amount),
			time.UnixMilli(r.EndedAt).Format(time.DateTime))
	}
	fmt.Fprintln(tw, flow.Count(len(recs), "record", "records"))
}

// printDeadLetters lists the records the server refused, with its reason.
func printDeadLetters(tw io.Writer, dl []storage.DeadLetter, money func(int64) string) {
	fmt.Fprintf(tw, "SEQ\tID\tKIND\tVOLUME\tAMOUNT\tREASON\n")
	for _, d := range dl {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.Seq, d.Record.ID, d.Record.Kind, d.Record.Pour.Volume, money(d.Record.Pour.Amount), d.Reason)
	}
	fmt.Fprintf(tw, "%d dead letters\n", len(dl))
}

// memCache is a throw-away cache for read-only commands.
type memCache struct{ ttg.Store }

func (memCache) PutCache(string, []byte) error { return nil }
func (memCache) Cache(string) ([]byte, error)  { return nil, nil }

// printProducts lists the products with their price as the server states
// it, per the product's unit (the base unit ÷ volume_base_unit_divider),
// and the price now, happy hours included, per the server's base unit.
func printProducts(w io.Writer, cat *ttg.Catalog, now time.Time, money func(int64) string) {
	base := cat.Units().Unit
	fmt.Fprintf(w, "PLU\tNAME\tTYPE\tABV\tPRICE\tPER\tNOW/%s\tSTATE\n", base)
	for _, p := range cat.Products {
		st := cat.PricingState(now, p, ttg.KegState{FillPermille: 1000})
		price, ok := p.UnitPrice(st)
		nowPrice := "-" // a price the agent cannot use: the line's own applies
		if ok {
			nowPrice = money(price)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.PLU, p.Name, ttg.ProductTypeNames[p.ProductType], p.ABV,
			money(int64(p.PricePerUnit)), productUnit(p, base), nowPrice, stateName(st))
	}
}

// productUnit names the unit a product's price_per_unit is for: the base
// unit, or the base unit ÷ divider, named by the product's volume_unit.
func productUnit(p ttg.Product, base string) string {
	if p.VolumeBaseUnitDivider <= 1 {
		return base
	}
	if p.VolumeUnit != "" && p.VolumeUnit != base {
		return p.VolumeUnit
	}
	return fmt.Sprintf("%s/%d", base, p.VolumeBaseUnitDivider)
}
