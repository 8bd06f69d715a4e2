package sim

import (
	"errors"
	"time"

	"github.com/tapagent/tapagent/board"
)

// Meter returns the line's flow meter as a pulse source.
func (l *Line) Meter() board.PulseSource { return meterSource{l} }

// Valve returns the line's valve.
func (l *Line) Valve() board.Valve { return valve{l} }

type meterSource struct{ l *Line }

func (m meterSource) Start(h func(board.Edge)) error {
	if !m.l.handler.CompareAndSwap(nil, &h) {
		return errors.New("sim meter: already started")
	}
	return nil
}

func (m meterSource) Close() error {
	m.l.handler.Store(nil)
	return nil
}

type valve struct{ l *Line }

func (v valve) Open() error {
	l := v.l
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if !l.valveCmd {
		now := l.b.instant()
		if now-l.closedAt >= 2*time.Second {
			l.airPending = l.spec.RefillML
		}
		l.valveCmd, l.openedAt = true, now
		l.valveEvery++
	}
	return nil
}

func (v valve) Close() error {
	l := v.l
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if l.valveCmd {
		l.valveCmd, l.closedAt = false, l.b.instant()
		l.valveEvery++
	}
	return nil
}

// Pour has the customer pull the handle with a flow profile; beer flows
// while the valve is open too. The profile's last point holds until
// ReleaseHandle, unless it is zero.
func (l *Line) Pour(profile []Point) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	l.profile = append([]Point(nil), profile...)
	l.pourStart = l.b.instant()
	l.pouring = true
}

// ReleaseHandle stops the customer's pour.
func (l *Line) ReleaseHandle() {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	l.pouring = false
}

// Leak starts flow through the meter with the valve closed, for d (0: until stopped).
func (l *Line) Leak(mls float64, d time.Duration) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	l.leakMLs = mls
	l.leakUntil = 0
	if d > 0 {
		l.leakUntil = l.b.instant() + d
	}
}

// SetKeg puts ml of beer in the keg (a fresh keg, or nearly empty to force a kick).
func (l *Line) SetKeg(ml float64) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	l.kegML = ml
}

// SetMeterStuck jams (true) or frees the meter: a jammed meter gives no
// pulses while beer still flows.
func (l *Line) SetMeterStuck(stuck bool) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	l.stuck = stuck
}

// SetDebounce changes the emulated kernel debounce.
func (l *Line) SetDebounce(d time.Duration) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	l.spec.Debounce = d
}

// Truth is what really happened on a line, for tests and the bench view.
type Truth struct {
	DispensedML float64 // through the valve into glasses
	LeakedML    float64 // through the meter with the valve closed
	KegML       float64
	ValveOpen   bool // commanded state
	ValveCmds   int64
	Seq         uint32 // edges the kernel saw
}

// Truth returns the line's physical state.
func (l *Line) Truth() Truth {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	return Truth{DispensedML: l.dispensedML, LeakedML: l.leakedML, KegML: l.kegML,
		ValveOpen: l.valveCmd, ValveCmds: l.valveEvery, Seq: l.seq}
}
