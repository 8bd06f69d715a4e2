package fsfault

import (
	"bytes"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// ScribbleBucket overwrites the root page of a top-level bucket of the
// bbolt file at path with junk: content bbolt rejects although every byte
// still reads back, the verified corruption that makes storage move a
// database aside. The bucket must be large enough to have a page of its own.
func ScribbleBucket(t testing.TB, path, bucket string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			root = int64(b.Root())
		}
		return nil
	})
	ps := int64(db.Info().PageSize)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if root == 0 {
		t.Fatalf("bucket %s is missing or inline", bucket)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, int(ps/4)), root*ps); err != nil {
		t.Fatal(err)
	}
}
