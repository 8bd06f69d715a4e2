package terminalsale

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/transport"
	"github.com/tapagent/tapagent/ttg"
)

// Bus is an open MDB transport.
type Bus = transport.Bus

// Open opens the configured transport on port (cfg.Port when empty): the
// Qibixx adapter or the board's UART, as a Link that the terminal reopens
// when the port disappears and comes back.
func Open(ctx context.Context, cfg config.MDB, port string) (*Link, error) {
	if port == "" {
		port = cfg.Port
	}
	if port == "" {
		return nil, fmt.Errorf("mdb: %w ([mdb] port)", transport.ErrNotConfigured)
	}
	return NewLink(ctx, func(ctx context.Context) (Bus, error) { return transport.OpenMDB(ctx, cfg, port) })
}

// Items are the EXE machine's selections the terminal pays for.
func Items(e config.EXE) map[byte]Item {
	if len(e.Items) == 0 {
		return nil
	}
	out := make(map[byte]Item, len(e.Items))
	for _, it := range e.Items {
		out[byte(it.Selection)] = Item{Product: it.Product, PLU: it.PLU, Price: it.Price}
	}
	return out
}

// Start runs a terminal on m until the returned stop is called (or ctx ends).
func Start(ctx context.Context, cfg *config.Config, m *mdb.Master, agent Agent, store *storage.Store, vouchers Vouchers,
	now func() time.Time, log *slog.Logger) (*Tap, func()) {
	ct := ttg.CardMDBPre
	if cfg.MDB.Billing == "bill" {
		ct = ttg.CardMDBBill
	}
	t := New(Options{Master: m, Agent: agent, Store: store, Lines: cfg.Served(cfg.MDB.Lines), Portion: flow.Vol(math.Round(cfg.MDB.PortionML * 10)),
		Items: Items(cfg.EXE), CardType: ct, Minor: byte(cfg.Device.Decimals), VendTimeout: cfg.MDB.VendTimeout.Duration,
		SelectTimeout: cfg.MDB.SelectTimeout.Duration, Now: now, Log: log, Money: cfg.Device.Money, Vouchers: vouchers})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { t.Run(ctx); close(done) }()
	return t, func() { cancel(); <-done }
}

// Describe names the terminal's set-up for a log line; where is the
// device the bus was opened on (a port, or the simulated terminal).
func Describe(cfg *config.Config, where string) string {
	return fmt.Sprintf("cashless #%d on %s (%s), lines %v, %s mL portions, %d EXE selections, card type %s",
		cfg.MDB.Device, where, cfg.MDB.Transport, cfg.Served(cfg.MDB.Lines), strconv.FormatFloat(cfg.MDB.PortionML, 'f', -1, 64), len(cfg.EXE.Items), cfg.MDB.Billing)
}
