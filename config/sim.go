package config

import "fmt"

// validate checks [sim]: each [[sim.line]] simulates a configured line.
func (s Sim) validate(bad badFunc, lines map[int]bool) {
	for i, l := range s.Lines {
		l.validate(bad, fmt.Sprintf("sim.line[%d]", i), lines)
	}
}

// validate checks one simulated line; key is where it is ("sim.line[0]").
func (s SimLine) validate(report badFunc, key string, lines map[int]bool) {
	bad := func(k, format string, a ...any) { report(key+"."+k, format, a...) }
	if !lines[s.ID] {
		bad("id", "no [[line]] with id %d", s.ID)
	}
	if s.KTrue < 1 {
		bad("k_true", "must be >= 1")
	}
	for k, v := range map[string]float64{"jitter": s.Jitter, "bounce_prob": s.BounceProb, "loss_prob": s.LossProb} {
		if v < 0 || v > 1 {
			bad(k, "must be between 0 and 1")
		}
	}
	for k, v := range map[string]float64{"keg_l": s.KegL, "sputter_ml": s.SputterML, "refill_ml": s.RefillML,
		"air_bursts_per_min": s.AirBurstsPerMin} {
		if v < 0 || v != v || v > 1e6 {
			bad(k, "must be between 0 and 1000000")
		}
	}
}
