package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/fsfault"
	bolt "go.etcd.io/bbolt"
)

func openSinks(t *testing.T, path string, sinks ...string) *Store {
	t.Helper()
	s, err := Open(path, Options{OpenTimeout: time.Second, Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sinkOf(t *testing.T, s *Store, name string) *SinkView {
	t.Helper()
	v, err := s.Sink(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func seqsOf(recs []Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func bookN(t *testing.T, s *Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint("p", i), 1, flow.Vol(10*i))}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEverySinkTakesEveryRecordOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tapagent.db")
	s := openSinks(t, path, "ttg", "smartnow")
	bookN(t, s, 1, 6)
	ttg, sn := sinkOf(t, s, "ttg"), sinkOf(t, s, "smartnow")
	recs, err := ttg.Outbox(0, 100)
	if err != nil || len(recs) != 6 {
		t.Fatalf("ttg outbox %d %v", len(recs), err)
	}
	// Out of order: 2 and 5 first, then the rest.
	if err := ttg.Ack(recs[1].Seq, recs[4].Seq); err != nil {
		t.Fatal(err)
	}
	if got, _ := ttg.Outbox(0, 100); len(got) != 4 || got[0].ID != "p1" || got[1].ID != "p3" {
		t.Fatalf("ttg after partial ack: %v", seqsOf(got))
	}
	if n, _ := s.OutboxLen(); n != 6 {
		t.Fatalf("outbox %d: records left before smartnow took them", n)
	}
	if err := ttg.Ack(seqsOf(recs)...); err != nil {
		t.Fatal(err)
	}
	if got, _ := ttg.Outbox(0, 100); len(got) != 0 {
		t.Fatalf("ttg sees %d records again", len(got))
	}
	got, _ := sn.Outbox(0, 100)
	if len(got) != 6 {
		t.Fatalf("smartnow sees %d", len(got))
	}
	if err := sn.Bury(got[2].Seq, "refused", 5); err != nil {
		t.Fatal(err)
	}
	if err := sn.Ack(seqsOf(got[:2])...); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.OutboxLen(); n != 3 || s.IndexLen() != 3 {
		t.Fatalf("outbox %d index %d, want 3 left for smartnow", n, s.IndexLen())
	}
	dl, _ := sn.DeadLetters()
	if tdl, _ := ttg.DeadLetters(); len(dl) != 1 || dl[0].Record.ID != "p3" || len(tdl) != 0 {
		t.Fatalf("dead letters smartnow %+v ttg %+v", dl, tdl)
	}
	// A restart keeps each cursor.
	s.Close()
	s = openSinks(t, path, "ttg", "smartnow")
	if got, _ := sinkOf(t, s, "smartnow").Outbox(0, 100); len(got) != 3 || got[0].ID != "p4" {
		t.Fatalf("smartnow after reopen: %d", len(got))
	}
	if got, _ := sinkOf(t, s, "ttg").Outbox(0, 100); len(got) != 0 {
		t.Fatalf("ttg after reopen: %d", len(got))
	}
}

func TestSinkDownHoldsOnlyItsOwnRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tapagent.db")
	s := openSinks(t, path, "ttg", "smartnow")
	ttg := sinkOf(t, s, "ttg")
	for round := 0; round < 20; round++ {
		bookN(t, s, round*10, 10)
		recs, err := ttg.Outbox(0, 100)
		if err != nil || len(recs) != 10 {
			t.Fatalf("round %d: ttg has %d waiting %v", round, len(recs), err)
		}
		if err := ttg.Ack(seqsOf(recs)...); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.SinkStatuses()
	if err != nil || len(st) != 2 || st[0].Depth != 0 || st[1].Depth != 200 || st[1].Oldest.ID != "p0" {
		t.Fatalf("statuses %+v %v", st, err)
	}
	// Taking smartnow out of the configuration releases its records.
	s.Close()
	s = openSinks(t, path, "ttg")
	if n, _ := s.OutboxLen(); n != 0 {
		t.Fatalf("outbox %d after smartnow was removed", n)
	}
	if _, err := s.Sink("smartnow"); !errors.Is(err, ErrUnknownSink) {
		t.Fatalf("removed sink: %v", err)
	}
}

func TestNoteErrorAndStatus(t *testing.T) {
	s := openSinks(t, filepath.Join(t.TempDir(), "tapagent.db"), "ttg", "smartnow")
	sn := sinkOf(t, s, "smartnow")
	if err := sn.NoteError("connection refused", 42); err != nil {
		t.Fatal(err)
	}
	st, _ := sn.Status()
	if st.LastError.Msg != "connection refused" || st.LastError.At != 42 {
		t.Fatalf("status %+v", st)
	}
	_ = sn.NoteError("", 43)
	if st, _ := sn.Status(); st.LastError.Msg != "" {
		t.Fatalf("error not cleared: %+v", st)
	}
}

func TestStreamSequenceAndStamp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tapagent.db")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Store {
		s, err := Open(path, Options{Stamp: Stamp{Zone: berlin, Currency: "EUR", Decimals: 2}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	summer := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	kinds := []string{KindPour, KindCleaning, KindVend, KindPour}
	for i, k := range kinds {
		r := pourRecord(fmt.Sprint("s", i), 1, 100)
		r.Kind, r.EndedAt = k, summer
		if _, err := s.Book(Booking{Record: r}); err != nil {
			t.Fatal(err)
		}
	}
	// A duplicate booking takes no number.
	if _, err := s.Book(Booking{Record: pourRecord("s0", 1, 100)}); !errors.Is(err, ErrDuplicate) {
		t.Fatal(err)
	}
	s.Close()
	s = open()
	defer s.Close()
	r := pourRecord("s9", 1, 100)
	r.EndedAt = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	if _, err := s.Book(Booking{Record: r}); err != nil {
		t.Fatal(err)
	}
	recs, _ := s.Outbox(0, 10)
	want := []struct {
		stream string
		seq    uint64
		off    int
	}{{StreamSales, 1, 7200}, {StreamService, 1, 7200}, {StreamSales, 2, 7200}, {StreamSales, 3, 7200}, {StreamSales, 4, 3600}}
	if len(recs) != len(want) {
		t.Fatalf("%d records", len(recs))
	}
	for i, w := range want {
		r := recs[i]
		if r.Stream != w.stream || r.StreamSeq != w.seq || r.Zone != "Europe/Berlin" || r.UTCOffset == nil || *r.UTCOffset != w.off ||
			r.Currency != "EUR" || r.Decimals != 2 {
			t.Errorf("record %d: %s %d %s %v %s %d, want %+v", i, r.Stream, r.StreamSeq, r.Zone, r.UTCOffset, r.Currency, r.Decimals, w)
		}
	}
}

// TestCursorPassesRecordsEverySinkHad: records removed because every sink
// had them (acknowledged out of order) do not hold a cursor back.
func TestCursorPassesRecordsEverySinkHad(t *testing.T) {
	s := openSinks(t, filepath.Join(t.TempDir(), "tapagent.db"), "ttg", "smartnow")
	bookN(t, s, 1, 3)
	ttg, sn := sinkOf(t, s, "ttg"), sinkOf(t, s, "smartnow")
	if err := sn.Ack(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := ttg.Ack(3); err != nil {
		t.Fatal(err)
	}
	if c, _ := ttg.Cursor(); c != 0 {
		t.Fatalf("ttg cursor %d with record 1 pending", c)
	}
	if err := ttg.Ack(2, 1); err != nil {
		t.Fatal(err)
	}
	if c, _ := ttg.Cursor(); c != 3 {
		t.Fatalf("ttg cursor %d after taking everything", c)
	}
	if n, _ := s.OutboxLen(); n != 0 {
		t.Fatalf("outbox %d", n)
	}
}

// TestFieldToolKeepsSinks: opening the store without naming sinks (a field
// tool) keeps every sink the file knows and their backlogs.
func TestFieldToolKeepsSinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tapagent.db")
	s := openSinks(t, path, "ttg", "smartnow")
	bookN(t, s, 1, 2)
	if err := sinkOf(t, s, "ttg").Ack(1, 2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	tool, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tool.Sinks(); len(got) != 2 {
		t.Fatalf("sinks %v", got)
	}
	if n, _ := tool.OutboxLen(); n != 2 {
		t.Fatalf("outbox %d: smartnow's backlog was dropped", n)
	}
	tool.Close()
}

// TestMoveAsideContinuesStreams: after a move-aside the device sequences
// go on past the old ones; when their counters are unreadable, far past
// them, so that no cloud sees an idempotency key twice.
func TestMoveAsideContinuesStreams(t *testing.T) {
	for _, tc := range []struct {
		name        string
		dropStreams bool
		min         uint64
	}{{"counters read", false, 4}, {"counters lost", true, streamReseedFloor}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tapagent.db")
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			bookN(t, s, 1, 3)
			var wg sync.WaitGroup
			for i := 0; i < 300; i++ {
				wg.Add(1)
				s.AppendEvent([]byte(fmt.Sprintf(`{"type":"test","n":%d,"pad":"%s"}`, i, strings.Repeat("x", 40))), func(error) { wg.Done() })
			}
			wg.Wait()
			s.Close()
			if tc.dropStreams {
				db, err := bolt.Open(path, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bStreams) }); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			fsfault.ScribbleBucket(t, path, string(bEvents))
			s, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.MovedAside() == "" {
				t.Fatal("corruption not detected")
			}
			if _, err := s.Book(Booking{Record: pourRecord("after", 1, 10)}); err != nil {
				t.Fatal(err)
			}
			recs, _ := s.Outbox(0, 100)
			last := recs[len(recs)-1]
			if last.ID != "after" || last.StreamSeq < tc.min {
				t.Fatalf("the sequence after the move-aside: %s %d, want ≥ %d", last.ID, last.StreamSeq, tc.min)
			}
		})
	}
}
