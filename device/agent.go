// Package device is the agent: it wires meters, valves and storage into tap
// lines, makes every pour durable before acting on it, recovers after a
// crash, and reports what happens as events.
package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// Options are the parts an Agent is built from.
type Options struct {
	Config *config.Config
	Clock  clock.Clock
	Store  *storage.Store
	// Valves and Meters by line id; every configured line needs both.
	Valves map[int]board.Valve
	Meters map[int]board.PulseSource
	Log    *slog.Logger
	// Emit receives every event; it must not block.
	Emit func(Event)
	// ClockSynced reports whether wall time is trustworthy (NTP synced).
	ClockSynced func() bool
	// Catalog prices free pours from the server's products and happy hours;
	// nil uses the configured line prices.
	Catalog Catalog
	// Cards looks up online cards; nil refuses them.
	Cards OnlineCards
	// OnBooked is called after each booking commits (to wake an uplink).
	OnBooked func()
	// Settle adds work committed with each booking of a pour, e.g. the
	// cash register's debit for a waiter's pour.
	Settle func(storage.Record) []storage.Change
	// Register holds waiters' credits from a cash register; nil refuses waiters.
	Register CashRegister
	// Restart asks whoever runs the agent to restart it (remote control).
	Restart func() error
	// Hours closes lines outside opening hours; nil: always open.
	Hours Hours
}

// Agent runs the tap lines.
type Agent struct {
	cfg    *config.Config
	clk    clock.Clock
	store  *storage.Store
	log    *slog.Logger
	emit   func(Event)
	synced func() bool
	meters map[int]board.PulseSource
	lines  []*line // index = line id; nil where no line
	order  []*line
	boot   uint64
	localN atomic.Uint64 // numbers records that have no intent (leaks, card releases, card purchases)
	closed atomic.Bool
	// lastTick is the clock's Mono at the last Tick, for the watchdog.
	lastTick atomic.Int64
	// draining refuses new pours while an update waits for the running ones.
	draining atomic.Bool

	catalog  Catalog
	cards    OnlineCards
	onBooked func()
	settle   func(storage.Record) []storage.Change
	register CashRegister
	rc       remote
	restart  func() error
	salt     []byte
	hours    Hours
	// hoursAt is the wall second the opening hours were last evaluated
	// at.
	hoursAt atomic.Int64
}

