// Package accountpay lets TouchTopUp customer accounts pay at the tap. A
// card (or an account number) mapped to an account in [touchtopup] is
// authorised by TouchTopUp instead of the TTG server: its balance, less
// what this agent has poured on the account that the till has not
// collected yet (open pours and uncollected debits), caps the pour's
// money. When the pour is booked, a Dirmeier debit with the account's
// CustomerID (and CompanyID) is issued in the same bbolt commit as the
// pour record (Settle), and the till collects it on the cash-register
// interface and books it on the account, as TouchTopUp's POS integration
// does: the API has no debit call. While TouchTopUp cannot be reached an
// account pours within the day's offline allowance, durably counted, or
// not at all.
package accountpay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/touchtopup"
	"github.com/tapagent/tapagent/ttg"
)

// Agent is what the payer needs of the wall.
type Agent interface {
	Authorise(line int, r device.Request) (string, error)
	PortionPrice(line int, vol flow.Vol) (int64, error)
	Report(ev device.Event)
}

// Debits lists the debits waiting for the till (cashregister.Register).
type Debits interface {
	Debits() ([]cashregister.Debit, error)
}

// Options configure a payer.
type Options struct {
	Config config.TouchTopUp
	// Client calls TouchTopUp; nil builds one from Config.
	Client *touchtopup.Client
	Agent  Agent
	Store  *storage.Store
	Debits Debits
	// MinPour is a line's minimum pour: an account that cannot pay for it
	// is refused.
	MinPour func(line int) flow.Vol
	Now     func() time.Time
	Log     *slog.Logger
	// Hash names a card in events without its number.
	Hash func(card int64) string
	// Money writes an amount (minor units) for people, with its currency.
	Money func(minor int64) string
}

// Key is what is presented at the tap: a card's number, or an account number.
type Key struct {
	Card    int64
	Account string
}

func (k Key) String() string {
	if k.Card != 0 {
		return "card " + strconv.FormatInt(k.Card, 10)
	}
	return "account " + k.Account
}

// Account is a TouchTopUp account: company id and customer id.
type Account struct{ Company, Customer int64 }

// String is the account as storage.Ref.Account keeps it.
func (a Account) String() string { return fmt.Sprintf("%d/%d", a.Company, a.Customer) }

// ParseAccount reads "company/customer".
func ParseAccount(s string) (Account, bool) {
	var a Account
	if n, err := fmt.Sscanf(s, "%d/%d", &a.Company, &a.Customer); err != nil || n != 2 || a.Company <= 0 || a.Customer <= 0 || a.String() != s {
		return Account{}, false
	}
	return a, true
}

// ErrRefused wraps every reason an account may not pour.
var ErrRefused = errors.New("account refused")

// Payer authorises pours paid from TouchTopUp accounts.
type Payer struct {
	o    Options
	c    *touchtopup.Client
	zone *time.Location

	mu      sync.Mutex
	entries []*entry
	locks   map[Account]*sync.Mutex
	cache   map[Account]cached
	names   map[Account]string
}

// entry is one configured mapping; a link key's account is known once
// TouchTopUp has said the key is valid.
type entry struct {
	key     Key
	acct    Account
	linkKey string
	valid   bool
	invalid string // TouchTopUp's refusal of the link key
}

// cached is a balance read, with the debits that were uncollected then: a
// debit collected since (the till booked it on the account) makes the
// balance stale, whatever its age.
type cached struct {
	bal touchtopup.Balance
	at  time.Time
	owed
}

// owed is the account's uncollected debits (ids) and the count of debits
// ever issued for it, read together.
type owed struct {
	ids    map[int64]bool
	issued int64
}

// since says whether nothing of then was collected by now: every debit
// uncollected then still is, and so is every debit issued since.
func (then owed) since(now owed) bool {
	for id := range then.ids {
		if !now.ids[id] {
			return false
		}
	}
	return int64(len(now.ids)-len(then.ids)) == now.issued-then.issued
}

