package exesale

import (
	"context"
	"fmt"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/payment/exe"
)

// Start runs the loop for m, paid by payer, until the returned stop is
// called (or ctx ends).
func Start(ctx context.Context, cfg config.EXE, m Seller, payer exe.Payer, report func(device.Event)) (*Loop, func()) {
	l := New(Options{Machine: m, Payer: payer, Poll: cfg.Poll.Duration, Report: report})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	return l, func() { cancel(); <-done }
}

// Describe names the machine's set-up for a log line; where is the
// device the bridge was opened on (a port, or the simulated machine).
func Describe(cfg config.EXE, where string) string {
	return fmt.Sprintf("EXE machine through the bridge on %s, %d selections paid at the MDB terminal", where, len(cfg.Items))
}
