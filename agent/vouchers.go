package agent

import (
	"context"
	"io"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/transport"
)

// buildVouchers makes the voucher service before the parts that take
// codes (MQTT, the dashboard, the terminal) start.
func (a *Agent) buildVouchers() error {
	if !a.has(PartVouchers) {
		return nil
	}
	var terminal []int
	if a.has(PartTerminal) {
		terminal = a.cfg.Served(a.cfg.MDB.Lines)
	}
	v, err := voucherpay.Build(a.cfg, a.run.dev, a.run.store, terminal, a.clk.Now, a.log)
	if err != nil {
		a.set(PartVouchers, StateFailed)
		return err
	}
	a.run.vouchers = v
	return nil
}

// startVouchers expires voucher arms and reads the scanner.
func (a *Agent) startVouchers(ctx context.Context) error {
	sn := a.cfg.SmartNow
	stop := a.run.vouchers.Start(ctx, func() (io.ReadCloser, error) { return transport.OpenScanner(sn) })
	a.pushSession(PartVouchers, stop)
	a.set(PartVouchers, StateRunning)
	return nil
}

// terminalVouchers is where the MDB terminal finds an armed voucher; nil
// without vouchers.
func (a *Agent) terminalVouchers() terminalsale.Vouchers {
	if a.run.vouchers == nil {
		return nil
	}
	return a.run.vouchers
}

// Vouchers is the voucher service; nil without vouchers.
func (a *Agent) Vouchers() *voucherpay.Service { return a.run.vouchers }
