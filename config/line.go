package config

import (
	"fmt"
	"math"
	"time"

	"github.com/tapagent/tapagent/flow"
)

// lineIDs is the set of configured line ids.
func (c *Config) lineIDs() map[int]bool {
	ids := make(map[int]bool, len(c.Lines))
	for _, l := range c.Lines {
		ids[l.ID] = true
	}
	return ids
}

// Served is the lines a part serves: those it is configured for, else
// every configured line (a reader's or a terminal's "lines" key).
func (c *Config) Served(configured []int) []int {
	if len(configured) > 0 {
		return configured
	}
	ids := make([]int, 0, len(c.Lines))
	for _, l := range c.Lines {
		ids = append(ids, l.ID)
	}
	return ids
}

// validateLines checks the [[line]]s: at least one, each id once, each
// line's rules.
func (c *Config) validateLines(bad badFunc) {
	if len(c.Lines) == 0 {
		bad("line", "at least one [[line]] is needed")
	}
	seen := map[int]bool{}
	for i, l := range c.Lines {
		key := fmt.Sprintf("line[%d]", i)
		if l.ID < 1 {
			bad(key+".id", "must be >= 1")
		} else if seen[l.ID] {
			bad(key+".id", "line %d is configured twice", l.ID)
		}
		seen[l.ID] = true
		l.validate(bad, key)
	}
}

// validate checks one line's rules; key is where it is ("line[2]").
func (l Line) validate(report badFunc, key string) {
	bad := func(k, format string, a ...any) { report(key+"."+k, format, a...) }
	if l.KFactor < 1 || l.KFactor > 1e6 {
		bad("k_factor", "must be between 1 and 1000000 pulses per litre")
	}
	prev := -1.0
	for j, p := range l.Correction {
		if p[0] <= prev {
			bad(fmt.Sprintf("correction[%d]", j), "rates must increase")
		}
		if p[1] < 0.5 || p[1] > 1.5 {
			bad(fmt.Sprintf("correction[%d]", j), "factor %v is outside 0.5..1.5", p[1])
		}
		prev = p[0]
	}
	if l.Price < 0 || l.Price > flow.MaxPrice {
		bad("price", "must be 0..%d minor units", flow.MaxPrice)
	}
	if l.PricePerML <= 0 {
		bad("price_per_ml", "must be > 0")
	}
	for k, v := range map[string]float64{"refill_max_ml": l.RefillMaxML, "min_pour_ml": l.MinPourML,
		"safety_cap_ml": l.SafetyCapML, "leak_alarm_ml": l.LeakAlarmML, "foam_rate_hz": l.FoamRateHz,
		"keg_size_l": l.KegSizeL} {
		if v < 0 || math.IsNaN(v) || v > 1e6 {
			bad(k, "must be between 0 and 1000000")
		}
	}
	if l.SettleTime.Duration <= 0 {
		bad("settle_time", "must be > 0")
	}
	if l.MaxDuration.Duration <= 0 {
		bad("max_duration", "must be > 0: a valve must never stay open without limit")
	}
	if l.FoamBuckets < 0 {
		bad("foam_buckets", "must not be negative")
	}
	if l.KegLowPercent < 0 || l.KegLowPercent > 100 {
		bad("keg_low_percent", "must be 0..100")
	}
	if l.ValveLatency.Duration > 500*time.Millisecond {
		bad("valve_latency", "must be at most 500ms")
	}
}
