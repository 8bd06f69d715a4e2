package device_test

import (
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// durableIntent waits until every checkpoint handed to the writer so far is
// on disk (a write queued behind them commits with them or after them) and
// returns the line's intent as a restarted process would read it.
func (h *harness) durableIntent(line int) storage.Intent {
	h.t.Helper()
	if err := h.store.PutCache("barrier", nil); err != nil {
		h.t.Fatal(err)
	}
	ins, err := h.store.Intents()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, in := range ins {
		if in.Line == line {
			return in
		}
	}
	h.t.Fatalf("no intent on line %d", line)
	return storage.Intent{}
}

// TestCheckpointAgeStaysWithinInterval pours with a writer that keeps up and
// checks, after every tick, that the progress on disk is younger than the
// checkpoint interval by at least one tick: a checkpoint is handed over at
// half the interval, leaving the other half for its commit. Before, one was
// handed over only once the interval had passed, so the disk was already a
// full interval behind before the commit even started.
func TestCheckpointAgeStaysWithinInterval(t *testing.T) {
	h := newHarness(t, nil)
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, Price: price})
	h.pour(1, 60, 10*time.Second)
	interval, tick := h.cfg.Storage.CheckpointInterval.Duration, h.cfg.Device.Tick.Duration
	worst := time.Duration(0)
	for i := 0; i < 300; i++ {
		h.run(tick)
		in := h.durableIntent(1)
		at := in.CheckpointAt
		if at == 0 {
			at = in.OpenedAt
		}
		age := time.Duration(h.clk.Now().UnixMilli()-at) * time.Millisecond
		worst = max(worst, age)
		if age > interval/2+tick {
			t.Fatalf("tick %d: progress on disk is %v old; the interval is %v", i, age, interval)
		}
	}
	t.Logf("worst age %v with a writer that keeps up", worst)
}

// TestStalledWriterGetsFreshProgress holds the writer busy for 1.1 s of
// pouring (a long fsync, a starved CPU), then lets it go: the checkpoint it
// then commits must carry the progress of the last tick, not the progress of
// an earlier tick (before, it was up to a whole interval behind).
func TestStalledWriterGetsFreshProgress(t *testing.T) {
	h := newHarness(t, nil)
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, Price: price})
	h.pour(1, 60, 10*time.Second)
	h.run(time.Second)
	release := h.stallWriter()
	h.run(1100 * time.Millisecond)
	st := h.status(1)
	release()
	in := h.durableIntent(1)
	interval := h.cfg.Storage.CheckpointInterval.Duration
	if age := time.Duration(h.clk.Now().UnixMilli()-in.CheckpointAt) * time.Millisecond; age > interval/8+h.cfg.Device.Tick.Duration {
		t.Fatalf("the commit after the stall wrote progress %v old (%+v)", age, in.Progress)
	}
	if d := st.Poured - in.Progress.Volume; d < 0 || d > flow.ML(10) {
		t.Fatalf("on disk %v, line says %v", in.Progress.Volume, st.Poured)
	}
}

// TestSlowCommitsBringCheckpointsForward: after commits have been slow (the
// writer held for 300 ms), checkpoints are handed over earlier than half
// the interval, down to a quarter, because the progress on disk ages by the
// commit in progress and the checkpoint's own before it is replaced.
func TestSlowCommitsBringCheckpointsForward(t *testing.T) {
	h := newHarness(t, nil)
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, Price: price})
	h.pour(1, 60, 10*time.Second)
	h.run(time.Second)
	release := h.stallWriter()
	h.run(300 * time.Millisecond)
	release()
	h.durableIntent(1)
	iv, tick := h.cfg.Storage.CheckpointInterval.Duration, h.cfg.Device.Tick.Duration
	for i := 0; i < 20; i++ {
		h.run(tick)
		in := h.durableIntent(1)
		if age := time.Duration(h.clk.Now().UnixMilli()-in.CheckpointAt) * time.Millisecond; age > iv/4+tick {
			t.Fatalf("tick %d after slow commits: progress on disk %v old, want at most %v", i, age, iv/4+tick)
		}
	}
}

// stallWriter holds the store's writer busy (a long fsync, a starved CPU)
// until the returned release is called.
func (h *harness) stallWriter() (release func()) {
	hold, started := make(chan struct{}), make(chan struct{})
	h.store.UpdateAsync("stall", func(storage.Bucket) error { close(started); <-hold; return nil }, func(error) {})
	<-started
	return func() { close(hold) }
}
