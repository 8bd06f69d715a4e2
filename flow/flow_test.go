package flow

import (
	"math"
	"testing"
	"time"

	"github.com/tapagent/tapagent/board"
)

// recValve records valve commands.
type recValve struct {
	open   bool
	opens  int
	closes int
}

func (v *recValve) Open() error  { v.open = true; v.opens++; return nil }
func (v *recValve) Close() error { v.open = false; v.closes++; return nil }

func testConfig() LineConfig {
	return LineConfig{
		Meter:       MeterConfig{KMilli: 5_400_000, Lockout: 300 * time.Microsecond},
		AuthTimeout: 30 * time.Second, IdleTimeout: 3 * time.Second, NoFlowTimeout: 3 * time.Second,
		MaxDuration: 90 * time.Second, SettleTime: 300 * time.Millisecond, MinPour: ML(10),
		FoamRateMilliHz: 600_000, FoamBuckets: 3, LeakAlarm: ML(20), LeakIdle: 5 * time.Second,
		ValveLatency: 30 * time.Millisecond,
	}
}

// pourer drives a line with a steady pulse train in virtual time.
type pourer struct {
	t   *testing.T
	l   *Line
	v   *recValve
	now time.Duration
	seq uint32
	res []*Result
}

func newPourer(t *testing.T, cfg LineConfig) *pourer {
	v := &recValve{}
	return &pourer{t: t, l: NewLine(cfg, v), v: v, now: time.Second}
}

// flow emits pulses at hz for d (only while flowing is true if valveGated),
// ticking every 10 ms. Pulses stop counting once the valve is closed plus
// lag, as a real valve does.
func (p *pourer) flow(hz float64, d time.Duration, gated bool, lag time.Duration) {
	end := p.now + d
	period := time.Duration(float64(time.Second) / hz)
	nextTick := p.now + 10*time.Millisecond
	closedAt := time.Duration(-1)
	for t := p.now; t < end; t += period {
		for nextTick <= t {
			p.tick(nextTick)
			nextTick += 10 * time.Millisecond
		}
		if gated && !p.v.open {
			if closedAt < 0 {
				closedAt = t
			}
			if t-closedAt >= lag {
				continue
			}
		}
		p.seq++
		p.l.OnEdge(board.Edge{Line: 1, Time: t, Seq: p.seq})
	}
	p.now = end
}

func (p *pourer) tick(at time.Duration) {
	if r := p.l.Tick(at); r != nil {
		p.res = append(p.res, r)
	}
}

// wait runs timers for d without pulses.
func (p *pourer) wait(d time.Duration) {
	for end := p.now + d; p.now < end; p.now += 10 * time.Millisecond {
		p.tick(p.now)
	}
}

func (p *pourer) open(a Auth) {
	p.t.Helper()
	if _, err := p.l.Open(p.now, a); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pourer) last() *Result {
	p.t.Helper()
	if len(p.res) == 0 {
		p.t.Fatal("no result")
	}
	return p.res[len(p.res)-1]
}

// 324 Hz on a 5400/L meter is 60 mL/s.
const hz60 = 324.0

var price650 = Price{Minor: 650, PerVol: ML(500)}

