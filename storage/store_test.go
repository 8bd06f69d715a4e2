package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/diskfull"
)

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tapagent.db")
	s, err := Open(path, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func pourRecord(id string, line int, vol flow.Vol) Record {
	return Record{ID: id, Kind: KindPour, Line: line, StartedAt: 1, EndedAt: 2, ClockSynced: true,
		Pour: flow.Result{Volume: vol, Charged: vol, Amount: int64(vol) / 10, Pulses: int64(vol) / 2}}
}

func TestIntentCheckpointBook(t *testing.T) {
	s, path := openTemp(t)
	in, err := s.CreateIntent(7, Intent{Line: 2, Auth: flow.Auth{Mode: flow.ModeFree}, KMilli: 5400000})
	if err != nil {
		t.Fatal(err)
	}
	if in.PourID != "7-1" {
		t.Fatalf("pour id %q", in.PourID)
	}
	if _, err := s.CreateIntent(7, Intent{Line: 2}); err == nil {
		t.Fatal("second intent on a busy line accepted")
	}
	in.Progress = flow.Progress{Pulses: 100, Volume: 185}
	done := make(chan error, 1)
	s.Checkpoint(in, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := s.Intents()
	if err != nil || len(got) != 1 || got[0].Progress.Volume != 185 {
		t.Fatalf("intents %+v %v", got, err)
	}
	keg := flow.Keg{Size: 1000, Remaining: 815}
	seq, err := s.Book(Booking{Record: pourRecord(in.PourID, 2, 185), Keg: &keg})
	if err != nil || seq != 1 {
		t.Fatalf("book: %d %v", seq, err)
	}
	// A late checkpoint must not resurrect a booked pour.
	s.Checkpoint(in, func(err error) { done <- err })
	<-done
	if got, _ := s.Intents(); len(got) != 0 {
		t.Fatalf("intent survived booking: %+v", got)
	}
	// Booking the same id again changes nothing.
	seq2, err := s.Book(Booking{Record: pourRecord(in.PourID, 2, 999)})
	if !errors.Is(err, ErrDuplicate) || seq2 != 1 {
		t.Fatalf("duplicate: %d %v", seq2, err)
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	recs, _ := s2.Outbox(0, 10)
	kegs, _ := s2.Kegs()
	if len(recs) != 1 || recs[0].Pour.Volume != 185 || recs[0].Seq != 1 || kegs[2].Remaining != 815 {
		t.Fatalf("after reopen: %+v %+v", recs, kegs)
	}
}

func TestOutboxOrderAndEvents(t *testing.T) {
	s, _ := openTemp(t)
	for i := 1; i <= 5; i++ {
		if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint(i), 1, flow.Vol(i))}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.Outbox(2, 2)
	if err != nil || len(recs) != 2 || recs[0].ID != "3" || recs[1].ID != "4" {
		t.Fatalf("outbox page: %+v %v", recs, err)
	}
	if n, _ := s.OutboxLen(); n != 5 {
		t.Fatalf("outbox len %d", n)
	}
	if err := s.Ack(recs[0].Seq, recs[1].Seq); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.OutboxLen(); n != 3 || s.IndexLen() != 3 {
		t.Fatalf("after ack: outbox %d, index %d", n, s.IndexLen())
	}
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		s.AppendEvent([]byte(fmt.Sprintf(`{"n":%d}`, i)), func(error) { wg.Done() })
	}
	wg.Wait()
	evs, _ := s.Events(100)
	if len(evs) != 30 || string(evs[29]) != `{"n":29}` {
		t.Fatalf("events %d, last %s", len(evs), evs[len(evs)-1])
	}
}

func TestEventLogIsCapped(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{MaxEvents: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 100)
	for i := 0; i < 25; i++ {
		s.AppendEvent([]byte(fmt.Sprint(i)), func(err error) { done <- err })
	}
	for i := 0; i < 25; i++ {
		<-done
	}
	evs, _ := s.Events(100)
	if len(evs) != 10 || string(evs[0]) != "15" {
		t.Fatalf("kept %d events starting %s", len(evs), evs[0])
	}
}

func TestCorruptFileIsMovedAside(t *testing.T) {
	cases := map[string]func(path string) error{
		"garbage": func(p string) error { return os.WriteFile(p, []byte(strings.Repeat("not a bbolt file ", 2000)), 0o600) },
		"truncated": func(p string) error {
			s, err := Open(p, Options{})
			if err != nil {
				return err
			}
			for i := 0; i < 50; i++ {
				if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint(i), 1, 10)}); err != nil {
					return err
				}
			}
			s.Close()
			return os.Truncate(p, 4096*3)
		},
		"scribbled pages": func(p string) error {
			s, err := Open(p, Options{})
			if err != nil {
				return err
			}
			for i := 0; i < 200; i++ {
				s.Book(Booking{Record: pourRecord(fmt.Sprint(i), 1, 10)})
			}
			s.Close()
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
			for off := int64(4 * 4096); off < 12*4096; off += 4096 {
				f.WriteAt(junk, off)
			}
			return nil
		},
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tapagent.db")
			if err := corrupt(path); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{Now: func() time.Time { return time.Unix(1700000000, 0) }})
			if err != nil {
				t.Fatalf("open after corruption: %v", err)
			}
			defer s.Close()
			if s.MovedAside() == "" {
				t.Fatal("corruption not reported")
			}
			if _, err := os.Stat(s.MovedAside()); err != nil {
				t.Fatalf("moved file: %v", err)
			}
			if _, err := s.Book(Booking{Record: pourRecord("x", 1, 1)}); err != nil {
				t.Fatalf("fresh database unusable: %v", err)
			}
		})
	}
}

