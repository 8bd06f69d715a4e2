package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenReadOnly: a missing database is ErrNoDatabase naming the path,
// with no directory created; an existing one reads, refuses writes and is
// left byte for byte as it was.
func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "tapagent.db")
	if _, err := OpenReadOnly(path, Options{}); !errors.Is(err, ErrNoDatabase) || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("missing database: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenReadOnly created %s", filepath.Dir(path))
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	r, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.OutboxLen(); err != nil || n != 0 {
		t.Fatalf("outbox of a fresh database: %d, %v", n, err)
	}
	if err := r.PutCache("k", []byte("v")); err == nil {
		t.Fatal("a write on a read-only store succeeded")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the read-only open changed the file")
	}
}

// TestReadOnlyShowsEverySinkTheFileKnows: opened read-only with another
// configuration's sinks (the simulator's, without clouds), the store still
// reports the sinks an earlier run delivered to, after the configured ones.
func TestReadOnlyShowsEverySinkTheFileKnows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tapagent.db")
	s := openSinks(t, path, DefaultSink, "smartnow", "telemetron")
	if _, err := s.Book(Booking{Record: pourRecord("r1", 1, 3000)}); err != nil {
		t.Fatal(err)
	}
	if err := sinkOf(t, s, "smartnow").Ack(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReadOnly(path, Options{Sinks: []string{DefaultSink}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.SinkStatuses()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range st {
		got = append(got, fmt.Sprintf("%s:%d", x.Name, x.Depth))
	}
	if strings.Join(got, " ") != "ttg:1 smartnow:0 telemetron:1" {
		t.Fatalf("sinks %v, want ttg:1 smartnow:0 telemetron:1", got)
	}
}
