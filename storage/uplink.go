package storage

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Ack marks records as delivered to the TTG sink (DefaultSink); a record
// leaves the outbox, with its entry in the idempotency index, once every
// sink has it. That index only guards a booking retried after a failed
// commit, and a record that failed to commit was never visible to an
// uploader, so nothing acknowledged can be booked again.
func (s *Store) Ack(seqs ...uint64) error {
	v, err := s.Sink(DefaultSink)
	if err != nil {
		return err
	}
	return v.Ack(seqs...)
}

// IndexLen is the size of the idempotency index (for tests and diagnostics).
func (s *Store) IndexLen() int {
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bPourIDs).Stats().KeyN
		return nil
	})
	return n
}

// DeadLetter is a record the server refused as malformed, kept with the
// server's explanation so nothing is silently dropped.
type DeadLetter struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
	At     int64  `json:"at"` // UTC epoch ms
	Record Record `json:"record"`
}

// Bury gives a record up for the TTG sink (DefaultSink), keeping it among
// its dead letters.
func (s *Store) Bury(seq uint64, reason string, at int64) error {
	v, err := s.Sink(DefaultSink)
	if err != nil {
		return err
	}
	return v.Bury(seq, reason, at)
}

// DeadLetters lists every record the TTG sink buried, oldest first.
func (s *Store) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bDead).ForEach(func(k, v []byte) error {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("storage: dead letter %d: %w", be(k), err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// PutCache stores an uplink's cached document (server configuration,
// product lists) under key.
func (s *Store) PutCache(key string, v []byte) error {
	return s.update(func(tx *bolt.Tx) error { return tx.Bucket(bCache).Put([]byte(key), v) })
}

// Cache returns a cached document, or nil.
func (s *Store) Cache(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bCache).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}
