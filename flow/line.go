package flow

import (
	"errors"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/board"
)

// Valve is what a line needs from its valve.
type Valve interface {
	Open() error
	Close() error
}

// LineConfig holds a line's metering and pour rules.
type LineConfig struct {
	Meter MeterConfig
	// Line refill: volume in the first RefillWindow after flow starts, up to
	// RefillMax, refills the faucet and is not charged.
	RefillWindow time.Duration
	RefillMax    Vol
	// AuthTimeout ends an authorisation nobody pours on.
	AuthTimeout time.Duration
	// IdleTimeout ends a free pour once flow has stopped this long.
	IdleTimeout time.Duration
	// NoFlowTimeout closes a portion whose meter stays silent with the valve open.
	NoFlowTimeout time.Duration
	// MaxDuration is the hard limit on a valve being open.
	MaxDuration time.Duration
	// SettleTime waits after closing for overrun pulses before booking.
	SettleTime time.Duration
	// MinPour: charged volume below it is recorded but not charged.
	MinPour Vol
	// SafetyCap is a per-pour volume clamp that no authorisation can lift.
	SafetyCap Vol
	// Foam: FoamBuckets consecutive 100 ms buckets above FoamRateMilliHz
	// mean the meter is spinning on gas: the keg is empty.
	FoamRateMilliHz int64
	FoamBuckets     int
	// Leak: unattributed volume of LeakAlarm raises the alarm; an episode
	// ends after LeakIdle without edges.
	LeakAlarm Vol
	LeakIdle  time.Duration
	// ValveLatency seeds the learned close latency for predictive shut-off.
	ValveLatency time.Duration
	Predictive   bool
}

// State is a line's pour state.
type State uint8

// Line states.
const (
	Idle     State = iota // valve closed, no pour
	Ready                 // authorised, valve open, no flow yet
	Pouring               // flow seen
	Settling              // valve closed, collecting overrun
)

var stateNames = [...]string{"idle", "ready", "pouring", "settling"}

// String names the state.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", s)
}

// Alarm is a condition raised or cleared by the line.
type Alarm struct {
	Kind   string        `json:"kind"` // leak, keg_empty, no_flow, valve_fault, lost_edges
	Active bool          `json:"active"`
	At     time.Duration `json:"at"`
	Detail string        `json:"detail,omitempty"`
	Count  int64         `json:"count,omitempty"`
}

// ErrBusy is returned when a line cannot take an authorisation now.
var ErrBusy = errors.New("line busy")

type pour struct {
	auth        Auth
	target      Vol
	targetWhy   Reason
	maxDur      time.Duration
	openedAt    time.Duration
	firstFlow   time.Duration
	closedAt    time.Duration
	startPulses int64
	startVol    Vol
	compVol     Vol
	volAtClose  Vol
	rateAtClose Vol
	reason      Reason
	bounced0    int64
	lost0       int64
	foamRun     int
}

type leak struct {
	active   bool
	alarmed  bool
	pulses0  int64
	vol0     Vol
	firstAt  time.Duration
	bounced0 int64
	lost0    int64
}

// Line is one tap line: meter, valve and the pour state machine. It is not
// safe for concurrent use; the owner serialises calls.
type Line struct {
	cfg      LineConfig
	valve    Valve
	meter    *Meter
	state    State
	disabled string
	latency  time.Duration
	p        pour
	lk       leak
	lostSeen int64
	alarms   []Alarm
}

// NewLine builds a line with its valve, which it assumes is closed.
func NewLine(cfg LineConfig, v Valve) *Line {
	l := &Line{cfg: cfg, valve: v, meter: NewMeter(cfg.Meter), latency: cfg.ValveLatency}
	l.resetLeak()
	return l
}

// State returns the pour state.
func (l *Line) State() State { return l.state }

// Meter exposes the line's meter for status reads.
func (l *Line) Meter() *Meter { return l.meter }

// Disabled returns why the line refuses pours, or "".
func (l *Line) Disabled() string { return l.disabled }