func TestLockedDatabaseTimesOut(t *testing.T) {
	_, path := openTemp(t)
	start := time.Now()
	_, err := Open(path, Options{OpenTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("open did not time out")
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	s, path := openTemp(t)
	if err := s.update(func(tx *bboltTx) error { return tx.Bucket(bMeta).Put(kSchema, u64(SchemaVersion+1)) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestWritesAfterCloseFail(t *testing.T) {
	s, _ := openTemp(t)
	s.Close()
	if _, err := s.Book(Booking{Record: pourRecord("a", 1, 1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("book after close: %v", err)
	}
}

// TestDiskFull fills the file-size limit (RLIMIT_FSIZE, which behaves like
// a full disk for this process: writes fail with EFBIG) and checks that
// every failed booking reports an error, nothing is half-written, and after
// space returns the same bookings succeed exactly once.
func TestDiskFull(t *testing.T) {
	if !diskfull.InChild(t) {
		return
	}
	s, path := openTemp(t)
	st, _ := os.Stat(path)
	restore, err := diskfull.Limit(st.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	var failed []Record
	booked := 0
	for i := 0; i < 2000 && len(failed) < 5; i++ {
		r := pourRecord(fmt.Sprint(i), 1, flow.Vol(i))
		r.Ref = Ref{CardName: strings.Repeat("x", 200)}
		if _, err := s.Book(Booking{Record: r}); err != nil {
			failed = append(failed, r)
		} else {
			booked++
		}
	}
	restore()
	if len(failed) == 0 {
		t.Fatal("the size limit never bit")
	}
	for _, r := range failed {
		if _, err := s.Book(Booking{Record: r}); err != nil {
			t.Fatalf("retry after space returned: %v", err)
		}
	}
	n, _ := s.OutboxLen()
	if n != booked+len(failed) {
		t.Fatalf("outbox has %d, want %d booked + %d retried", n, booked, len(failed))
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil || s2.MovedAside() != "" {
		t.Fatalf("reopen after disk full: %v moved=%q", err, s2.MovedAside())
	}
	s2.Close()
}

func TestGroupCommitUnderConcurrency(t *testing.T) {
	s, _ := openTemp(t)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, err := s.Book(Booking{Record: pourRecord(fmt.Sprintf("%d-%d", g, i), g+1, 1)})
				errs <- err
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.OutboxLen(); n != 400 {
		t.Fatalf("outbox %d", n)
	}
}
