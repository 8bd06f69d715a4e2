package exesale

import (
	"context"
	"fmt"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/payment/exe"
)

// Open opens the bridge on port (cfg.Port when empty) with the
// configured timers.
func Open(cfg config.EXE, port string) (*exe.Master, error) {
	if port == "" {
		port = cfg.Port
	}
	if port == "" {
		return nil, fmt.Errorf("exe: no port configured ([exe] port)")
	}
	m, err := exe.OpenBridge(port)
	if err != nil {
		return nil, err
	}
	Tune(m, cfg)
	return m, nil
}

// Tune sets a master's timers from the configuration.
func Tune(m *exe.Master, cfg config.EXE) {
	m.Response, m.VendTimeout = cfg.Response.Duration, cfg.VendTimeout.Duration
}

// Start runs the loop for m, paid by payer, until the returned stop is
// called (or ctx ends).
func Start(ctx context.Context, cfg config.EXE, m Seller, payer exe.Payer, report func(device.Event)) (*Loop, func()) {
	l := New(Options{Machine: m, Payer: payer, Poll: cfg.Poll.Duration, Report: report})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	return l, func() { cancel(); <-done }
}

// Describe names the machine's set-up for a log line.
func Describe(cfg config.EXE) string {
	return fmt.Sprintf("EXE machine through the bridge on %s, %d selections paid at the MDB terminal", cfg.Port, len(cfg.Items))
}