// New builds the agent and closes every valve before anything else.
func New(o Options) (*Agent, error) {
	if o.Config == nil || o.Clock == nil || o.Store == nil {
		return nil, errors.New("device: config, clock and store are required")
	}
	a := &Agent{cfg: o.Config, clk: o.Clock, store: o.Store, log: o.Log, emit: o.Emit,
		synced: o.ClockSynced, meters: o.Meters, catalog: o.Catalog, cards: o.Cards, onBooked: o.OnBooked, settle: o.Settle, register: o.Register, restart: o.Restart, hours: o.Hours}
	if a.onBooked == nil {
		a.onBooked = func() {}
	}
	a.rc = remote{pending: map[string]pendingLogin{}, backlight: 100}
	if a.settle == nil {
		a.settle = func(storage.Record) []storage.Change { return nil }
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.emit == nil {
		a.emit = func(Event) {}
	}
	if a.synced == nil {
		a.synced = func() bool { return true }
	}
	maxID := 0
	for _, lc := range o.Config.Lines {
		maxID = max(maxID, lc.ID)
	}
	a.lines = make([]*line, maxID+1)
	for _, lc := range o.Config.Lines {
		v, ok := o.Valves[lc.ID]
		if !ok {
			return nil, fmt.Errorf("device: line %d has no valve", lc.ID)
		}
		if _, ok := o.Meters[lc.ID]; !ok {
			return nil, fmt.Errorf("device: line %d has no meter", lc.ID)
		}
		// Fail closed: whatever state the hardware was left in, close first.
		if err := v.Close(); err != nil {
			a.log.Error("closing valve at start", "line", lc.ID, "err", err)
		}
		l := &line{id: lc.ID, cfg: lc, valve: v, fl: flow.NewLine(lc.FlowConfig(), v)}
		l.prod.Store(&product{name: lc.Product, plu: lc.PLU})
		a.lines[lc.ID] = l
		a.order = append(a.order, l)
	}
	return a, nil
}

// Start recovers interrupted pours, loads kegs and calibrations and starts
// the meters. Call it once, before Tick or HandleEdge.
func (a *Agent) Start() error {
	if moved := a.store.MovedAside(); moved != "" {
		a.event(Event{Type: EventStorageCorruptMoved, Detail: "corrupt database moved to " + moved + "; " + a.store.Salvage().String()})
	}
	boot, err := a.store.NextBoot()
	if err != nil {
		return fmt.Errorf("device: boot counter: %w", err)
	}
	if a.salt, err = a.store.Salt(); err != nil {
		return fmt.Errorf("device: salt: %w", err)
	}
	a.boot = boot
	if err := a.recover(); err != nil {
		return err
	}
	if err := a.loadLineState(); err != nil {
		return err
	}
	for _, l := range a.order {
		if err := a.meters[l.id].Start(a.HandleEdge); err != nil {
			return fmt.Errorf("device: %w", err)
		}
	}
	a.event(Event{Type: EventAgentStarted, Detail: fmt.Sprintf("boot %d, %d lines", boot, len(a.order))})
	return nil
}

// recover books every pour that was open when the agent died, with exactly
// the volume its last checkpoint proves. Valves are already closed.
func (a *Agent) recover() error {
	intents, err := a.store.Intents()
	if err != nil {
		return fmt.Errorf("device: reading intents: %w", err)
	}
	kegs, err := a.store.Kegs()
	if err != nil {
		return fmt.Errorf("device: reading kegs: %w", err)
	}
	for _, in := range intents {
		p := in.Progress
		end := in.CheckpointAt
		if end == 0 {
			end = in.OpenedAt
		}
		rec := storage.Record{
			ID: in.PourID, Kind: kindOf(in.Auth.Mode, false), Line: in.Line, Product: in.Product, PLU: in.PLU,
			StartedAt: in.OpenedAt, EndedAt: end, ClockSynced: in.ClockSynced, Recovered: true, Ref: in.Ref,
			Pour: flow.Result{Auth: in.Auth, Reason: flow.ReasonCrash, Pulses: p.Pulses, KMilli: in.KMilli,
				Volume: p.Volume, Compensated: p.Compensated, Charged: p.Charged, Amount: in.Auth.RecoveredAmount(p.Amount)},
		}
		b := storage.Booking{Record: rec, Also: a.withHistory(rec)}
		if k, ok := kegs[in.Line]; ok {
			k.Draw(p.Volume)
			kegs[in.Line] = k
			b.Keg = &k
		}
		seq, err := a.store.Book(b)
		if err != nil && !errors.Is(err, storage.ErrDuplicate) {
			return fmt.Errorf("device: booking recovered pour %s: %w", in.PourID, err)
		}
		a.event(Event{Type: EventPourRecovered, Line: in.Line, PourID: in.PourID, Reason: string(flow.ReasonCrash),
			Volume: p.Volume, Charged: p.Charged, Amount: rec.Pour.Amount, Pulses: p.Pulses, Seq: seq, Recovered: true})
	}
	return nil
}

func (a *Agent) loadLineState() error {
	kegs, err := a.store.Kegs()
	if err != nil {
		return fmt.Errorf("device: reading kegs: %w", err)
	}
	cals, err := a.store.Calibrations()
	if err != nil {
		return fmt.Errorf("device: reading calibrations: %w", err)
	}
	locked, err := a.lockedLines()
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	for _, l := range a.order {
		k, ok := kegs[l.id]
		if !ok {
			k = flow.NewKeg("", l.cfg.KegSize(), l.cfg.KegLowPercent, a.clk.Now())
			if err := a.store.PutKeg(l.id, k); err != nil {
				return fmt.Errorf("device: line %d keg: %w", l.id, err)
			}
		}
		// Under the line's lock: the diagnostics link starts before the
		// wall (to publish its start-up events) and may already read it.
		l.mu.Lock()
		err := a.setLineState(l, cals, k, locked[l.id])
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// setLineState applies a line's stored calibration, keg (with the product
// a keg change put on it) and lock.
func (a *Agent) setLineState(l *line, cals map[int]storage.Calibration, k flow.Keg, locked bool) error {
	if c, ok := cals[l.id]; ok {
		if err := l.fl.SetKMilli(c.KMilli); err != nil {
			return fmt.Errorf("device: line %d: %w", l.id, err)
		}
	}
	l.keg = k
	l.locked = locked
	if k.PLU != 0 {
		l.prod.Store(&product{name: k.Product, plu: k.PLU})
	}
	if k.Kicked {
		l.fl.SetDisabled("keg_empty")
	}
	return nil
}

// HandleEdge feeds one meter edge to its line. It is the hot path: a map-free
// lookup, one uncontended lock, and the valve call when a cap is reached.
func (a *Agent) HandleEdge(e board.Edge) {
	if e.Line <= 0 || e.Line >= len(a.lines) {
		return
	}
	l := a.lines[e.Line]
	if l == nil {
		return
	}
	l.mu.Lock()
	l.fl.OnEdge(e)
	l.mu.Unlock()
}

// wall converts a monotonic reading to wall time in epoch ms.
func (a *Agent) wall(mono time.Duration) int64 {
	return a.clk.Now().Add(mono - a.clk.Mono()).UnixMilli()
}

// Report records an event from another part of the agent (an uplink, a
// payment device) in the same stream and durable log as the agent's own.
func (a *Agent) Report(ev Event) { a.event(ev) }

func (a *Agent) event(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = a.clk.Now().UTC()
	}
	a.emit(ev)
	if ev.Type == EventPourCheckpoint {
		return // the intent on disk is the durable form; the log would drown in them
	}
	if b, err := json.Marshal(ev); err == nil {
		a.store.AppendEvent(b, func(err error) {
			if err != nil {
				a.log.Warn("event log write failed", "type", ev.Type, "err", err)
			}
		})
	}
}

func kindOf(m flow.Mode, unattributed bool) string {
	switch {
	case unattributed:
		return storage.KindUnattributed
	case m == flow.ModeCleaning:
		return storage.KindCleaning
	case m == flow.ModeCalibration:
		return storage.KindCalibration
	}
	return storage.KindPour
}

func (a *Agent) line(id int) (*line, error) {
	if id <= 0 || id >= len(a.lines) || a.lines[id] == nil {
		return nil, fmt.Errorf("%w: %d", ErrNoLine, id)
	}
	return a.lines[id], nil
}

// Lines lists the configured line ids in order.
func (a *Agent) Lines() []int {
	ids := make([]int, 0, len(a.order))
	for _, l := range a.order {
		ids = append(ids, l.id)
	}
	return ids
}
