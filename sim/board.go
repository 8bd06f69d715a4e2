// Package sim is the software tap wall: flow meters, valves, kegs and leaks
// modelled with their timing, behind the same interfaces as the real board.
// Time is virtual: the owner advances it, so a test can pour a keg in
// milliseconds and a bench run can follow the wall clock.
package sim

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
)

// step is the model's integration step. Edge times inside a step are
// interpolated exactly; only valve commands and flow changes are quantised.
const step = time.Millisecond

// LineSpec is the physics of one simulated line.
type LineSpec struct {
	// KTrue is the meter's real pulses per litre, which calibration finds.
	KTrue float64
	// Jitter is the relative standard deviation of the flow, redrawn every 50 ms.
	Jitter float64
	// BounceProb is the chance that an edge bounces; bounces follow within BounceMax.
	BounceProb float64
	BounceMax  time.Duration
	// Debounce emulates the kernel's debounce filter on the input line.
	Debounce time.Duration
	// LossProb drops delivered edges as a full kernel buffer does (sequence gaps).
	LossProb float64
	// AirBurstsPerMin are short bursts where gas in the line spins the meter fast.
	AirBurstsPerMin float64
	// OpenLatency and CloseLatency are the valve's mechanical delays.
	OpenLatency  time.Duration
	CloseLatency time.Duration
	// RefillML of air is driven through the meter when flow starts after the
	// line has stood closed for two seconds: the faucet refilling. It spins
	// the meter without pouring beer; the agent's refill compensation exists
	// for exactly this.
	RefillML float64
	// KegML is the beer in the keg; the last SputterML come out as foam.
	KegML     float64
	SputterML float64
	// Seed makes the run repeatable.
	Seed uint64
}

// Point is one point of a flow profile: flow in mL/s at T after the start.
type Point struct {
	T   time.Duration
	MLs float64
}

// Board is a simulated tap wall.
type Board struct {
	clk   *clock.Manual
	mu    sync.Mutex
	lines []*Line
	now   atomic.Int64 // instant of the edge being delivered, or the clock
}

// NewBoard builds a wall with one line per spec, numbered from 1.
func NewBoard(clk *clock.Manual, specs []LineSpec) *Board {
	b := &Board{clk: clk}
	b.now.Store(int64(clk.Mono()))
	for i, s := range specs {
		b.lines = append(b.lines, newLine(b, i+1, s))
	}
	return b
}

// Clock is the board's virtual clock.
func (b *Board) Clock() *clock.Manual { return b.clk }

// Lines is the number of lines.
func (b *Board) Lines() int { return len(b.lines) }

// Line returns line n (1-based), or nil.
func (b *Board) Line(n int) *Line {
	if n < 1 || n > len(b.lines) {
		return nil
	}
	return b.lines[n-1]
}

func (b *Board) instant() time.Duration { return time.Duration(b.now.Load()) }

// Advance runs the physics for d and delivers the edges it produces, in
// time order per line. Handlers run on the caller's goroutine.
func (b *Board) Advance(d time.Duration) {
	end := b.clk.Mono() + d
	for t := b.clk.Mono(); t < end; {
		t1 := min(t+step, end)
		b.mu.Lock()
		for _, l := range b.lines {
			l.simulate(t, t1)
		}
		b.mu.Unlock()
		for _, l := range b.lines {
			l.deliver()
		}
		b.clk.Set(t1)
		b.now.Store(int64(t1))
		t = t1
	}
}

// Line is one simulated line: keg, valve, customer handle, meter.
type Line struct {
	b    *Board
	n    int
	spec LineSpec
	rng  *rand.Rand

	valveCmd   bool
	openedAt   time.Duration
	closedAt   time.Duration
	valveEvery int64 // valve commands, for tests

	profile   []Point
	pourStart time.Duration
	pouring   bool
	leakMLs   float64
	leakUntil time.Duration

	kegML       float64
	dispensedML float64
	leakedML    float64

	stuck       bool // meter paddle jammed: beer flows, no pulses
	airPending  float64
	phase       float64
	jitter      float64
	jitterUntil time.Duration
	burstUntil  time.Duration

	raw      []time.Duration // true + bounce edges of the current step
	lastRaw  time.Duration
	seq      uint32
	handler  atomic.Pointer[func(board.Edge)]
	outEdges []board.Edge
}

func newLine(b *Board, n int, s LineSpec) *Line {
	return &Line{b: b, n: n, spec: s, kegML: s.KegML, jitter: 1,
		rng: rand.New(rand.NewPCG(s.Seed, uint64(n))), closedAt: -time.Hour, openedAt: -2 * time.Hour}
}

