package device

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// TestCompletedLoginsAreBounded: the remembered transactions stay within
// their count and their time limit, oldest first, and survive a reopen.
func TestCompletedLoginsAreBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	st, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC)
	lim := doneLimits{ttl: time.Hour, max: 3}
	put := func(txn string, at time.Time) {
		t.Helper()
		if err := st.Update(RemoteBucket, func(b storage.Bucket) error {
			return putCompleted(b, doneKey(txn), []byte(`{"card":"1"}`), at, lim)
		}); err != nil {
			t.Fatal(err)
		}
	}
	have := func(want map[string]bool) {
		t.Helper()
		err := st.View(RemoteBucket, func(b storage.Bucket) error {
			for txn, kept := range want {
				if got := b.Get(doneKey(txn)) != nil; got != kept {
					t.Errorf("%s kept %v, want %v", txn, got, kept)
				}
			}
			if n, want := doneCount(b), uint64(len(filter(want))); n != want {
				t.Errorf("count %d, want %d", n, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		put(fmt.Sprintf("T-%d", i), t0.Add(time.Duration(i)*time.Minute))
	}
	have(map[string]bool{"T-0": false, "T-1": true, "T-2": true, "T-3": true})
	put("T-3", t0.Add(5*time.Minute)) // an update is no new entry
	have(map[string]bool{"T-1": true, "T-2": true, "T-3": true})
	st.Close()
	if st, err = storage.Open(path, storage.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	have(map[string]bool{"T-1": true, "T-2": true, "T-3": true})
	// An hour and two minutes on: T-1 and T-2 (at 1 and 2 min) expire, T-3 (3 min) stays.
	put("T-4", t0.Add(time.Hour+2*time.Minute+time.Second))
	have(map[string]bool{"T-1": false, "T-2": false, "T-3": true, "T-4": true})
}

func filter(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	return out
}

// BenchmarkRecordCompleted is one durable record of a finished remote
// login into a full store (10,000 kept: every record prunes the oldest).
func BenchmarkRecordCompleted(b *testing.B) {
	st, err := storage.Open(filepath.Join(b.TempDir(), "db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC)
	lim := doneLimits{ttl: CompletedLoginTTL, max: MaxCompletedLogins}
	raw := []byte(`{"at":0,"card":"424242","login":{},"purchase":{}}`)
	fill := func(i int) func(storage.Bucket) error {
		return func(bk storage.Bucket) error {
			return putCompleted(bk, doneKey(fmt.Sprintf("T-%d", i)), raw, t0.Add(time.Duration(i)*time.Millisecond), lim)
		}
	}
	for i := 0; i < MaxCompletedLogins; i += 500 {
		if err := st.Update(RemoteBucket, func(bk storage.Bucket) error {
			for j := i; j < i+500; j++ {
				if err := fill(j)(bk); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		if err := st.Update(RemoteBucket, fill(MaxCompletedLogins+i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = st.View(RemoteBucket, func(bk storage.Bucket) error {
		if n := doneCount(bk); n != MaxCompletedLogins {
			b.Fatalf("%d kept, want %d", n, MaxCompletedLogins)
		}
		return nil
	})
}

// TestPruneCompletedLogins: the periodic prune drops what the TTL let go
// even when no new remote login arrives to prune them.
func TestPruneCompletedLogins(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC)
	lim := doneLimits{ttl: CompletedLoginTTL, max: MaxCompletedLogins}
	for i := range 5 {
		if err := st.Update(RemoteBucket, func(b storage.Bucket) error {
			return putCompleted(b, doneKey(fmt.Sprint("T-", i)), []byte(`{}`), t0.Add(time.Duration(i)*time.Hour), lim)
		}); err != nil {
			t.Fatal(err)
		}
	}
	a := &Agent{store: st}
	// 26 h 1 min after the first: T-0, T-1 and T-2 are over 24 h old and go.
	n, err := a.PruneCompletedLogins(context.Background(), t0.Add(26*time.Hour+time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3", n, err)
	}
	if n, err := a.PruneCompletedLogins(context.Background(), t0.Add(26*time.Hour+time.Minute)); n != 0 || err != nil {
		t.Fatalf("again: %d, %v", n, err)
	}
	err = st.View(RemoteBucket, func(b storage.Bucket) error {
		if doneCount(b) != 2 || b.Get(doneKey("T-2")) != nil || b.Get(doneKey("T-3")) == nil {
			t.Errorf("count %d, T-2 kept %v, T-3 kept %v", doneCount(b), b.Get(doneKey("T-2")) != nil, b.Get(doneKey("T-3")) != nil)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