// New builds a payer from the configured accounts; nothing is sent yet.
func New(o Options) (*Payer, error) {
	zone, err := o.Config.Location()
	if err != nil {
		return nil, fmt.Errorf("touchtopup.zone: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Hash == nil {
		o.Hash = func(int64) string { return "" }
	}
	if o.Money == nil {
		o.Money = func(m int64) string { return strconv.FormatInt(m, 10) }
	}
	if o.MinPour == nil {
		o.MinPour = func(int) flow.Vol { return 0 }
	}
	c := o.Client
	if c == nil {
		c = touchtopup.NewClient(touchtopup.Config{BaseURL: o.Config.URL, APIKey: o.Config.APIKey, KeyHeader: o.Config.KeyHeader,
			Zone: zone, Timeout: o.Config.Timeout.Duration})
	}
	p := &Payer{o: o, c: c, zone: zone, locks: map[Account]*sync.Mutex{}, cache: map[Account]cached{}, names: map[Account]string{}}
	for _, a := range o.Config.Accounts {
		e := &entry{key: Key{Card: a.Card, Account: a.Account}, acct: Account{a.CompanyID, a.CustomerID}, linkKey: a.LinkKey, valid: a.LinkKey == ""}
		if a.LinkKey != "" {
			co, cu, err := touchtopup.ParseLinkKey(a.LinkKey)
			if err != nil {
				return nil, fmt.Errorf("touchtopup.account %s: %w", e.key, err)
			}
			e.acct = Account{co, cu}
		}
		p.entries = append(p.entries, e)
	}
	return p, nil
}

// Start resolves the link keys with validate_accountkey, all within the
// configured timeout; a key TouchTopUp cannot check now is checked again
// at its first tap. It also forgets offline allowances of earlier days.
func (p *Payer) Start(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(p.o.Config.Timeout.Duration, time.Second))
	defer cancel()
	for _, e := range p.entries {
		if e.linkKey != "" {
			p.validate(ctx, e)
		}
	}
	if err := pruneOffline(p.o.Store, p.today()); err != nil {
		p.o.Log.Warn("touchtopup: pruning old offline allowances", "err", err)
	}
}

// validate checks an entry's link key; it reports whether the key may
// pour, and TouchTopUp's refusal of it.
func (p *Payer) validate(ctx context.Context, e *entry) (bool, string) {
	p.mu.Lock()
	valid, invalid := e.valid, e.invalid
	p.mu.Unlock()
	if valid || invalid != "" {
		return valid, invalid
	}
	err := p.c.ValidateKey(ctx, e.linkKey)
	p.mu.Lock()
	defer p.mu.Unlock()
	var rf *touchtopup.Refusal
	switch {
	case err == nil:
		e.valid = true
	case errors.As(err, &rf):
		e.invalid = rf.Msg
		p.o.Log.Warn("touchtopup: link key refused", "account", e.key.String(), "msg", rf.Msg)
	default:
		p.o.Log.Warn("touchtopup: link key not checked yet", "account", e.key.String(), "err", err)
	}
	return e.valid, e.invalid
}

// Maps says whether card is mapped to an account.
func (p *Payer) Maps(card int64) bool {
	_, ok := p.lookup(Key{Card: card})
	return ok
}

func (p *Payer) lookup(k Key) (*entry, bool) {
	for _, e := range p.entries {
		if (k.Card != 0 && e.key.Card == k.Card) || (k.Account != "" && e.key.Account == k.Account) {
			return e, true
		}
	}
	return nil, false
}

// CardTap routes a card presented at a line: a mapped card pours from its
// TouchTopUp account, any other goes to next (the wall's online cards).
func (p *Payer) CardTap(ctx context.Context, line int, card int64, next func(context.Context, int, int64) (string, error)) (string, error) {
	if !p.Maps(card) {
		return next(ctx, line, card)
	}
	return p.Tap(ctx, line, Key{Card: card})
}