func TestPourScenarios(t *testing.T) {
	cases := []struct {
		name       string
		auth       Auth
		cfg        func(*LineConfig)
		run        func(p *pourer)
		reason     Reason
		minVol     Vol
		maxVol     Vol
		amount     int64 // -1: don't check
		complete   bool
		belowMin   bool
		alarm      string
		disabledBy string
	}{
		{name: "volume cap", auth: Auth{Mode: ModeFree, CapVol: ML(300), Price: price650},
			run:    func(p *pourer) { p.flow(hz60, 10*time.Second, true, 30*time.Millisecond); p.wait(time.Second) },
			reason: ReasonCapVolume, minVol: ML(299), maxVol: ML(303), amount: -1, complete: true},
		{name: "money cap never charges past the cap", auth: Auth{Mode: ModeFree, CapMoney: 500, Price: price650},
			run:    func(p *pourer) { p.flow(hz60, 10*time.Second, true, 30*time.Millisecond); p.wait(time.Second) },
			reason: ReasonCapMoney, minVol: ML(383), maxVol: ML(388), amount: 500, complete: true},
		{name: "portion", auth: Auth{Mode: ModePortion, PortionVol: ML(300), PortionPrice: 390},
			run:    func(p *pourer) { p.flow(hz60, 10*time.Second, true, 30*time.Millisecond); p.wait(time.Second) },
			reason: ReasonPortion, minVol: ML(299), maxVol: ML(303), amount: 390, complete: true},
		{name: "customer stops: idle end", auth: Auth{Mode: ModeFree, CapVol: ML(500), Price: price650},
			run:    func(p *pourer) { p.flow(hz60, 2*time.Second, true, 0); p.wait(4 * time.Second) },
			reason: ReasonIdle, minVol: ML(119), maxVol: ML(121), amount: 156},
		{name: "nobody pours", auth: Auth{Mode: ModeFree, Price: price650},
			cfg: func(c *LineConfig) { c.AuthTimeout = 5 * time.Second },
			run: func(p *pourer) { p.wait(6 * time.Second) }, reason: ReasonNoPour, amount: 0, belowMin: true},
		{name: "max duration", auth: Auth{Mode: ModeFree, Price: price650},
			cfg:    func(c *LineConfig) { c.MaxDuration = 5 * time.Second },
			run:    func(p *pourer) { p.flow(hz60, 8*time.Second, true, 30*time.Millisecond); p.wait(time.Second) },
			reason: ReasonMaxDuration, minVol: ML(299), maxVol: ML(302), amount: -1},
		{name: "meter stops mid-portion", auth: Auth{Mode: ModePortion, PortionVol: ML(300), PortionPrice: 390},
			run:    func(p *pourer) { p.flow(hz60, 2*time.Second, true, 0); p.wait(4 * time.Second) },
			reason: ReasonNoFlow, minVol: ML(119), maxVol: ML(121), amount: 390 * 1200 / 3000, alarm: "no_flow"},
		{name: "portion with a silent meter", auth: Auth{Mode: ModePortion, PortionVol: ML(300), PortionPrice: 390},
			run: func(p *pourer) { p.wait(4 * time.Second) }, reason: ReasonNoFlow, amount: 0, alarm: "no_flow"},
		{name: "keg empties: foam closes and disables", auth: Auth{Mode: ModeFree, CapVol: ML(500), Price: price650},
			run: func(p *pourer) {
				p.flow(hz60, time.Second, true, 0)
				p.flow(800, 2*time.Second, true, 0) // gas spins the paddle
				p.wait(time.Second)
			},
			reason: ReasonFoam, minVol: ML(60), maxVol: ML(110), amount: -1, alarm: "keg_empty", disabledBy: "keg_empty"},
		{name: "short air burst is not foam", auth: Auth{Mode: ModeFree, CapVol: ML(300), Price: price650},
			run: func(p *pourer) {
				p.flow(hz60, time.Second, true, 0)
				p.flow(800, 150*time.Millisecond, true, 0)
				p.flow(hz60, 10*time.Second, true, 30*time.Millisecond)
				p.wait(time.Second)
			},
			reason: ReasonCapVolume, minVol: ML(299), maxVol: ML(303), amount: -1, complete: true},
		{name: "below minimum is free", auth: Auth{Mode: ModeFree, Price: price650},
			run:    func(p *pourer) { p.flow(hz60, 100*time.Millisecond, true, 0); p.wait(4 * time.Second) },
			reason: ReasonIdle, minVol: ML(5), maxVol: ML(7), amount: 0, belowMin: true},
		{name: "safety cap beats an unlimited authorisation", auth: Auth{Mode: ModeCleaning},
			cfg:    func(c *LineConfig) { c.SafetyCap = ML(1000) },
			run:    func(p *pourer) { p.flow(hz60, 30*time.Second, true, 30*time.Millisecond); p.wait(time.Second) },
			reason: ReasonSafetyCap, minVol: ML(1000), maxVol: ML(1003), amount: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			p := newPourer(t, cfg)
			p.open(tc.auth)
			tc.run(p)
			r := p.last()
			if r.Reason != tc.reason {
				t.Errorf("reason %s, want %s", r.Reason, tc.reason)
			}
			if r.Volume < tc.minVol || r.Volume > tc.maxVol {
				t.Errorf("volume %s, want %s..%s", r.Volume, tc.minVol, tc.maxVol)
			}
			if tc.amount >= 0 && r.Amount != tc.amount {
				t.Errorf("amount %d, want %d", r.Amount, tc.amount)
			}
			if r.Complete != tc.complete || r.BelowMin != tc.belowMin {
				t.Errorf("complete %v below_min %v, want %v %v", r.Complete, r.BelowMin, tc.complete, tc.belowMin)
			}
			if p.v.open || p.l.State() != Idle {
				t.Errorf("valve open %v, state %s after the pour", p.v.open, p.l.State())
			}
			if got := p.l.Disabled(); got != tc.disabledBy {
				t.Errorf("disabled %q, want %q", got, tc.disabledBy)
			}
			if tc.alarm != "" && !hasAlarm(p.l.TakeAlarms(), tc.alarm, true) {
				t.Errorf("no %s alarm", tc.alarm)
			}
			if r.Charged > r.Volume || r.Amount < 0 {
				t.Errorf("charged %s of %s, amount %d", r.Charged, r.Volume, r.Amount)
			}
		})
	}
}

