package storage

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Bucket is a named key space that another package owns (the cash
// interface's credits and debits, for example), inside a transaction.
type Bucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	ForEach(fn func(k, v []byte) error) error
	NextSequence() (uint64, error)
}

// Change is work on a named bucket committed together with a booking. It
// runs inside the booking's transaction, so it reads and writes current
// state with no other writer in between; it may run again if the booking is
// retried after a failed commit.
type Change struct {
	Bucket string
	Apply  func(Bucket) error
}

const extPrefix = "ext/"

func extName(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return nil, fmt.Errorf("storage: bad bucket name %q", name)
	}
	return []byte(extPrefix + name), nil
}

// Update runs fn on a named bucket in one durable commit, creating it if needed.
func (s *Store) Update(bucket string, fn func(Bucket) error) error {
	name, err := extName(bucket)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// View runs fn on a named bucket read-only; a missing bucket reads as empty.
func (s *Store) View(bucket string, fn func(Bucket) error) error {
	name, err := extName(bucket)
	if err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return fn(emptyBucket{})
		}
		return fn(b)
	})
}

func applyChanges(tx *bolt.Tx, cs []Change) error {
	for _, c := range cs {
		name, err := extName(c.Bucket)
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		if err := c.Apply(b); err != nil {
			return fmt.Errorf("storage: %s: %w", c.Bucket, err)
		}
	}
	return nil
}

type emptyBucket struct{}

func (emptyBucket) Get([]byte) []byte                     { return nil }
func (emptyBucket) Put([]byte, []byte) error              { return bolt.ErrTxNotWritable }
func (emptyBucket) Delete([]byte) error                   { return bolt.ErrTxNotWritable }
func (emptyBucket) ForEach(func(k, v []byte) error) error { return nil }
func (emptyBucket) NextSequence() (uint64, error)         { return 0, bolt.ErrTxNotWritable }

// UpdateAsync is Update without waiting: done reports the outcome from the
// writer goroutine. For bookkeeping that must not hold up its caller.
func (s *Store) UpdateAsync(bucket string, fn func(Bucket) error, done func(error)) {
	name, err := extName(bucket)
	if err != nil {
		done(err)
		return
	}
	s.submit(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		return fn(b)
	}, done)
}
