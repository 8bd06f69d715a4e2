package storage

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Ack removes delivered records from the outbox, with their entries in the
// idempotency index. That index only guards a booking retried after a
// failed commit, and a record that failed to commit was never visible to
// the uploader, so nothing acknowledged can be booked again.
func (s *Store) Ack(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return s.update(func(tx *bolt.Tx) error {
		out, ids := tx.Bucket(bOutbox), tx.Bucket(bPourIDs)
		for _, q := range seqs {
			var r struct {
				ID string `json:"id"`
			}
			if raw := out.Get(u64(q)); raw != nil && json.Unmarshal(raw, &r) == nil && r.ID != "" {
				if err := ids.Delete([]byte(r.ID)); err != nil {
					return err
				}
			}
			if err := out.Delete(u64(q)); err != nil {
				return err
			}
		}
		return nil
	})
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

// Bury moves a record from the outbox to the dead letters, in one commit.
func (s *Store) Bury(seq uint64, reason string, at int64) error {
	return s.update(func(tx *bolt.Tx) error {
		out := tx.Bucket(bOutbox)
		raw := out.Get(u64(seq))
		if raw == nil {
			return nil // already delivered or buried
		}
		r, err := DecodeRecord(raw)
		if err != nil {
			r = Record{ID: fmt.Sprintf("undecodable-%d", seq)}
			reason += "; stored record undecodable: " + err.Error()
		}
		r.Seq = seq
		b, err := json.Marshal(DeadLetter{Seq: seq, Reason: reason, At: at, Record: r})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bDead).Put(u64(seq), b); err != nil {
			return err
		}
		return out.Delete(u64(seq))
	})
}

// DeadLetters lists every buried record, oldest first.
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
