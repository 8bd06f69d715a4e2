package flow

import (
	"testing"
	"time"

	"github.com/tapagent/tapagent/board"
)

type nopValve struct{}

func (nopValve) Open() error  { return nil }
func (nopValve) Close() error { return nil }

// BenchmarkOnEdge measures edge processing on one core during a pour with a
// money cap, predictive shut-off and a correction table: the full hot path.
func BenchmarkOnEdge(b *testing.B) {
	cfg := testConfig()
	cfg.Predictive, cfg.RefillWindow, cfg.RefillMax = true, 500*time.Millisecond, ML(3)
	cfg.Meter.Correction = []CorrectionPoint{{RateMilliHz: 100_000, FactorPPM: 1_020_000}, {RateMilliHz: 600_000, FactorPPM: 990_000}}
	l := NewLine(cfg, nopValve{})
	if _, err := l.Open(time.Second, Auth{Mode: ModeFree, Price: price650}); err != nil {
		b.Fatal(err)
	}
	at := time.Second
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at += 3 * time.Millisecond
		l.OnEdge(board.Edge{Line: 1, Time: at, Seq: uint32(i + 1)})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "edges/s")
}
