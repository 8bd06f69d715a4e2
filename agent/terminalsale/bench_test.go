package terminalsale_test

import (
	"context"
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
	r := mdbsim.New(mdb.Cashless1)
	m := &mdb.Master{T: r, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 3, MaxPrice: 0xFFFF}, Poll: time.Millisecond}
	t := terminalsale.New(terminalsale.Options{Master: m, Agent: reporter{}, Store: st, Lines: []int{1}, Portion: 3000,
		VendTimeout: time.Minute, SelectTimeout: time.Minute})
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
	r.until("reader ready", r.has(terminalsale.EvReady))
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
