package retention_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/retention"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// BenchmarkThirtyBusyDays books 30 simulated days of a busy four-line wall
// into a real bbolt file at full speed, with the agent's write pattern for
// each pour: the intent and a checkpoint, the booking with its history
// entry (time-keyed, as the history bucket is) and, for a pour paid at the
// bar, its cash-sale report for an MDB reader that never drains the queue,
// four events, and the server's acknowledgement. Each line pours every 30 s
// of a 12-hour opening day (5,760 pours a day); the pruner runs every
// simulated hour. It logs, per simulated day, the heap in use after a GC,
// the process's resident set and the database file, and reports the last
// day's and the largest day-over-day growth of the second half.
//
// BENCH_DIR puts the file elsewhere than the test's temporary directory
// (a tmpfs makes the fsyncs free; the sizes are the same). HISTORY_DAYS
// sets [history] retention_days (default 7, so pruning is at work within
// the 30 days; the shipped 90 is reached later) and HISTORY_MAX_BYTES its
// max_bytes (default the shipped 64 MiB).
func BenchmarkThirtyBusyDays(b *testing.B) {
	days := 7
	if v, err := strconv.Atoi(os.Getenv("HISTORY_DAYS")); err == nil {
		days = v
	}
	for b.Loop() {
		thirtyDays(b, days)
	}
}

func thirtyDays(b *testing.B, keepDays int) {
	dir := b.TempDir()
	if d := os.Getenv("BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "thirty"); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	st, err := storage.Open(filepath.Join(dir, "tapagent.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	maxBytes := int64(64 << 20)
	if v, err := strconv.ParseInt(os.Getenv("HISTORY_MAX_BYTES"), 10, 64); err == nil {
		maxBytes = v
	}
	cfg, err := config.Parse(fmt.Appendf(nil, "[history]\nretention_days = %d\nmax_bytes = %d\n[[line]]\nid = 1\n", keepDays, maxBytes))
	if err != nil {
		b.Fatal(err)
	}
	clk := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	o := retention.Options{Store: st, History: cfg.History, Now: func() time.Time { return clk }}
	ctx := context.Background()
	var heap, rss, file []int64
	n := 0
	for day := range benchDays() {
		open := time.Date(2026, 3, 1+day, 11, 0, 0, 0, time.UTC)
		for slot := range 12 * 120 { // every 30 s for 12 h
			for line := 1; line <= 4; line++ {
				clk = open.Add(time.Duration(slot)*30*time.Second + time.Duration(line)*time.Second)
				n++
				busyPour(b, st, clk, line, n)
			}
			if slot%120 == 119 {
				if _, err := o.Once(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		size, err := st.FileSize()
		if err != nil {
			b.Fatal(err)
		}
		hist, err := st.BucketBytes(retention.HistoryBucket)
		if err != nil {
			b.Fatal(err)
		}
		heap, rss, file = append(heap, int64(ms.HeapInuse)), append(rss, vmRSS()), append(file, size)
		fmt.Fprintf(os.Stderr, "day %2d: %6d pours, heap in use %5.1f MiB, RSS %5.1f MiB, database %6.1f MiB, history %6.1f MiB\n", day+1, n,
			mib(ms.HeapInuse), mib(vmRSS()), mib(size), mib(hist))
	}
	last := len(file) - 1
	b.ReportMetric(mib(heap[last]), "MiB-heap-last-day")
	b.ReportMetric(mib(rss[last]), "MiB-RSS-last-day")
	b.ReportMetric(mib(file[last]), "MiB-db-last-day")
	var grow int64
	for d := max(len(file)/2, 1); d < len(file); d++ {
		grow = max(grow, file[d]-file[d-1])
	}
	b.ReportMetric(mib(grow), "MiB-db-max-daily-growth-2nd-half")
}

// busyPour is one pour's writes, as the agent makes them.
func busyPour(b *testing.B, st *storage.Store, at time.Time, line, n int) {
	in, err := st.CreateIntent(1, storage.Intent{Line: line, OpenedAt: at.UnixMilli(), ClockSynced: true,
		Auth: flow.Auth{Mode: flow.ModeFree}, KMilli: 5400000})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	in.Progress = flow.Progress{Pulses: 1000, Volume: 1850}
	st.Checkpoint(in, func(err error) { done <- err })
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	ref := storage.Ref{CardType: "33"} // paid at the bar: a cash sale
	if n%2 == 0 {
		ref = storage.Ref{CardType: "1", CardID: "4711"}
	}
	rec := storage.Record{ID: in.PourID, Kind: storage.KindPour, Line: line, Product: "Pils", PLU: 100 + line,
		StartedAt: at.UnixMilli(), EndedAt: at.Add(7 * time.Second).UnixMilli(), ClockSynced: true, Ref: ref,
		Pour: flow.Result{Volume: 4000, Charged: 4000, Amount: 520, Pulses: 2160, Complete: true, Reason: flow.ReasonCapVolume}}
	hist, err := json.Marshal(rec)
	if err != nil {
		b.Fatal(err)
	}
	also := append(terminalsale.Settle(rec), storage.Change{Bucket: retention.HistoryBucket, Apply: func(bk storage.Bucket) error {
		return bk.Put(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())), hist)
	}})
	seq, err := st.Book(storage.Booking{Record: rec, Keg: &flow.Keg{Size: flow.ML(50_000), Remaining: flow.ML(30_000)}, Also: also})
	if err != nil {
		b.Fatal(err)
	}
	for _, typ := range []device.EventType{device.EventPourAuthorised, device.EventPourStarted, device.EventValveClosed, device.EventPourBooked} {
		ev, _ := json.Marshal(device.Event{Time: at, Type: typ, Line: line, PourID: in.PourID, Mode: "free", Volume: 4000, Amount: 520})
		st.AppendEvent(ev, func(error) {})
	}
	if err := st.Ack(seq); err != nil {
		b.Fatal(err)
	}
}

func mib[T int64 | uint64](n T) float64 { return float64(n) / (1 << 20) }

// vmRSS is the process's resident set in bytes, from /proc (0 elsewhere).
func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benchDays is 30, or BENCH_DAYS for a shorter trial run.
func benchDays() int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_DAYS")); err == nil && v > 0 && v <= 30 {
		return v
	}
	return 30
}
