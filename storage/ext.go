package storage

import (
	"bytes"
	"errors"
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

// Apply commits changes to named buckets in one durable commit.
func (s *Store) Apply(cs ...Change) error {
	return s.update(func(tx *bolt.Tx) error { return applyChanges(tx, cs) })
}

// Scan calls fn for the keys of a named bucket from from (inclusive) up to
// to (exclusive; nil for the end), in key order, read-only; a missing
// bucket has none. k and v are only valid during fn. fn returning
// ErrStopScan ends the scan without an error.
func (s *Store) Scan(bucket string, from, to []byte, fn func(k, v []byte) error) error {
	name, err := extName(bucket)
	if err != nil {
		return err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(from); k != nil && (to == nil || bytes.Compare(k, to) < 0); k, v = c.Next() {
			if err := fn(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrStopScan) {
		return nil
	}
	return err
}

// ErrStopScan ends a Scan early.
var ErrStopScan = errors.New("stop scan")

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
// writer goroutine. For bookkeeping that must not hold up its caller (the
// audit's event counters, fed from the agent's event sink on the pour
// path): it never blocks. Its writes wait in a queue of their own, apart
// from the bounded queue that Update and the bookings share, and ride in
// the writer's next commit after the checkpoints and queued writes. When
// Options.MaxAsync writes are already waiting, done hears ErrQueueFull at
// once, on the caller's goroutine, and the write is not made.
func (s *Store) UpdateAsync(bucket string, fn func(Bucket) error, done func(error)) {
	name, err := extName(bucket)
	if err != nil {
		done(err)
		return
	}
	j := job{fn: func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		return fn(b)
	}, done: done}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		done(ErrClosed)
		return
	}
	s.asyncMu.Lock()
	if len(s.async) >= s.maxAsync {
		s.asyncMu.Unlock()
		done(fmt.Errorf("storage: %s: %w", bucket, ErrQueueFull))
		return
	}
	s.async = append(s.async, j)
	s.asyncMu.Unlock()
	s.wakeWriter()
}

// takeAsync moves up to n waiting UpdateAsync writes into the next commit,
// waking the writer again if more are left.
func (s *Store) takeAsync(n int) []job {
	s.asyncMu.Lock()
	k := min(n, len(s.async))
	out := append([]job(nil), s.async[:k]...)
	s.async = append(s.async[:0], s.async[k:]...)
	more := len(s.async) > 0
	s.asyncMu.Unlock()
	if more {
		s.wakeWriter()
	}
	return out
}
