package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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