func hasAlarm(as []Alarm, kind string, active bool) bool {
	for _, a := range as {
		if a.Kind == kind && a.Active == active {
			return true
		}
	}
	return false
}

func TestRefillCompensation(t *testing.T) {
	cfg := testConfig()
	cfg.RefillWindow, cfg.RefillMax = 500*time.Millisecond, ML(3)
	p := newPourer(t, cfg)
	p.open(Auth{Mode: ModeFree, Price: price650})
	p.wait(time.Second) // the customer takes a moment; the window starts at first flow
	p.flow(hz60, 2*time.Second, true, 0)
	p.wait(4 * time.Second)
	r := p.last()
	if r.Compensated != ML(3) || r.Charged != r.Volume-ML(3) {
		t.Fatalf("compensated %s charged %s of %s, want 3 mL not charged", r.Compensated, r.Charged, r.Volume)
	}
	if r.Amount != price650.Amount(r.Charged) {
		t.Fatalf("amount %d for %s", r.Amount, r.Charged)
	}
}

func TestStopAndAbort(t *testing.T) {
	p := newPourer(t, testConfig())
	p.open(Auth{Mode: ModeFree, Price: price650})
	p.flow(hz60, time.Second, true, 30*time.Millisecond)
	if !p.l.Stop(p.now, ReasonStopped) {
		t.Fatal("stop refused")
	}
	if p.l.Stop(p.now, ReasonStopped) {
		t.Fatal("second stop accepted")
	}
	p.flow(hz60, 100*time.Millisecond, true, 30*time.Millisecond) // overrun after close
	p.wait(time.Second)
	r := p.last()
	if r.Reason != ReasonStopped || r.Overrun <= 0 {
		t.Fatalf("reason %s overrun %s", r.Reason, r.Overrun)
	}
	p.open(Auth{Mode: ModeFree, Price: price650})
	p.flow(hz60, 500*time.Millisecond, true, 0)
	r = p.l.Abort(p.now, ReasonShutdown)
	if r == nil || r.Reason != ReasonShutdown || r.Volume < ML(29) || p.v.open {
		t.Fatalf("abort: %+v valve %v", r, p.v.open)
	}
}

func TestLeakIsUnattributed(t *testing.T) {
	p := newPourer(t, testConfig())
	p.flow(10.8, 15*time.Second, false, 0) // 2 mL/s with the valve closed
	p.wait(6 * time.Second)
	if !hasAlarm(p.l.TakeAlarms(), "leak", true) {
		t.Fatal("no leak alarm")
	}
	r := p.last()
	if !r.Unattributed || r.Reason != ReasonLeak || r.Volume < ML(29) || r.Volume > ML(31) {
		t.Fatalf("leak result %+v", r)
	}
	// A pour right after a leak must not absorb the leak.
	p.flow(10.8, time.Second, false, 0)
	leaked, err := p.l.Open(p.now, Auth{Mode: ModeFree, Price: price650})
	if err != nil || leaked == nil || leaked.Volume < ML(1) {
		t.Fatalf("leak before open not returned: %+v %v", leaked, err)
	}
}

