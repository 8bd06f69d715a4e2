package terminalsale_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/storage"
)

// reporter is the one part of the agent an idle bus turn uses.
type reporter struct{ terminalsale.Agent }

func (reporter) Report(device.Event) {}

// BenchmarkPollCycle is the cost of one idle turn of the bus: a POLL to
// the in-process reader, its (empty) answer, and the terminal's checks of
// its journal (an open vend, queued cash sales) in a real bbolt file.
func BenchmarkPollCycle(b *testing.B) {
	st, err := storage.Open(filepath.Join(b.TempDir(), "tapagent.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pollLoop(b, st, false, 0)
}

// pollLoop powers up a terminal on st with an in-process reader (one that
// takes CASH SALE when cashSale) and times one bus turn per b.Loop.
func pollLoop(b *testing.B, st *storage.Store, cashSale bool, minor byte) {
	r := mdbsim.New(mdb.Cashless1)
	r.CashSale = cashSale
	m := &mdb.Master{T: r, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 3, MaxPrice: 0xFFFF}, Poll: time.Millisecond}
	t := terminalsale.New(terminalsale.Options{Master: m, Agent: reporter{}, Store: st, Lines: []int{1}, Portion: 3000,
		VendTimeout: time.Minute, SelectTimeout: time.Minute, Minor: minor})
	ctx := context.Background()
	t.Turn(ctx) // power-up
	if !t.Health().Ready {
		b.Fatal("reader not up")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t.Turn(ctx)
	}
}

// BenchmarkApprovedToValveOpen: whole vends on the simulated wall; the
// figure is the mean time from VEND APPROVED received to the valve's open
// command (the journal write and the pour intent, both fsynced, between).
func BenchmarkApprovedToValveOpen(b *testing.B) {
	r := newRig(b, 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	var total time.Duration
	n := 0
	for b.Loop() {
		n++
		if n%100 == 0 { // a fresh keg before this one runs dry
			r.wall.Board.Line(1).SetKeg(50_000)
			if err := r.agent.ChangeKeg(device.Actor{Name: "test", Via: "cli"}, device.KegChange{Line: 1, Size: flow.ML(50_000)}); err != nil {
				b.Fatal(err)
			}
		}
		r.pour(1)
		r.reader.PresentCard(-1)
		r.until("vend", func() bool { return r.tap.Health().Vends == n })
		total += r.tap.Health().ApprovedToOpen
		r.until("session over", func() bool { return r.reader.State() == mdb.Enabled })
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n), "µs-approved-to-open")
}

// BenchmarkPollCycleCashBacklog is BenchmarkPollCycle with 10k and 100k
// cash sales queued for a reader that takes CASH SALE: the per-poll cost
// stays flat (one seek for the oldest, its report, one small delete), so a
// backlog drains in time linear in its length. Each b.Loop turn reports
// one sale.
func BenchmarkPollCycleCashBacklog(b *testing.B) {
	for _, n := range []int{0, 10_000, 100_000} {
		b.Run(fmt.Sprintf("queued=%d", n), func(b *testing.B) {
			st, err := storage.Open(filepath.Join(b.TempDir(), "tapagent.db"), storage.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			fillCash(b, st, n)
			pollLoop(b, st, true, 2)
		})
	}
}

// fillCash queues n cash sales in the journal's layout, past the bound
// (a backlog an agent before the bound left), in commits of 1000.
func fillCash(b *testing.B, st *storage.Store, n int) {
	for from := 0; from < n; from += 1000 {
		err := st.Update("mdb_vends", func(bk storage.Bucket) error {
			for i := from; i < min(from+1000, n); i++ {
				seq, err := bk.NextSequence()
				if err != nil {
					return err
				}
				raw := fmt.Appendf(nil, `{"id":"1-%d","line":1,"amount":390}`, i)
				if err := bk.Put(binary.BigEndian.AppendUint64([]byte("cash/"), seq), raw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