// SetDisabled blocks (reason != "") or re-enables ("") authorisations.
func (l *Line) SetDisabled(reason string) { l.disabled = reason }

// Latency is the learned valve close latency.
func (l *Line) Latency() time.Duration { return l.latency }

// Auth returns the running pour's authorisation.
func (l *Line) Auth() Auth { return l.p.auth }

// CloseReason is why the valve was closed, while the pour settles.
func (l *Line) CloseReason() (Reason, bool) {
	if l.state != Settling {
		return "", false
	}
	return l.p.reason, true
}

// Active reports whether a pour is under way (valve open or settling).
func (l *Line) Active() bool { return l.state != Idle }

// CanOpen reports why an authorisation would be refused, or nil.
func (l *Line) CanOpen(a Auth) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if l.state != Idle {
		return fmt.Errorf("%w: %s", ErrBusy, l.state)
	}
	if l.disabled != "" && a.Mode != ModeCleaning && a.Mode != ModeCalibration {
		return fmt.Errorf("line disabled: %s", l.disabled)
	}
	return nil
}

// Open starts a pour and opens the valve. The caller has made the intent
// durable first. Unattributed flow seen before the pour is returned as a
// leak episode for the caller to book, so it is never folded into the pour.
func (l *Line) Open(now time.Duration, a Auth) (*Result, error) {
	if err := l.CanOpen(a); err != nil {
		return nil, err
	}
	leaked := l.TakeLeak(now)
	t, why := a.target()
	maxDur := l.cfg.MaxDuration
	if a.MaxDuration > 0 && (maxDur == 0 || a.MaxDuration < maxDur) {
		maxDur = a.MaxDuration
	}
	l.p = pour{
		auth: a, target: t, targetWhy: why, maxDur: maxDur, openedAt: now,
		startPulses: l.meter.Pulses(), startVol: l.meter.Volume(),
		bounced0: l.meter.Bounced(), lost0: l.meter.Lost(),
	}
	if err := l.valve.Open(); err != nil {
		_ = l.valve.Close()
		l.resetLeak()
		return leaked, fmt.Errorf("open valve: %w", err)
	}
	l.state = Ready
	return leaked, nil
}

// OnEdge processes one meter edge; it may close the valve. It allocates
// nothing and takes no locks: it is the hot path.
func (l *Line) OnEdge(e board.Edge) {
	if !l.meter.Accept(e) {
		return
	}
	switch l.state {
	case Idle:
		l.leakEdge(e.Time)
	case Ready:
		l.state = Pouring
		l.p.firstFlow = e.Time
		l.pourEdge(e.Time)
	case Pouring:
		l.pourEdge(e.Time)
	case Settling:
		// Overrun: counted by the meter, attributed to the pour at finish.
	}
}

func (l *Line) pourEdge(t time.Duration) {
	vol := l.meter.Volume() - l.p.startVol
	// The faucet refills when the customer opens it, so the window runs
	// from the first flow, not from the valve opening.
	if t-l.p.firstFlow < l.cfg.RefillWindow {
		l.p.compVol = min(vol, l.cfg.RefillMax)
	}
	if l.meter.Flushed() && l.cfg.FoamBuckets > 0 {
		if l.meter.RateMilliHz() > l.cfg.FoamRateMilliHz {
			l.p.foamRun++
		} else {
			l.p.foamRun = 0
		}
		if l.p.foamRun >= l.cfg.FoamBuckets {
			l.closeValve(t, ReasonFoam)
			l.disabled = "keg_empty"
			l.raise(Alarm{Kind: "keg_empty", Active: true, At: t, Detail: "foam: pulse rate above ceiling"})
			return
		}
	}
	if l.cfg.SafetyCap > 0 && vol >= l.cfg.SafetyCap {
		l.closeValve(t, ReasonSafetyCap)
		return
	}
	if l.p.target < 0 {
		return
	}
	charged := vol - l.p.compVol
	ahead := Vol(0)
	if l.cfg.Predictive {
		ahead = Vol(int64(l.meter.FlowRate()) * int64(l.latency) / int64(time.Second))
	}
	if charged+ahead >= l.p.target {
		l.closeValve(t, l.p.targetWhy)
	}
}

