package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecodeRecord: whatever bytes sit in the outbox, decoding returns a
// record that satisfies the checks or an error; it never panics.
func FuzzDecodeRecord(f *testing.F) {
	good, _ := json.Marshal(pourRecord("1-1", 1, 100))
	good = append(good[:1], append([]byte(`"v":1,`), good[1:]...)...)
	old, err := os.ReadFile(filepath.Join("testdata", "record-ref-map.json")) // references as the old map wrote them
	if err != nil {
		f.Fatal(err)
	}
	f.Add(old)
	for _, s := range []string{string(good), `{}`, `{"v":1,"id":"x","kind":"pour","pour":{"volume_ml10":-5}}`,
		`{"v":2}`, `null`, `{"v":1,"id":"a","kind":"leak"}`, `[1,2]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if r.ID == "" || r.Pour.Volume < 0 || r.V != RecordVersion {
			t.Fatalf("accepted bad record %+v", r)
		}
	})
}

// FuzzReadOld: whatever a corrupt file holds, the salvage reader returns
// what it can read or nothing; it never panics and always ends.
func FuzzReadOld(f *testing.F) {
	path := filepath.Join(f.TempDir(), "db")
	s, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		s.Book(Booking{Record: pourRecord(fmt.Sprint(i), 1, 10)})
	}
	s.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:8192])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		old, err := readOld(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			return
		}
		for _, bk := range old.buckets {
			for _, kv := range bk.pairs {
				if len(kv[0])+len(kv[1]) > len(b) {
					t.Fatalf("a pair larger than the file")
				}
			}
		}
		// Whatever was read must go into a fresh database without error:
		// names and sizes bbolt cannot store count as unreadable.
		if _, err := buildFresh(filepath.Join(t.TempDir(), "fresh"), old, time.Second); err != nil {
			t.Fatalf("building the fresh database: %v", err)
		}
	})
}
