package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/fsfault"
)

// history makes a database that has lived: pours 7-1..7-12 created, 30
// records booked of which the first 20 were delivered and acknowledged,
// pour 7-12 still open on line 3, a dead letter, and enough events for the
// event log to need pages of its own. It returns the boot counter.
func history(t *testing.T, path string) uint64 {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.NextBoot(); err != nil {
		t.Fatal(err)
	}
	boot, _ := s.NextBoot()
	for i := 1; i <= 11; i++ {
		in, err := s.CreateIntent(7, Intent{Line: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Book(Booking{Record: pourRecord(in.PourID, 1, flow.Vol(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 12; i <= 30; i++ {
		if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprintf("7-b%d-u%d", boot, i), 2, flow.Vol(i))}); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := s.Outbox(0, 20)
	seqs := []uint64{}
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	if err := s.Ack(seqs...); err != nil {
		t.Fatal(err)
	}
	if err := s.Bury(21, "server refused it", 5); err != nil {
		t.Fatal(err)
	}
	in, err := s.CreateIntent(7, Intent{Line: 3, Auth: flow.Auth{Mode: flow.ModeFree}})
	if err != nil || in.PourID != "7-12" {
		t.Fatalf("intent %+v %v", in, err)
	}
	in.Progress = flow.Progress{Pulses: 400, Volume: 727}
	done := make(chan error, 1)
	s.Checkpoint(in, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		s.AppendEvent([]byte(fmt.Sprintf(`{"type":"test","n":%d,"pad":"%s"}`, i, strings.Repeat("x", 40))), func(error) { wg.Done() })
	}
	wg.Wait()
	return boot
}

func TestMoveAsideSalvagesAndContinuesIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tapagent.db")
	boot := history(t, path)
	fsfault.ScribbleBucket(t, path, string(bEvents))
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.MovedAside() == "" {
		t.Fatal("corruption not detected")
	}
	rep := s.Salvage()
	t.Logf("%s", rep)
	if rep.Records != 9 || rep.OpenPours != 1 || rep.DeadLetters != 1 || rep.PourSeq != 12 || rep.Reseeded {
		t.Fatalf("salvage %+v", rep)
	}
	recs, _ := s.Outbox(0, 100)
	for i, r := range recs {
		// Delivered records (the first 20) must not come back from freed pages.
		if want := fmt.Sprintf("7-b%d-u%d", boot, 22+i); r.ID != want || r.Seq <= 30 {
			t.Fatalf("outbox[%d] = %s seq %d, want %s after seq 30", i, r.ID, r.Seq, want)
		}
	}
	if len(recs) != 9 {
		t.Fatalf("outbox %d records", len(recs))
	}
	ins, _ := s.Intents()
	if len(ins) != 1 || ins[0].PourID != "7-12" || ins[0].Progress.Volume != 727 {
		t.Fatalf("open pours %+v", ins)
	}
	dead, _ := s.DeadLetters()
	if len(dead) != 1 || dead[0].Record.ID != fmt.Sprintf("7-b%d-u21", boot) {
		t.Fatalf("dead letters %+v", dead)
	}
	if _, err := s.Book(Booking{Record: pourRecord("7-12", 3, 727)}); err != nil {
		t.Fatal(err)
	}
	in, err := s.CreateIntent(7, Intent{Line: 3})
	if err != nil || in.PourID != "7-13" {
		t.Fatalf("first pour id after the move %q %v, want 7-13", in.PourID, err)
	}
	if b, _ := s.NextBoot(); b != boot+1 {
		t.Fatalf("boot %d after the move, want %d", b, boot+1)
	}
}

func TestUnreadableHistoryReseedsIDs(t *testing.T) {
	for name, corrupt := range map[string]func(path string) error{
		"garbage": func(p string) error { return os.WriteFile(p, bytes.Repeat([]byte("beer mat "), 3000), 0o600) },
		"both meta pages": func(p string) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(make([]byte, 2*4096), 0)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tapagent.db")
			history(t, path)
			if err := corrupt(path); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rep := s.Salvage()
			if s.MovedAside() == "" || !rep.Reseeded || rep.PourSeq < reseedFloor {
				t.Fatalf("moved %q, salvage %+v", s.MovedAside(), rep)
			}
			in, err := s.CreateIntent(7, Intent{Line: 1})
			if err != nil {
				t.Fatal(err)
			}
			n, _ := strconv.ParseUint(strings.TrimPrefix(in.PourID, "7-"), 10, 64)
			if n <= reseedFloor {
				t.Fatalf("pour id %s could repeat an old one", in.PourID)
			}
			if b, _ := s.NextBoot(); b <= reseedFloor {
				t.Fatalf("boot %d could repeat an old one", b)
			}
		})
	}
}

// TestCrashDuringReplaceFinishes: the corrupt file was moved aside but the
// process died before the fresh database took its place; the next Open
// puts it there instead of starting an empty one.
func TestCrashDuringReplaceFinishes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapagent.db")
	history(t, path)
	fsfault.ScribbleBucket(t, path, string(bEvents))
	old, err := readBack(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := buildFresh(path+newSuffix, old, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".corrupt-x"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.OutboxLen(); n != 9 {
		t.Fatalf("outbox %d after finishing the replacement", n)
	}
	if _, err := os.Stat(path + newSuffix); !os.IsNotExist(err) {
		t.Fatalf("replacement left behind: %v", err)
	}
}

// craftedFile builds a bbolt-format file of page size 1024 whose root leaf
// holds n elements, all a bucket named "outbox" sharing one inline page of
// n elements: a scribble that makes elements share bytes.
func craftedFile(n int) []byte {
	const ps = 1024
	le := binary.LittleEndian
	inline := make([]byte, 16+16*n+2)
	le.PutUint16(inline[8:], pageLeaf)
	le.PutUint16(inline[10:], uint16(n))
	for i := 0; i < n; i++ {
		e := inline[16+16*i:]
		le.PutUint32(e[4:], uint32(16*(n-i))) // every element points at the same key and value
		le.PutUint32(e[8:], 1)
		le.PutUint32(e[12:], 1)
	}
	val := append(make([]byte, 16), inline...) // root 0: inline bucket
	root := make([]byte, 16+16*n)
	le.PutUint16(root[8:], pageLeaf)
	le.PutUint16(root[10:], uint16(n))
	tail := append([]byte("outbox"), val...)
	for i := 0; i < n; i++ {
		e := root[16+16*i:]
		le.PutUint32(e[0:], elemBucket)
		le.PutUint32(e[4:], uint32(16*(n-i)))
		le.PutUint32(e[8:], 6)
		le.PutUint32(e[12:], uint32(len(val)))
	}
	page := append(root, tail...)
	pages := (len(page) + ps - 1) / ps
	file := make([]byte, (3+pages)*ps)
	copy(file[2*ps:], page)
	le.PutUint64(file[2*ps:], 2)
	le.PutUint32(file[2*ps+12:], uint32(pages-1))
	for m := 0; m < 2; m++ {
		meta := file[m*ps+16:]
		le.PutUint32(meta[0:], boltMagic)
		le.PutUint32(meta[4:], boltVersion)
		le.PutUint32(meta[8:], ps)
		le.PutUint64(meta[16:], 2) // root page
		le.PutUint64(meta[48:], uint64(m))
		h := fnv.New64a()
		h.Write(meta[:56])
		le.PutUint64(meta[56:], h.Sum64())
	}
	return file
}

// TestSalvageWalkIsBounded: elements sharing bytes cannot make the salvage
// read more elements than the file has room for, nor read a bucket twice.
func TestSalvageWalkIsBounded(t *testing.T) {
	b := craftedFile(2000)
	old, err := readOld(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := old.buckets[string(bOutbox)]
	if out == nil || len(out.pairs) == 0 {
		t.Fatal("the crafted bucket was not read at all")
	}
	if limit := int64(len(b) / elemSize); old.visited > limit || int64(len(out.pairs)) > limit {
		t.Fatalf("visited %d elements, %d pairs, in a file with room for %d", old.visited, len(out.pairs), limit)
	}
}

// ownedState is what other packages keep in the database, under their real
// bucket names: an open MDB vend (the customer's card is charged, the pour
// not yet booked), a cash-register credit and its id counter, the audit
// counters, the remote-login replay guard, the signed-command log and the
// desired-config version, plus a keg, a calibration and the uplink cache.
var ownedState = map[string]map[string]string{
	"mdb_vends":      {"10": `{"vend":"10-7","state":"approved","line":1,"portion_ml10":3000,"price":390,"approved":390,"at":1764612000000}`},
	"pos":            {"c/00000000000000000042": `{"id":42,"plu":3,"count":2}`, "last_id": "\x00\x00\x00\x00\x00\x00\x00\x2a"},
	"audit":          {"counters": `{"va101":123450,"va102":317,"ca201":8800}`},
	"remote":         {"t/replayguard": `{"at":1764612000000}`},
	"diag-commands":  {"cmd/9f": `{"id":"9f","answer":"ok"}`},
	"config-desired": {"version": "\x00\x00\x00\x00\x00\x00\x00\x05"},
}

// plantOwned writes ownedState into the database at path, with a few
// sequence numbers drawn so that the salvage must carry them too.
func plantOwned(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for bucket, kv := range ownedState {
		if err := s.Update(bucket, func(b Bucket) error {
			for k, v := range kv {
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
			for i := 0; i < 3; i++ {
				if _, err := b.NextSequence(); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutKeg(1, flow.Keg{ID: "K-17", Size: 500000, Remaining: 123456}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCalibration(1, Calibration{KMilli: 5400, Pulses: 5400, Measured: 10000}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCache("auth/abc", []byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
}

// TestMoveAsideCarriesEveryBucket: after a move-aside the state other
// packages own (money among it) is in the fresh database as it was, with
// its sequences, and the report says what was copied and what is missing.
func TestMoveAsideCarriesEveryBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tapagent.db")
	history(t, path)
	plantOwned(t, path)
	fsfault.ScribbleBucket(t, path, string(bEvents))
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.MovedAside() == "" {
		t.Fatal("corruption not detected")
	}
	rep := s.Salvage()
	t.Logf("%s", rep)
	for bucket, kv := range ownedState {
		if n := rep.Copied["ext/"+bucket]; n != len(kv) {
			t.Errorf("report copied %d keys of %s, want %d", n, bucket, len(kv))
		}
		err := s.Update(bucket, func(b Bucket) error {
			for k, v := range kv {
				if got := b.Get([]byte(k)); string(got) != v {
					t.Errorf("%s %q = %q after the move, want %q", bucket, k, got, v)
				}
			}
			if n, err := b.NextSequence(); err != nil || n != 4 {
				t.Errorf("%s next sequence %d %v after the move, want 4", bucket, n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if kegs, _ := s.Kegs(); kegs[1].ID != "K-17" || kegs[1].Remaining != 123456 {
		t.Errorf("kegs after the move %+v", kegs)
	}
	if cal, _ := s.Calibrations(); cal[1].KMilli != 5400 {
		t.Errorf("calibrations after the move %+v", cal)
	}
	if v, _ := s.Cache("auth/abc"); string(v) != `{"ok":true}` {
		t.Errorf("uplink cache after the move %q", v)
	}
	if !slices.Contains(rep.Incomplete, "events") || !strings.Contains(rep.String(), "incomplete (rest left in the moved file): events") {
		t.Errorf("the scribbled event log is not reported: %+v", rep)
	}
	if len(rep.Incomplete) != 1 {
		t.Errorf("incomplete %v, want only the event log", rep.Incomplete)
	}
}

// TestMoveAsideKeepsTheReadablePartOfABucket: a scribbled page of an owned
// bucket loses only what was on it; the rest is copied and the bucket is
// named in the report.
func TestMoveAsideKeepsTheReadablePartOfABucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tapagent.db")
	history(t, path)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	if err := s.Update("pos", func(b Bucket) error {
		for i := 0; i < n; i++ {
			if err := b.Put([]byte(fmt.Sprintf("c/%020d", i)), []byte(strings.Repeat("p", 60))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	scribbleLeaf(t, path, []byte("ext/pos"))
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep := s.Salvage()
	got := 0
	s.View("pos", func(b Bucket) error { return b.ForEach(func(k, v []byte) error { got++; return nil }) })
	if got == 0 || got >= n || rep.Copied["ext/pos"] != got || !slices.Contains(rep.Incomplete, "ext/pos") {
		t.Fatalf("copied %d of %d keys, report %+v", got, n, rep)
	}
}

// scribbleLeaf overwrites the first leaf page under a bucket's branch root.
func scribbleLeaf(t *testing.T, path string, bucket []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var leaf int64
	ps := int64(db.Info().PageSize)
	db.View(func(tx *bolt.Tx) error {
		root := int64(tx.Bucket(bucket).Root())
		f, _ := os.Open(path)
		defer f.Close()
		buf := make([]byte, pageHdrSize+elemSize)
		f.ReadAt(buf, root*ps)
		if binary.LittleEndian.Uint16(buf[8:]) == pageBranch {
			leaf = int64(binary.LittleEndian.Uint64(buf[pageHdrSize+8:]))
		}
		return nil
	})
	db.Close()
	if leaf == 0 {
		t.Fatalf("bucket %s has no branch root", bucket)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, int(ps/4)), leaf*ps); err != nil {
		t.Fatal(err)
	}
}