func (l *Line) valveOpenAt(t time.Duration) bool {
	if l.valveCmd {
		return t >= l.openedAt+l.spec.OpenLatency
	}
	// Closing: still open until the close latency has passed, if it had opened.
	return l.openedAt+l.spec.OpenLatency <= l.closedAt && t < l.closedAt+l.spec.CloseLatency
}

func (l *Line) handleFlow(t time.Duration) float64 {
	if !l.pouring || len(l.profile) == 0 {
		return 0
	}
	dt := t - l.pourStart
	p := l.profile
	if dt <= p[0].T {
		return p[0].MLs
	}
	for i := 1; i < len(p); i++ {
		if dt <= p[i].T {
			f := float64(dt-p[i-1].T) / float64(p[i].T-p[i-1].T)
			return p[i-1].MLs + f*(p[i].MLs-p[i-1].MLs)
		}
	}
	l.pouring = p[len(p)-1].MLs > 0
	return p[len(p)-1].MLs
}

// simulate integrates [t0,t1) and collects the raw edges.
func (l *Line) simulate(t0, t1 time.Duration) {
	l.raw = l.raw[:0]
	dt := (t1 - t0).Seconds()
	q := 0.0
	if l.valveOpenAt(t0) {
		q = l.handleFlow(t0)
	}
	if q > 0 && l.spec.Jitter > 0 {
		if t0 >= l.jitterUntil {
			l.jitter = math.Max(0.5, math.Min(1.5, 1+l.rng.NormFloat64()*l.spec.Jitter))
			l.jitterUntil = t0 + 50*time.Millisecond
		}
		q *= l.jitter
	}
	leak := 0.0
	if l.leakMLs > 0 && (l.leakUntil == 0 || t0 < l.leakUntil) {
		leak = l.leakMLs
	}
	liquid, spin := q+leak, q+leak
	if q > 0 && l.airPending > 0 {
		air := math.Min(l.airPending, q*dt)
		l.airPending -= air
		spin += air / dt
	}
	switch {
	case l.kegML <= 0:
		liquid, spin, q, leak = 0, 0, 0, 0
	case l.kegML < l.spec.SputterML:
		// Foam: gas spins the paddle fast while little beer comes out.
		spin, liquid, q, leak = 2.5*(q+leak), 0.3*(q+leak), 0.3*q, 0.3*leak
	case q > 0 && l.spec.AirBurstsPerMin > 0:
		if t0 >= l.burstUntil && l.rng.Float64() < l.spec.AirBurstsPerMin/60*dt {
			l.burstUntil = t0 + 40*time.Millisecond
		}
		if t0 < l.burstUntil {
			spin = 2 * (q + leak)
		}
	}
	l.kegML -= liquid * dt
	l.dispensedML += q * dt
	l.leakedML += leak * dt
	if !l.stuck {
		l.pulses(t0, t1, spin)
	}
}

// pulses turns a meter flow over [t0,t1) into edge times.
func (l *Line) pulses(t0, t1 time.Duration, mls float64) {
	if mls <= 0 {
		return
	}
	perSec := mls * l.spec.KTrue / 1000
	l.phase += perSec * (t1 - t0).Seconds()
	var edges []time.Duration
	for l.phase >= 1 {
		l.phase--
		at := t1 - time.Duration(l.phase/perSec*float64(time.Second))
		edges = append(edges, at)
	}
	for _, at := range edges {
		l.raw = append(l.raw, at)
		if l.spec.BounceProb > 0 && l.rng.Float64() < l.spec.BounceProb {
			extra := 1 + l.rng.IntN(3)
			for i := 0; i < extra; i++ {
				l.raw = append(l.raw, at+time.Duration(1+l.rng.Int64N(int64(max(l.spec.BounceMax, time.Microsecond)))))
			}
		}
	}
	if l.spec.BounceProb > 0 {
		sortDurations(l.raw)
	}
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// deliver applies the kernel's debounce and buffer loss and hands edges on.
func (l *Line) deliver() {
	l.outEdges = l.outEdges[:0]
	for _, at := range l.raw {
		if l.spec.Debounce > 0 && l.lastRaw != 0 && at-l.lastRaw < l.spec.Debounce {
			l.lastRaw = at
			continue
		}
		l.lastRaw = at
		l.seq++
		if l.spec.LossProb > 0 && l.rng.Float64() < l.spec.LossProb {
			continue
		}
		l.outEdges = append(l.outEdges, board.Edge{Line: l.n, Time: at, Seq: l.seq})
	}
	h := l.handler.Load()
	if h == nil {
		return
	}
	for _, e := range l.outEdges {
		l.b.now.Store(int64(e.Time))
		(*h)(e)
	}
}