func (l *Line) closeValve(t time.Duration, why Reason) {
	if err := l.valve.Close(); err != nil {
		l.raise(Alarm{Kind: "valve_fault", Active: true, At: t, Detail: err.Error()})
	}
	l.p.closedAt = t
	l.p.reason = why
	l.p.volAtClose = l.meter.Volume() - l.p.startVol
	l.p.rateAtClose = l.meter.FlowRate()
	l.state = Settling
}

// Stop ends a pour on command. It reports whether a pour was running.
func (l *Line) Stop(now time.Duration, why Reason) bool {
	if l.state != Ready && l.state != Pouring {
		return false
	}
	l.closeValve(now, why)
	return true
}

// Tick applies the timers; it returns a finished pour or leak episode.
func (l *Line) Tick(now time.Duration) *Result {
	l.meter.Idle(now)
	if lost := l.meter.Lost(); lost != l.lostSeen {
		l.raise(Alarm{Kind: "lost_edges", Active: true, At: now, Count: lost - l.lostSeen,
			Detail: "kernel event buffer overflowed"})
		l.lostSeen = lost
	}
	switch l.state {
	case Ready:
		l.tickReady(now)
	case Pouring:
		l.tickPouring(now)
	case Settling:
		last := max(l.p.closedAt, l.meter.LastEdge())
		if now-last >= l.cfg.SettleTime {
			return l.finish(now)
		}
	case Idle:
		if l.lk.active && now-l.meter.LastEdge() >= l.cfg.LeakIdle {
			return l.TakeLeak(now)
		}
	}
	return nil
}

func (l *Line) tickReady(now time.Duration) {
	waited := now - l.p.openedAt
	switch l.p.auth.Mode {
	case ModePortion:
		if l.cfg.NoFlowTimeout > 0 && waited >= l.cfg.NoFlowTimeout {
			l.noFlow(now)
			return
		}
	case ModeFree, ModeCleaning:
		if l.cfg.AuthTimeout > 0 && waited >= l.cfg.AuthTimeout {
			l.closeValve(now, ReasonNoPour)
			return
		}
	}
	l.checkMaxDuration(now)
}

func (l *Line) tickPouring(now time.Duration) {
	quiet := now - l.meter.LastEdge()
	switch l.p.auth.Mode {
	case ModePortion:
		if l.cfg.NoFlowTimeout > 0 && quiet >= l.cfg.NoFlowTimeout {
			l.noFlow(now)
			return
		}
	case ModeFree, ModeCleaning:
		if l.cfg.IdleTimeout > 0 && quiet >= l.cfg.IdleTimeout {
			l.closeValve(now, ReasonIdle)
			return
		}
	}
	l.checkMaxDuration(now)
}

func (l *Line) noFlow(now time.Duration) {
	l.closeValve(now, ReasonNoFlow)
	l.raise(Alarm{Kind: "no_flow", Active: true, At: now, Detail: "valve open, meter silent"})
}

func (l *Line) checkMaxDuration(now time.Duration) {
	if l.p.maxDur > 0 && now-l.p.openedAt >= l.p.maxDur {
		l.closeValve(now, ReasonMaxDuration)
	}
}

// Progress reports the running pour; ok is false when no pour is active.
func (l *Line) Progress() (p Progress, ok bool) {
	if l.state == Idle {
		return Progress{}, false
	}
	vol := l.meter.Volume() - l.p.startVol
	charged := max(vol-l.p.compVol, 0)
	return Progress{
		Pulses: l.meter.Pulses() - l.p.startPulses, Volume: vol, Compensated: l.p.compVol,
		Charged: charged, Amount: amount(l.p.auth, charged, false),
	}, true
}