// Tap authorises a pour on line paid from k's account: capped at what the
// account may spend now, refused (with an account_refused event) when it
// may spend less than the line's minimum pour.
func (p *Payer) Tap(ctx context.Context, line int, k Key) (string, error) {
	e, ok := p.lookup(k)
	if !ok {
		return "", p.refuse(line, k, 0, "no TouchTopUp account is configured for this "+kind(k))
	}
	if e.linkKey != "" {
		if ok, invalid := p.validate(ctx, e); !ok {
			why := "its link key could not be checked: TouchTopUp unreachable"
			if invalid != "" {
				why = "link key refused: " + invalid
			}
			return "", p.refuse(line, k, 0, why)
		}
	}
	l := p.lock(e.acct)
	l.Lock()
	defer l.Unlock()
	q, err := p.quote(ctx, e.acct)
	if err != nil {
		return "", p.refuse(line, k, 0, err.Error())
	}
	least, err := p.o.Agent.PortionPrice(line, max(p.o.MinPour(line), 1))
	if err != nil {
		return "", p.refuse(line, k, q.avail, err.Error())
	}
	if q.avail < max(least, 1) {
		return "", p.refuse(line, k, q.avail, fmt.Sprintf("%s may spend %s, less than the line's minimum pour (%s)", q.name, p.o.Money(q.avail), p.o.Money(least)))
	}
	ref := storage.Ref{CardType: strconv.Itoa(ttg.CardBillPOS), CardName: q.name, Account: e.acct.String()}
	if k.Card != 0 {
		ref.CardID = strconv.FormatInt(k.Card, 10)
	}
	if q.offline {
		ref.AccountOffline = p.today()
	}
	detail := q.name
	if q.offline {
		detail += " (TouchTopUp unreachable: offline allowance)"
	}
	p.o.Agent.Report(device.Event{Type: device.EventAccountReady, Line: line, Card: p.hash(k), Amount: q.avail, Detail: detail})
	id, err := p.o.Agent.Authorise(line, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapMoney: q.avail}, Ref: ref})
	if err != nil {
		return "", p.refuse(line, k, q.avail, err.Error())
	}
	return id, nil
}

func kind(k Key) string {
	if k.Card != 0 {
		return "card"
	}
	return "account number"
}

func (p *Payer) hash(k Key) string {
	if k.Card != 0 {
		return p.o.Hash(k.Card)
	}
	return ""
}

func (p *Payer) refuse(line int, k Key, avail int64, why string) error {
	p.o.Agent.Report(device.Event{Type: device.EventAccountRefused, Line: line, Card: p.hash(k), Amount: avail, Detail: why})
	return fmt.Errorf("%w: %s", ErrRefused, why)
}

// lock is the account's own lock: from reading what it may spend until
// its pour's intent is on disk, so that two quick taps cannot both spend
// the same balance.
func (p *Payer) lock(a Account) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.locks[a]
	if !ok {
		l = &sync.Mutex{}
		p.locks[a] = l
	}
	return l
}

// quote is what an account may spend now.
type quote struct {
	avail   int64
	name    string
	offline bool
}

// quote reads, in this order, the account's open pours (intents), its
// uncollected debits and its balance: a booking or a collection between
// two reads counts a pour twice, never not at all.
func (p *Payer) quote(ctx context.Context, a Account) (quote, error) {
	open, openOffline, err := p.openPours(a)
	if err != nil {
		return quote{}, err
	}
	due, debits, err := p.uncollected(a)
	if err != nil {
		return quote{}, err
	}
	bal, err := p.balance(ctx, a, debits)
	name := p.name(ctx, a, err)
	var rf *touchtopup.Refusal
	switch {
	case err == nil:
		return quote{avail: sub(bal.Amount, open, due), name: name}, nil
	case errors.As(err, &rf):
		return quote{}, fmt.Errorf("TouchTopUp: %s", rf.Msg)
	case !touchtopup.Offline(err):
		return quote{}, err
	case p.o.Config.OfflineAllowance <= 0:
		return quote{}, errors.New("TouchTopUp unreachable")
	}
	used, err := offlineUsed(p.o.Store, a, p.today())
	if err != nil {
		return quote{}, err
	}
	left := sub(p.o.Config.OfflineAllowance, used, openOffline)
	if left <= 0 {
		return quote{}, errors.New("TouchTopUp unreachable and today's offline allowance is used up")
	}
	return quote{avail: left, name: name, offline: true}, nil
}

