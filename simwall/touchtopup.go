package simwall

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/agent/accountpay"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
	emu "github.com/tapagent/tapagent/sim/touchtopup"
)

// The accounts of `tapagent sim --touchtopup`: one company, two
// customers with balances, each reachable by a card and by its account
// number (Jane Doe's card by her link key).
var simCustomers = []emu.Customer{
	{ID: 5, Title: "Mr", FirstName: "John", LastName: "Smith", AccountNumber: "54321", Balance: 1500},
	{ID: 6, Title: "Ms", FirstName: "Jane", LastName: "Doe", AccountNumber: "54322", Balance: 800, LinkCode: "463607569"},
}

const (
	simCompany = 1
	simAPIKey  = "tapagent-sim-touchtopup"
	// tillEvery is how often, in virtual time, the simulated till collects.
	tillEvery = 2 * time.Second
)

func simAccounts() []config.TouchTopUpAccount {
	return []config.TouchTopUpAccount{
		{Card: 2001, CompanyID: simCompany, CustomerID: 5},
		{Card: 2002, LinkKey: fmt.Sprintf("%06d-%06d-%s", simCompany, 6, simCustomers[1].LinkCode)},
		{Account: "54321", CompanyID: simCompany, CustomerID: 5},
		{Account: "54322", CompanyID: simCompany, CustomerID: 6},
	}
}

// touchTopUp is the TouchTopUp side of a simulated run: the emulator on
// loopback and a till that collects the agent's debits and books them on
// the accounts.
type touchTopUp struct {
	srv    *emu.Server
	stop   func()
	till   *emu.Till
	before []int64
	last   time.Duration
	err    error // the till's last failure, logged once
}

// startTouchTopUp starts the emulator, seeds it and points [touchtopup]
// at it (with the cash-register interface on, where the till collects);
// nil without Options.TouchTopUp.
func startTouchTopUp(cfg *config.Config, o Options) (*touchTopUp, error) {
	if !o.TouchTopUp {
		return nil, nil
	}
	co := emu.Company{ID: simCompany, Name: "The Taproom", DB: "1", Customers: map[int64]*emu.Customer{}}
	t := &touchTopUp{}
	for _, c := range simCustomers {
		co.Customers[c.ID] = &c
		t.before = append(t.before, c.Balance)
	}
	srv, err := emu.New(emu.Options{APIKeys: []string{simAPIKey}, Companies: []emu.Company{co}})
	if err != nil {
		return nil, err
	}
	url, stop, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("touchtopup emulator: %w", err)
	}
	t.srv, t.stop = srv, stop
	tt := &cfg.TouchTopUp
	tt.URL, tt.APIKey = url, simAPIKey
	if len(tt.Accounts) == 0 {
		tt.Accounts = simAccounts()
	}
	if cfg.POS.Listen == "" {
		cfg.POS.Listen = "127.0.0.1:0"
	}
	return t, nil
}

func (t *touchTopUp) close() {
	if t != nil {
		t.stop()
	}
}

// tick lets the till collect every tillEvery of virtual time, once the
// cash-register interface listens.
func (t *touchTopUp) tick(r *runner, now time.Duration) {
	if t == nil || now-t.last < tillEvery || r.asm.CashURL() == "" {
		return
	}
	t.last = now
	if t.till == nil {
		t.till = &emu.Till{CashURL: r.asm.CashURL(), Key: r.cfg.POS.APIKey, Server: t.srv, Company: simCompany}
	}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	_, err := t.till.Collect(ctx)
	if err != nil && r.ctx.Err() == nil && (t.err == nil || err.Error() != t.err.Error()) {
		r.o.Log.Warn("simulated till: collecting debits failed", "err", err) // once per kind of failure
	}
	t.err = err
}

// account plays a card or account number presented at a line.
func (r *runner) account(st sim.Step) error {
	p := r.asm.Accounts()
	if p == nil {
		return errors.New("no TouchTopUp accounts: run with --touchtopup or set [touchtopup]")
	}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	_, err := p.Tap(ctx, st.Line, accountpay.Key{Card: st.CardID, Account: st.Account})
	if errors.Is(err, accountpay.ErrRefused) {
		return fmt.Errorf("%w: %w", errReported, err) // the agent reported account_refused
	}
	return err
}

// summary is one line per simulated account: its balance before the run
// and after the till's collections.
func (t *touchTopUp) summary(cfg *config.Config) []string {
	if t == nil {
		return nil
	}
	var out []string
	for i, c := range simCustomers {
		after, err := t.srv.Balance(simCompany, c.ID)
		if err != nil {
			continue
		}
		out = append(out, fmt.Sprintf("TouchTopUp %s %s %s (account %s): %s before, %s after", c.Title, c.FirstName, c.LastName, c.AccountNumber,
			flow.Money(t.before[i], cfg.Device.Decimals, cfg.Device.Currency), flow.Money(after, cfg.Device.Decimals, cfg.Device.Currency)))
	}
	return out
}
