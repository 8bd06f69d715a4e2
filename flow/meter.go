package flow

import (
	"time"

	"github.com/tapagent/tapagent/board"
)

// bucketLen is the window over which flow rate is measured and the
// flow-rate correction is applied.
const bucketLen = 100 * time.Millisecond

const ppm = 1_000_000

// CorrectionPoint is one point of a meter's flow-rate correction curve:
// at RateMilliHz pulses per 1000 s, each pulse is worth FactorPPM/1e6 of
// the nominal K-factor volume. Between points the factor is interpolated.
type CorrectionPoint struct {
	RateMilliHz int64 `json:"rate_mhz"`
	FactorPPM   int64 `json:"factor_ppm"`
}

// MeterConfig describes one flow meter.
type MeterConfig struct {
	// KMilli is the K-factor: pulses per litre ×1000.
	KMilli int64
	// Correction is an optional flow-rate correction table sorted by rate.
	Correction []CorrectionPoint
	// Lockout rejects edges closer than this to the last accepted edge, a
	// software guard behind the kernel debounce for bouncing contacts.
	Lockout time.Duration
}

// Meter counts accepted edges and converts them to volume.
type Meter struct {
	cfg MeterConfig

	pulses  int64 // accepted edges, lifetime
	bounced int64 // rejected by lockout
	lost    int64 // sequence gaps

	lastSeq  uint32
	lastEdge time.Duration // zero: none yet

	bucketStart  time.Duration
	bucketPulses int64
	factor       int64 // factor applied to the open bucket
	microPulses  int64 // flushed pulses × factor (ppm)
	rateMilliHz  int64 // rate of the last flushed bucket
	flushed      bool  // a bucket was flushed by the last Accept
}

// NewMeter returns a meter with no pulses.
func NewMeter(cfg MeterConfig) *Meter {
	m := &Meter{cfg: cfg}
	m.factor = m.factorAt(0)
	return m
}

// Accept counts an edge unless it is a bounce; it reports whether it counted.
func (m *Meter) Accept(e board.Edge) bool {
	m.flushed = false
	if e.Seq != 0 {
		if m.lastSeq != 0 && e.Seq != m.lastSeq+1 {
			m.lost += int64(e.Seq - m.lastSeq - 1)
		}
		m.lastSeq = e.Seq
	}
	if m.lastEdge != 0 && e.Time-m.lastEdge < m.cfg.Lockout {
		m.bounced++
		return false
	}
	if m.bucketPulses > 0 && e.Time-m.bucketStart >= bucketLen {
		m.flush(e.Time)
	}
	if m.bucketPulses == 0 {
		m.bucketStart = e.Time
	}
	m.bucketPulses++
	m.pulses++
	m.lastEdge = e.Time
	return true
}

// Idle closes a bucket that has gone stale so that its pulses get their
// final correction and the rate decays when flow stops.
func (m *Meter) Idle(now time.Duration) {
	m.flushed = false
	if m.bucketPulses > 0 && now-m.lastEdge >= bucketLen && now-m.bucketStart >= bucketLen {
		// Flow stopped inside this bucket: rate it over the span its pulses
		// actually cover, not over the silence that followed.
		n := m.bucketPulses
		end := now
		if n > 1 {
			end = m.bucketStart + (m.lastEdge-m.bucketStart)*time.Duration(n)/time.Duration(n-1)
		} else if m.rateMilliHz > 0 {
			end = m.bucketStart + time.Duration(int64(time.Second)*1000/m.rateMilliHz)
		}
		m.flush(end)
	}
	if m.lastEdge != 0 && now-m.lastEdge >= 4*bucketLen {
		m.rateMilliHz = 0
	}
}

// flush closes the open bucket at t, the time of the first edge after it.
func (m *Meter) flush(t time.Duration) {
	span := t - m.bucketStart
	if span <= 0 {
		span = time.Millisecond
	}
	m.rateMilliHz = m.bucketPulses * int64(time.Second) * 1000 / int64(span)
	m.microPulses += m.bucketPulses * m.factorAt(m.rateMilliHz)
	m.factor = m.factorAt(m.rateMilliHz)
	m.bucketPulses = 0
	m.flushed = true
}

func (m *Meter) factorAt(rate int64) int64 {
	c := m.cfg.Correction
	switch {
	case len(c) == 0:
		return ppm
	case rate <= c[0].RateMilliHz:
		return c[0].FactorPPM
	case rate >= c[len(c)-1].RateMilliHz:
		return c[len(c)-1].FactorPPM
	}
	for i := 1; i < len(c); i++ {
		if rate <= c[i].RateMilliHz {
			a, b := c[i-1], c[i]
			return a.FactorPPM + (b.FactorPPM-a.FactorPPM)*(rate-a.RateMilliHz)/(b.RateMilliHz-a.RateMilliHz)
		}
	}
	return ppm
}

// Volume is the corrected volume of every pulse counted so far.
func (m *Meter) Volume() Vol {
	return Vol((m.microPulses + m.bucketPulses*m.factor) * 10 / m.cfg.KMilli)
}

// Pulses is the number of accepted edges.
func (m *Meter) Pulses() int64 { return m.pulses }

// Bounced is the number of edges rejected by the lockout.
func (m *Meter) Bounced() int64 { return m.bounced }

// Lost is the number of edges the kernel discarded (sequence gaps).
func (m *Meter) Lost() int64 { return m.lost }

// LastEdge is the time of the last accepted edge, zero if none.
func (m *Meter) LastEdge() time.Duration { return m.lastEdge }

// RateMilliHz is the pulse rate of the last complete bucket.
func (m *Meter) RateMilliHz() int64 { return m.rateMilliHz }

// FlowRate is the flow in Vol per second from the last complete bucket.
func (m *Meter) FlowRate() Vol {
	return Vol(m.rateMilliHz * m.factor / ppm * 10_000 / m.cfg.KMilli)
}

// Flushed reports whether the last Accept or Idle closed a rate bucket.
func (m *Meter) Flushed() bool { return m.flushed }

// KMilli is the K-factor in use.
func (m *Meter) KMilli() int64 { return m.cfg.KMilli }

// SetKMilli replaces the K-factor, e.g. after calibration. Volume already
// counted is rescaled too; callers change it only while the line is idle.
func (m *Meter) SetKMilli(k int64) {
	if k > 0 {
		m.cfg.KMilli = k
	}
}
