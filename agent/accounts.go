package agent

import (
	"context"
	"strconv"

	"github.com/tapagent/tapagent/agent/accountpay"
	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
)

// startAccounts lets TouchTopUp accounts pay at the tap ([touchtopup]):
// link keys are checked, then mapped cards pour from their accounts.
func (a *Agent) startAccounts(ctx context.Context) error {
	r := &a.run
	var debits accountpay.Debits
	if r.register != nil {
		debits = r.register
	}
	p, err := accountpay.New(accountpay.Options{Config: a.cfg.TouchTopUp, Agent: r.dev, Store: r.store, Debits: debits,
		MinPour: a.minPour, Now: a.clk.Now, Log: a.log, Hash: func(card int64) string { return r.dev.CardHash(strconv.FormatInt(card, 10)) },
		Money: func(m int64) string { return flow.Money(m, a.cfg.Device.Decimals, a.cfg.Device.Currency) }})
	if err != nil {
		return err
	}
	p.Start(ctx)
	r.accounts = p
	a.set(PartAccounts, StateRunning)
	return nil
}

// minPour is a line's minimum pour, below which nothing is charged.
func (a *Agent) minPour(line int) flow.Vol {
	lc, _ := a.cfg.Line(line)
	return lc.FlowConfig().MinPour
}

// Accounts is the TouchTopUp payer; nil without [touchtopup].
func (a *Agent) Accounts() *accountpay.Payer { return a.run.accounts }

// cardAgent is the wall as the card tap sees it: with TouchTopUp, an
// online card mapped to an account pours from the account.
func (a *Agent) cardAgent() cardpay.Agent {
	if a.run.accounts == nil {
		return a.run.dev
	}
	return accountCards{a.run.dev, a.run.accounts}
}

// CardTap serves an online card presented at a line as the card reader
// does: a card mapped to a TouchTopUp account pours from the account, any
// other is looked up on the TTG server.
func (a *Agent) CardTap(ctx context.Context, line int, card int64) (string, error) {
	return a.cardAgent().CardTap(ctx, line, card)
}

type accountCards struct {
	*device.Agent
	p *accountpay.Payer
}

func (c accountCards) CardTap(ctx context.Context, line int, card int64) (string, error) {
	return c.p.CardTap(ctx, line, card, c.Agent.CardTap)
}