// Abort ends the pour at once, closing the valve if needed, without waiting
// for overrun: for shutdown and faults.
func (l *Line) Abort(now time.Duration, why Reason) *Result {
	switch l.state {
	case Idle:
		return l.TakeLeak(now)
	case Ready, Pouring:
		l.closeValve(now, why)
	}
	return l.finish(now)
}

func (l *Line) finish(now time.Duration) *Result {
	p := &l.p
	vol := l.meter.Volume() - p.startVol
	charged := max(vol-p.compVol, 0)
	complete := p.reason == p.targetWhy && p.target >= 0
	r := &Result{
		Auth: p.auth, Reason: p.reason, OpenedAt: p.openedAt, FirstFlow: p.firstFlow,
		ClosedAt: p.closedAt, EndedAt: now, Pulses: l.meter.Pulses() - p.startPulses,
		KMilli: l.meter.KMilli(), Volume: vol, Compensated: p.compVol, Charged: charged,
		Overrun: max(vol-p.volAtClose, 0), Complete: complete,
		Bounced: l.meter.Bounced() - p.bounced0, Lost: l.meter.Lost() - p.lost0,
	}
	r.Amount = amount(p.auth, charged, complete)
	if p.auth.Mode == ModeFree && charged < l.cfg.MinPour {
		r.BelowMin, r.Amount = true, 0
	}
	if complete && p.rateAtClose > 0 {
		l.learnLatency(r.Overrun, p.rateAtClose)
	}
	l.state = Idle
	l.p = pour{}
	l.resetLeak()
	return r
}

// learnLatency folds one observed overrun into the close latency estimate.
func (l *Line) learnLatency(overrun, rate Vol) {
	obs := time.Duration(int64(overrun) * int64(time.Second) / int64(rate))
	obs = min(obs, 500*time.Millisecond)
	l.latency += (obs - l.latency) / 4
}

func (l *Line) leakEdge(t time.Duration) {
	if !l.lk.active {
		l.lk.active = true
		l.lk.firstAt = t
	}
	if !l.lk.alarmed && l.cfg.LeakAlarm > 0 && l.meter.Volume()-l.lk.vol0 >= l.cfg.LeakAlarm {
		l.lk.alarmed = true
		l.raise(Alarm{Kind: "leak", Active: true, At: t, Detail: "flow with the valve closed"})
	}
}

// TakeLeak books the current unattributed-flow episode, if any.
func (l *Line) TakeLeak(now time.Duration) *Result {
	if l.state != Idle || !l.lk.active {
		return nil
	}
	r := &Result{
		Unattributed: true, Reason: ReasonLeak, OpenedAt: l.lk.firstAt, FirstFlow: l.lk.firstAt,
		ClosedAt: l.lk.firstAt, EndedAt: now, Pulses: l.meter.Pulses() - l.lk.pulses0,
		KMilli: l.meter.KMilli(), Volume: l.meter.Volume() - l.lk.vol0,
		Bounced: l.meter.Bounced() - l.lk.bounced0, Lost: l.meter.Lost() - l.lk.lost0,
	}
	if l.lk.alarmed {
		l.raise(Alarm{Kind: "leak", Active: false, At: now, Detail: fmt.Sprintf("leak stopped after %s", r.Volume)})
	}
	l.resetLeak()
	return r
}

func (l *Line) resetLeak() {
	l.lk = leak{pulses0: l.meter.Pulses(), vol0: l.meter.Volume(), bounced0: l.meter.Bounced(), lost0: l.meter.Lost()}
}

func (l *Line) raise(a Alarm) { l.alarms = append(l.alarms, a) }

// TakeAlarms returns and clears the alarms raised since the last call.
func (l *Line) TakeAlarms() []Alarm {
	a := l.alarms
	l.alarms = nil
	return a
}

// SetKMilli changes the K-factor; only while idle, so no pour straddles two factors.
func (l *Line) SetKMilli(k int64) error {
	if l.state != Idle {
		return fmt.Errorf("%w: cannot change K-factor while %s", ErrBusy, l.state)
	}
	l.meter.SetKMilli(k)
	l.resetLeak()
	return nil
}