func TestBusyAndDisabled(t *testing.T) {
	p := newPourer(t, testConfig())
	p.open(Auth{Mode: ModeFree})
	if _, err := p.l.Open(p.now, Auth{Mode: ModeFree}); err == nil {
		t.Fatal("second open accepted")
	}
	p.l.Abort(p.now, ReasonShutdown)
	p.l.SetDisabled("keg_empty")
	if _, err := p.l.Open(p.now, Auth{Mode: ModeFree}); err == nil {
		t.Fatal("open on a disabled line accepted")
	}
	if _, err := p.l.Open(p.now, Auth{Mode: ModeCleaning}); err != nil {
		t.Fatalf("cleaning must be allowed on a disabled line: %v", err)
	}
	for _, a := range []Auth{{}, {Mode: ModePortion}, {Mode: ModeFree, CapMoney: 5}, {Mode: ModeFree, CapVol: -1}} {
		if a.Validate() == nil {
			t.Errorf("%+v validated", a)
		}
	}
}

func TestLostEdgesAlarm(t *testing.T) {
	p := newPourer(t, testConfig())
	p.l.OnEdge(board.Edge{Line: 1, Time: time.Second, Seq: 1})
	p.l.OnEdge(board.Edge{Line: 1, Time: time.Second + 5*time.Millisecond, Seq: 5})
	p.tick(time.Second + 10*time.Millisecond)
	as := p.l.TakeAlarms()
	if len(as) != 1 || as[0].Kind != "lost_edges" || as[0].Count != 3 {
		t.Fatalf("alarms %+v", as)
	}
}

func TestPredictiveLearnsLatency(t *testing.T) {
	cfg := testConfig()
	cfg.Predictive, cfg.ValveLatency = true, 0
	p := newPourer(t, cfg)
	var errs []Vol
	for i := 0; i < 8; i++ {
		p.open(Auth{Mode: ModePortion, PortionVol: ML(300), PortionPrice: 1})
		p.flow(hz60, 8*time.Second, true, 50*time.Millisecond)
		p.wait(time.Second)
		errs = append(errs, p.last().Charged-ML(300))
	}
	if errs[0] < ML(2) {
		t.Fatalf("first pour overran only %s with no latency known", errs[0])
	}
	if last := errs[len(errs)-1]; last > ML(1) || last < -ML(1) {
		t.Fatalf("after learning the portion is off by %s (all: %v); latency %s", last, errs, p.l.Latency())
	}
}

func TestMeterCorrectionAndBounce(t *testing.T) {
	m := NewMeter(MeterConfig{KMilli: 1_000_000, Lockout: time.Millisecond,
		Correction: []CorrectionPoint{{RateMilliHz: 10_000, FactorPPM: 1_100_000}, {RateMilliHz: 100_000, FactorPPM: 900_000}}})
	at := time.Second
	for i := 0; i < 1000; i++ { // 100 Hz: factor 0.9
		m.Accept(board.Edge{Time: at})
		m.Accept(board.Edge{Time: at + 100*time.Microsecond}) // bounce
		at += 10 * time.Millisecond
	}
	m.Idle(at + time.Second)
	if m.Pulses() != 1000 || m.Bounced() != 1000 {
		t.Fatalf("pulses %d bounced %d", m.Pulses(), m.Bounced())
	}
	// 1000 pulses at K=1000/L is 1 L; at factor 0.9 it is 900 mL.
	if v := m.Volume(); v < ML(899) || v > ML(901) {
		t.Fatalf("corrected volume %s, want 900 mL", v)
	}
	if got := m.factorAt(55_000); got != 1_000_000 {
		t.Fatalf("interpolated factor %d", got)
	}
}

