package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// cmdOutbox shows, per sink, how many records wait, the oldest of them and
// the last delivery error. It asks the running agent (its local API), else
// reads the database read-only.
func cmdOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("outbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "the agent's data directory (default: device.data_dir)")
	cfg, _, err := loadAgentConfig(fs, args)
	if err != nil {
		return err
	}
	if *data != "" {
		cfg.Device.DataDir = *data
	}
	if c, err := agentClient(ctx, cfg); err == nil {
		// The running agent answers: its database is locked.
		st, err := c.OutboxStatus(ctx)
		if err != nil {
			return err
		}
		return printSinks(stdout, st.Sinks, st.Total)
	}
	store, err := openStoreReadOnly(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := store.SinkStatuses()
	if err != nil {
		return err
	}
	total, _ := store.OutboxLen()
	return printSinks(stdout, st, total)
}

// printSinks writes the per-sink table of `tapagent outbox`.
func printSinks(w io.Writer, st []storage.SinkStatus, total int) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SINK\tDEPTH\tOLDEST\tDEAD\tLAST ERROR\n")
	for _, s := range st {
		oldest := "-"
		if s.Depth > 0 {
			oldest = fmt.Sprintf("%s (seq %d, %s)", s.Oldest.ID, s.Oldest.Seq, time.UnixMilli(s.Oldest.EndedAt).UTC().Format(time.RFC3339))
		}
		last := "-"
		if s.LastError.Msg != "" {
			last = fmt.Sprintf("%s: %s", time.UnixMilli(s.LastError.At).UTC().Format(time.RFC3339), s.LastError.Msg)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", s.Name, s.Depth, oldest, s.Dead, last)
	}
	fmt.Fprintf(tw, "%s held in the outbox\n", flow.Count(total, "record", "records"))
	return tw.Flush()
}