// sub is a − b − c, saturating instead of wrapping.
func sub(a, b, c int64) int64 {
	for _, x := range []int64{b, c} {
		if x > 0 && a < math.MinInt64+x {
			return math.MinInt64
		}
		a -= x
	}
	return a
}

// add sums non-negative amounts, saturating at a quarter of the int64
// range (so that sub never meets a wrapped sum).
func add(a, b int64) int64 { return min(a+b, math.MaxInt64/4) }

// openPours sums the money caps of the account's pours under way: what
// they may still cost (open is all of them, offline those poured on the
// offline allowance).
func (p *Payer) openPours(a Account) (open, offline int64, err error) {
	ins, err := p.o.Store.Intents()
	if err != nil {
		return 0, 0, fmt.Errorf("open pours: %w", err)
	}
	for _, in := range ins {
		if in.Ref.Account != a.String() {
			continue
		}
		c := min(max(in.Auth.CapMoney, 0), touchtopup.MaxBalance)
		open = add(open, c)
		if in.Ref.AccountOffline != "" {
			offline = add(offline, c)
		}
	}
	return open, offline, nil
}

// uncollected sums the account's debits the till has not collected.
func (p *Payer) uncollected(a Account) (int64, owed, error) {
	if p.o.Debits == nil {
		return 0, owed{}, errors.New("no cash-register interface: the till cannot collect the account's debits")
	}
	n, err := issued(p.o.Store, a)
	if err != nil {
		return 0, owed{}, fmt.Errorf("debits issued: %w", err)
	}
	ds, err := p.o.Debits.Debits()
	if err != nil {
		return 0, owed{}, fmt.Errorf("uncollected debits: %w", err)
	}
	sum, ids := int64(0), map[int64]bool{}
	for _, d := range ds {
		if int64(d.CompanyID) == a.Company && int64(d.CustomerID) == a.Customer {
			sum = add(sum, min(max(int64(d.Amount), 0), touchtopup.MaxBalance))
			ids[int64(d.ID)] = true
		}
	}
	return sum, owed{ids: ids, issued: n}, nil
}

// balance is the account's balance: the cached read while it is younger
// than balance_max_age and no debit of it was collected since, else a
// fresh one.
func (p *Payer) balance(ctx context.Context, a Account, debits owed) (touchtopup.Balance, error) {
	now := p.o.Now()
	p.mu.Lock()
	c, ok := p.cache[a]
	p.mu.Unlock()
	if ok && now.Sub(c.at) < p.o.Config.BalanceMaxAge.Duration && now.Sub(c.at) >= 0 && c.since(debits) {
		return c.bal, nil
	}
	bal, err := p.c.Balance(ctx, a.Company, a.Customer)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		delete(p.cache, a)
		return touchtopup.Balance{}, err
	}
	p.cache[a] = cached{bal: bal, at: now, owed: debits}
	return bal, nil
}

// name is the customer's name for the display, read once; an account
// TouchTopUp cannot name now is shown by its ids.
func (p *Payer) name(ctx context.Context, a Account, balErr error) string {
	p.mu.Lock()
	n, ok := p.names[a]
	p.mu.Unlock()
	if ok {
		return n
	}
	fallback := "TouchTopUp account " + a.String()
	if balErr != nil {
		return fallback
	}
	cu, err := p.c.Customer(ctx, a.Company, a.Customer)
	if err != nil || cu.Name() == "" {
		return fallback
	}
	p.mu.Lock()
	p.names[a] = cu.Name()
	p.mu.Unlock()
	return cu.Name()
}

// today is the offline allowance's day, in the companies' zone.
func (p *Payer) today() string { return p.o.Now().In(p.zone).Format(time.DateOnly) }
