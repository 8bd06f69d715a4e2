package storage

import (
	"errors"
	"fmt"
	"github.com/tapagent/tapagent/internal/testwait"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tapagent/tapagent/flow"
)

// stallWriter blocks the writer inside a commit until release is called.
func stallWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	s.UpdateAsync("stall", func(Bucket) error { close(started); <-gate; return nil }, func(error) {})
	<-started
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

// returnsSoon fails t when f does not return: a call that must not block
// blocked (the deadline only catches a hang; it measures nothing).
func returnsSoon(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked behind a busy writer", what)
	}
}

// fillQueue makes n writes through the writer's shared queue from
// goroutines of their own, and returns once the queue is full (the writer
// must be stalled); note hears each outcome. Wait on the group for them.
func fillQueue(t *testing.T, s *Store, n int, note func(string) func(error)) *sync.WaitGroup {
	t.Helper()
	var queued sync.WaitGroup
	for i := 0; i < n; i++ {
		queued.Add(1)
		go func(i int) {
			defer queued.Done()
			err := s.Update("other", func(b Bucket) error { return b.Put([]byte{byte(i)}, nil) })
			note(fmt.Sprint("job", i))(err)
		}(i)
	}
	// The queue fills; the writer is stuck.
	testwait.Until(t, 10*time.Second, "the write queue fills", func() bool { return len(s.jobs) == cap(s.jobs) })
	return &queued
}

// TestCheckpointJumpsTheQueue fills the writer's queue while it is stuck in
// a commit: a checkpoint must neither block nor wait for the queue, but go
// first into the next commit, and of two checkpoints for the same line only
// the newer is written.
func TestCheckpointJumpsTheQueue(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in, err := s.CreateIntent(7, Intent{Line: 1})
	if err != nil {
		t.Fatal(err)
	}
	release := stallWriter(t, s)
	var mu sync.Mutex
	var order []string
	note := func(what string) func(error) {
		return func(err error) {
			if err != nil {
				t.Error(what, err)
			}
			mu.Lock()
			order = append(order, what)
			mu.Unlock()
		}
	}
	queued := fillQueue(t, s, 8, note)
	for i, vol := range []flow.Vol{100, 200} {
		in.Progress.Volume = vol
		returnsSoon(t, "Checkpoint", func() { s.Checkpoint(in, note(fmt.Sprint("checkpoint", i))) })
	}
	release()
	queued.Wait()
	if err := s.PutCache("barrier", nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) < 2 || order[0] != "checkpoint0" || order[1] != "checkpoint1" {
		t.Fatalf("commit order %v: the checkpoints must come first", order)
	}
	ins, _ := s.Intents()
	if len(ins) != 1 || ins[0].Progress.Volume != 200 {
		t.Fatalf("on disk %+v", ins)
	}
}

// TestAppendEventNeverBlocks raises more events than the log keeps while
// the writer is stuck: every call returns, the oldest beyond the log's size
// are dropped as the log would have trimmed them, and the rest are written.
func TestAppendEventNeverBlocks(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{MaxBatch: 4, MaxEvents: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := stallWriter(t, s)
	var wg sync.WaitGroup
	returnsSoon(t, "AppendEvent", func() {
		for i := 0; i < 50; i++ {
			wg.Add(1)
			s.AppendEvent([]byte(fmt.Sprint(i)), func(err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			})
		}
	})
	release()
	wg.Wait()
	evs, _ := s.Events(100)
	if len(evs) != 20 || string(evs[0]) != "30" || string(evs[19]) != "49" {
		t.Fatalf("log holds %d events from %s", len(evs), evs[0])
	}
}

// TestUpdateAsyncNeverBlocks fills the writer's shared queue while the
// writer is stuck in a commit (a slow fsync): UpdateAsync, which the
// audit's event counters use on the pour path, must still return at once.
// Writes beyond MaxAsync are refused with ErrQueueFull; the accepted ones
// are written once the writer moves again.
func TestUpdateAsyncNeverBlocks(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{MaxBatch: 4, MaxAsync: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := stallWriter(t, s)
	queued := fillQueue(t, s, 8, func(string) func(error) { return func(error) {} })
	var mu sync.Mutex
	var refused, written int
	var wg sync.WaitGroup
	returnsSoon(t, "UpdateAsync", func() {
		for i := 0; i < 12; i++ {
			wg.Add(1)
			s.UpdateAsync("audit", func(b Bucket) error { return b.Put([]byte{byte(i)}, []byte("n")) }, func(err error) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, ErrQueueFull):
					refused++
				case err != nil:
					t.Error(err)
				default:
					written++
				}
				wg.Done()
			})
		}
	})
	mu.Lock()
	if refused != 4 {
		t.Errorf("%d refused while the writer was stuck, want the 4 beyond MaxAsync", refused)
	}
	mu.Unlock()
	release()
	wg.Wait()
	queued.Wait()
	n := 0
	s.View("audit", func(b Bucket) error { return b.ForEach(func(k, v []byte) error { n++; return nil }) })
	if written != 8 || n != 8 {
		t.Fatalf("%d writes reported, %d on disk, want 8", written, n)
	}
}

// TestCommitsStaySmallWhilePouring: with a pour running (a checkpoint was
// committed within the last second) no commit takes more than PourBatch
// queued writes, so a checkpoint handed over during a commit never waits
// behind a large one; with no pour the writer batches up to MaxBatch.
func TestCommitsStaySmallWhilePouring(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pouring bool
		want    int // the largest commit of the 20 queued writes
	}{{"pouring", true, 4}, {"idle", false, 20}} {
		t.Run(tc.name, func(t *testing.T) {
			at := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
			s, err := Open(filepath.Join(t.TempDir(), "db"), Options{MaxBatch: 64, PourBatch: 4, Now: func() time.Time { return at }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.pouring {
				in, err := s.CreateIntent(7, Intent{Line: 1})
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				s.Checkpoint(in, func(err error) { done <- err })
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			release := stallWriter(t, s)
			var mu sync.Mutex
			perTx := map[int]int{}
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				s.submit(func(tx *bolt.Tx) error {
					mu.Lock()
					perTx[tx.ID()]++
					mu.Unlock()
					return nil
				}, func(error) { wg.Done() })
			}
			release()
			wg.Wait()
			largest := 0
			for _, n := range perTx {
				largest = max(largest, n)
			}
			if largest != tc.want {
				t.Fatalf("largest commit took %d of the queued writes (%v), want %d", largest, perTx, tc.want)
			}
		})
	}
}
