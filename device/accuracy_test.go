package device_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
)

// portionErrors pours n portions of 300 mL on line 3 of the simulated wall
// (5 % flow jitter, 30 ms valve latency, 3 mL of refill air) and returns
// how far each glass landed from 300 mL, in percent.
func portionErrors(t *testing.T, n int, predictive bool) []float64 {
	h := newHarness(t, func(c *config.Config) {
		c.Lines[2].Predictive = predictive
		s := &c.Sim.Lines[2]
		s.Jitter, s.OpenLatency.Duration, s.CloseLatency.Duration, s.RefillML = 0.05, 30*time.Millisecond, 30*time.Millisecond, 3
	})
	var errs []float64
	for i := 0; i < n; i++ {
		before := h.line(3).Truth().DispensedML
		h.authorise(3, flow.Auth{Mode: flow.ModePortion, PortionVol: flow.ML(300), PortionPrice: 400})
		h.pour(3, 55, 20*time.Second)
		h.run(8 * time.Second)
		h.line(3).ReleaseHandle()
		h.run(3 * time.Second)
		glass := h.line(3).Truth().DispensedML - before
		errs = append(errs, (glass-300)/300*100)
	}
	return errs
}

func summarise(errs []float64) (mean, maxAbs, p95 float64) {
	abs := make([]float64, len(errs))
	for i, e := range errs {
		mean += e / float64(len(errs))
		abs[i] = math.Abs(e)
	}
	slices.Sort(abs)
	return mean, abs[len(abs)-1], abs[int(float64(len(abs)-1)*0.95)]
}

// TestPortionAccuracy is the accuracy target: 300 mL portions within
// 1 % with predictive shut-off. Naive shut-off is measured beside it.
func TestPortionAccuracy(t *testing.T) {
	pred := portionErrors(t, 30, true)
	naive := portionErrors(t, 30, false)
	pm, pmax, p95 := summarise(pred)
	nm, nmax, n95 := summarise(naive)
	t.Logf("300 mL portions, 5%% jitter, 30 ms valve: predictive mean %+.2f%% p95 |%.2f%%| max |%.2f%%|; naive mean %+.2f%% p95 |%.2f%%| max |%.2f%%|",
		pm, p95, pmax, nm, n95, nmax)
	if pmax > 1 {
		t.Fatalf("predictive portion off by %.2f%% (all: %v)", pmax, pred)
	}
	if math.Abs(nm) <= math.Abs(pm) {
		t.Fatalf("predictive (%.2f%%) is no better than naive (%.2f%%)", pm, nm)
	}
}
