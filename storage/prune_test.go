package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testHistory is a bucket laid out as the history bucket will be: keys
// start with the 8-byte big-endian unix-nanosecond time.
const testHistory = "history_test"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fillTimeKeyed writes n entries of size bytes each (key + value), one a
// minute from t0, into the top-level bucket name.
func fillTimeKeyed(t testing.TB, s *Store, name string, n, size int) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		for i := range n {
			k := binary.BigEndian.AppendUint64(nil, uint64(t0.Add(time.Duration(i)*time.Minute).UnixNano()))
			k = binary.BigEndian.AppendUint32(k, uint32(i)) // a suffix, as a history key may carry
			if err := b.Put(k, make([]byte, size-len(k))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// timeKeys lists the times of the entries left, oldest first.
func timeKeys(t testing.TB, s *Store, name string) []time.Time {
	t.Helper()
	var out []time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		return timeBucket(tx, []byte(name)).ForEach(func(k, _ []byte) error {
			out = append(out, time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC())
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPruneTimeKeyed(t *testing.T) {
	now := t0.Add(1000 * time.Minute) // entries are 1000..1 minutes old
	for _, tc := range []struct {
		name      string
		r         Retention
		left      int
		firstLeft time.Time
	}{
		{"no bound keeps all", Retention{}, 1000, t0},
		{"age", Retention{MaxAge: 100 * time.Minute}, 100, t0.Add(900 * time.Minute)},
		{"age exactly at an entry keeps it", Retention{MaxAge: 1000 * time.Minute}, 1000, t0},
		{"bytes", Retention{MaxBytes: 250 * 100}, 250, t0.Add(750 * time.Minute)},
		{"bytes not a multiple keeps under", Retention{MaxBytes: 250*100 + 99}, 250, t0.Add(750 * time.Minute)},
		{"the tighter of both: age", Retention{MaxAge: 10 * time.Minute, MaxBytes: 1 << 20}, 10, t0.Add(990 * time.Minute)},
		{"the tighter of both: bytes", Retention{MaxAge: 900 * time.Minute, MaxBytes: 5 * 100}, 5, t0.Add(995 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTemp(t)
			fillTimeKeyed(t, s, testHistory, 1000, 100)
			n, err := s.PruneTimeKeyed(context.Background(), testHistory, now, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			left := timeKeys(t, s, testHistory)
			if n != 1000-tc.left || len(left) != tc.left {
				t.Fatalf("pruned %d, %d left; want %d left", n, len(left), tc.left)
			}
			if len(left) > 0 && !left[0].Equal(tc.firstLeft) {
				t.Fatalf("oldest left %v, want %v (oldest go first)", left[0], tc.firstLeft)
			}
			if got, _ := s.BucketBytes(testHistory); tc.r.MaxBytes > 0 && got > tc.r.MaxBytes {
				t.Fatalf("%d bytes left over the bound %d", got, tc.r.MaxBytes)
			}
		})
	}
}

// A bucket kept through Update (ext/) is found by the same name, a
// missing one has nothing to prune, and short keys (no time) stay.
func TestPruneTimeKeyedExtAndShortKeys(t *testing.T) {
	s, _ := openTemp(t)
	if n, err := s.PruneTimeKeyed(context.Background(), "missing", t0, Retention{MaxAge: time.Minute}); n != 0 || err != nil {
		t.Fatalf("missing bucket: %d, %v", n, err)
	}
	err := s.Update("hist", func(b Bucket) error {
		for i := range 10 {
			if err := b.Put(binary.BigEndian.AppendUint64(nil, uint64(t0.Add(time.Duration(i)*time.Hour).UnixNano())), []byte("x")); err != nil {
				return err
			}
		}
		return b.Put([]byte("n"), []byte("a counter"))
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneTimeKeyed(context.Background(), "hist", t0.Add(10*time.Hour), Retention{MaxAge: 3 * time.Hour, MaxBytes: 1})
	if err != nil || n != 10 {
		t.Fatalf("pruned %d, %v; want all 10 time keys", n, err)
	}
	if err := s.View("hist", func(b Bucket) error {
		if string(b.Get([]byte("n"))) != "a counter" {
			return fmt.Errorf("the short key was removed")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// More than one batch is pruned in several small commits, all of it.
func TestPruneTimeKeyedManyBatches(t *testing.T) {
	s, _ := openTemp(t)
	fillTimeKeyed(t, s, testHistory, 20*PruneBatch+7, 64)
	n, err := s.PruneTimeKeyed(context.Background(), testHistory, t0.Add(time.Duration(20*PruneBatch+7)*time.Minute), Retention{MaxAge: time.Minute})
	if err != nil || n != 20*PruneBatch+6 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fillTimeKeyed(t, s, testHistory, 10, 64)
	if _, err := s.PruneTimeKeyed(ctx, testHistory, t0.Add(time.Hour), Retention{MaxAge: time.Minute}); err == nil {
		t.Fatal("a cancelled prune went on")
	}
}

func TestPruneDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    DeadLetterRetention
		left []uint64
	}{
		{"no bound", DeadLetterRetention{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"count", DeadLetterRetention{MaxCount: 2}, []uint64{5, 6}},
		{"age", DeadLetterRetention{MaxAge: 60 * time.Hour}, []uint64{5, 6}},
		{"both", DeadLetterRetention{MaxAge: 60 * time.Hour, MaxCount: 1}, []uint64{6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTemp(t)
			now := t0.Add(6 * 24 * time.Hour)
			for i := 1; i <= 6; i++ {
				if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint("r", i), 1, 3000)}); err != nil {
					t.Fatal(err)
				}
				// buried one a day: seq 1 six days ago ... seq 6 a day ago
				if err := s.Bury(uint64(i), "refused", now.Add(-time.Duration(7-i)*24*time.Hour).UnixMilli()); err != nil {
					t.Fatal(err)
				}
			}
			// one more still waiting for the server: pruning never touches it
			if _, err := s.Book(Booking{Record: pourRecord("waiting", 1, 3000)}); err != nil {
				t.Fatal(err)
			}
			n, err := s.PruneDeadLetters(context.Background(), now, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			dl, err := s.DeadLetters()
			if err != nil {
				t.Fatal(err)
			}
			var left []uint64
			for _, d := range dl {
				left = append(left, d.Seq)
			}
			if fmt.Sprint(left) != fmt.Sprint(tc.left) || n != 6-len(tc.left) {
				t.Fatalf("left %v (pruned %d), want %v", left, n, tc.left)
			}
			if out, _ := s.Outbox(0, 10); len(out) != 1 || out[0].ID != "waiting" {
				t.Fatalf("outbox %v, want the waiting record", out)
			}
		})
	}
}

// Pruning every time-keyed bucket and the dead letters to nothing leaves
// every record still in the outbox, and its idempotency entry.
func TestPruneNeverTouchesOutbox(t *testing.T) {
	s, _ := openTemp(t)
	for i := range 50 {
		if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint("p", i), 1+i%4, 3000)}); err != nil {
			t.Fatal(err)
		}
	}
	fillTimeKeyed(t, s, testHistory, 100, 100)
	ctx := context.Background()
	if _, err := s.PruneTimeKeyed(ctx, testHistory, t0.Add(365*24*time.Hour), Retention{MaxAge: time.Nanosecond, MaxBytes: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PruneDeadLetters(ctx, t0.Add(365*24*time.Hour), DeadLetterRetention{MaxAge: time.Nanosecond, MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"outbox", "pour_ids"} {
		if _, err := s.PruneTimeKeyed(ctx, name, t0.Add(365*24*time.Hour), Retention{MaxAge: time.Nanosecond}); err == nil {
			t.Fatalf("pruning %s was allowed", name)
		}
	}
	if n, _ := s.OutboxLen(); n != 50 || s.IndexLen() != 50 {
		t.Fatalf("outbox %d, index %d after pruning; want 50 each", n, s.IndexLen())
	}
}

// TestTimeOrderedPagesAreFull: the history's pages are filled, not left
// half empty at each split as bbolt does by default, so a long history
// takes half the file.
func TestTimeOrderedPagesAreFull(t *testing.T) {
	s, _ := openTemp(t)
	for day := range 20 {
		err := s.Update("history", func(b Bucket) error {
			for i := range 500 {
				k := binary.BigEndian.AppendUint64(nil, uint64(t0.Add(time.Duration(day*500+i)*time.Second).UnixNano()))
				if err := b.Put(k, make([]byte, 300)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		st := tx.Bucket([]byte("ext/history")).Stats()
		if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.85 {
			t.Errorf("history leaf pages %.0f%% full", 100*fill)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every sink's dead letters are bounded on their own: a sink that refuses
// everything does not push out another's, and a sink taken out of the
// configuration has its dead letters pruned by age too.
func TestPruneDeadLettersPerSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	s := openSinks(t, path, DefaultSink, "smartnow", "telemetron", "gone")
	now := t0.Add(10 * 24 * time.Hour)
	views := map[string]*SinkView{}
	for _, name := range []string{DefaultSink, "smartnow", "telemetron", "gone"} {
		v, err := s.Sink(name)
		if err != nil {
			t.Fatal(err)
		}
		views[name] = v
	}
	for i := 1; i <= 8; i++ {
		if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint("r", i), 1, 3000)}); err != nil {
			t.Fatal(err)
		}
		at := now.Add(-time.Duration(9-i) * 24 * time.Hour).UnixMilli() // seq 1 eight days ago ... seq 8 a day ago
		if err := views["smartnow"].Bury(uint64(i), "refused", at); err != nil {
			t.Fatal(err)
		}
		if i <= 2 { // two old ones
			if err := views["gone"].Bury(uint64(i), "refused", at); err != nil {
				t.Fatal(err)
			}
		}
		if i == 8 {
			if err := views["telemetron"].Bury(uint64(i), "refused", at); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := s.PruneDeadLetters(context.Background(), now, DeadLetterRetention{MaxAge: 5 * 24 * time.Hour, MaxCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	left := func(name string) []uint64 {
		dl, err := views[name].DeadLetters()
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, d := range dl {
			seqs = append(seqs, d.Seq)
		}
		return seqs
	}
	if got := fmt.Sprint(left("smartnow"), left("telemetron"), left("gone")); got != "[6 7 8] [8] []" || n != 5+2 {
		t.Fatalf("left %s after pruning %d, want [6 7 8] [8] [] after 7", got, n)
	}
	if out, _ := s.Outbox(0, 10); len(out) != 8 {
		t.Fatalf("the outbox holds %d records, want 8: pruning dead letters never touches it", len(out))
	}
}
