package diagcmd_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/diagcmd"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// BenchmarkPoursQueryMonth is pours.query over 30 days of a busy wall
// (86,400 pours, docs/performance.md): the cost that keeps it off the
// unsigned list, where one call must stay under 1/rate_limit s.
func BenchmarkPoursQueryMonth(b *testing.B) {
	bn := newBench(b)
	t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	const n = 86_400
	for i := 0; i < n; i += 5000 {
		if err := bn.store.Update(history.Bucket, func(bk storage.Bucket) error {
			for j := i; j < min(i+5000, n); j++ {
				e := history.Entry{Time: t0.Add(time.Duration(j) * 30 * time.Second), Kind: history.KindPour, Line: 1 + j%4,
					Product: "Pils", PLU: 101, Payment: history.PayCard, Card: "c0ffee00c0ffee00", Volume: flow.ML(300), Amount: 390}
				if err := history.Put(bk, e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	m := diagcmd.Methods(diagcmd.Parts{Config: bn.cfg, Agent: bn.agent, Store: bn.store})
	for _, c := range []struct{ name, params string }{
		{"totals-day", `{"totals": "day"}`},
		{"card", `{"card": "0000000000000000"}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if st, body := m["pours.query"](context.Background(), json.RawMessage(c.params)); st != 200 {
					b.Fatal(st, body)
				}
			}
		})
	}
}