func TestPrice(t *testing.T) {
	cases := []struct {
		p      Price
		v      Vol
		amount int64
		money  int64
		volFor Vol
	}{
		// Amounts round down, so the largest affordable volume is a little
		// over the nominal one: 500.7 mL still costs 6.50.
		{price650, ML(500), 650, 650, 5007},
		{price650, ML(1), 1, 1, 15},
		{Price{Minor: 50, PerVol: 2957}, 2957, 50, 100, 5973},
		{Price{}, ML(100), 0, 100, -1},
		{Price{Minor: 0, PerVol: 10}, ML(100), 0, 100, -1},
		// A peer's absurd price (2^60 minor units a mL) saturates instead
		// of wrapping into a negative amount; nothing is affordable.
		{Price{Minor: 1 << 60, PerVol: 10}, ML(500), math.MaxInt64, 650, 0},
		// Volume × price beyond 64 bits, divided back into range: exact.
		{Price{Minor: 1 << 40, PerVol: 1 << 30}, 1 << 40, 1 << 50, 1 << 50, 1 << 40},
	}
	for _, c := range cases {
		if got := c.p.Amount(c.v); got != c.amount {
			t.Errorf("%+v.Amount(%d) = %d, want %d", c.p, c.v, got, c.amount)
		}
		if got := c.p.VolFor(c.money); got != c.volFor {
			t.Errorf("%+v.VolFor(%d) = %d, want %d", c.p, c.money, got, c.volFor)
		}
		if v := c.p.VolFor(c.money); v >= 0 && (c.p.Amount(v) > c.money || c.p.Amount(v+1) <= c.money) {
			t.Errorf("%+v.VolFor(%d) = %d is not the largest affordable volume", c.p, c.money, v)
		}
	}
}

// TestMulDiv: v×n/d through the 128-bit product, saturating, never
// negative.
func TestMulDiv(t *testing.T) {
	for _, c := range []struct{ v, n, d, want int64 }{
		{7, 3, 2, 10},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64, 2, 4, math.MaxInt64 / 2},
		{1 << 62, 1 << 62, 1, math.MaxInt64},
		{-5, 3, 1, 0}, {5, -3, 1, 0}, {5, 3, 0, 0},
	} {
		if got := MulDiv(c.v, c.n, c.d); got != c.want {
			t.Errorf("MulDiv(%d, %d, %d) = %d, want %d", c.v, c.n, c.d, got, c.want)
		}
	}
}

func TestKeg(t *testing.T) {
	k := NewKeg("k1", ML(1000), 15, time.Unix(0, 0))
	if low, empty := k.Draw(ML(800)); low || empty {
		t.Fatal("crossed too early")
	}
	if low, _ := k.Draw(ML(60)); !low {
		t.Fatal("no low at 14%")
	}
	if low, empty := k.Draw(ML(200)); low || !empty || k.Remaining != -ML(60) {
		t.Fatalf("empty: %v %v %s", low, empty, k.Remaining)
	}
	if k.FillPermille() != 0 {
		t.Fatal("negative fill")
	}
}

// TestPrepaidPortionIsAllOrNothing: a portion a terminal charged before the
// pour costs its price when delivered or cut by a crash, nothing when short.
func TestPrepaidPortionIsAllOrNothing(t *testing.T) {
	a := Auth{Mode: ModePortion, PortionVol: ML(300), PortionPrice: 390, Prepaid: true}
	plain := a
	plain.Prepaid = false
	for _, tc := range []struct {
		auth     Auth
		charged  Vol
		complete bool
		want     int64
	}{
		{a, ML(300), true, 390},
		{a, ML(150), false, 0},
		{plain, ML(150), false, 195},
	} {
		if got := amount(tc.auth, tc.charged, tc.complete); got != tc.want {
			t.Errorf("prepaid %v, %s complete %v: %d, want %d", tc.auth.Prepaid, tc.charged, tc.complete, got, tc.want)
		}
	}
	if a.RecoveredAmount(0) != 390 || plain.RecoveredAmount(195) != 195 {
		t.Error("a crash must book a prepaid portion whole and a plain one as checkpointed")
	}
	if err := (Auth{Mode: ModeFree, Prepaid: true}).Validate(); err == nil {
		t.Error("a prepaid free pour was accepted")
	}
	p := newPourer(t, testConfig())
	p.open(a)
	p.flow(hz60, time.Second, true, 30*time.Millisecond)
	p.l.Stop(p.now, ReasonStopped)
	p.wait(time.Second)
	if r := p.last(); r.Complete || r.Amount != 0 || r.Volume <= 0 {
		t.Fatalf("short prepaid portion booked %+v", r)
	}
}
