package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PruneBatch is the most keys one pruning transaction deletes. Each batch
// is its own commit through the writer, so a booking queued behind the
// pruner waits for at most one such small commit, never for the whole
// backlog (BenchmarkBookWhilePruning measures it).
const PruneBatch = 16

// TimeKeyLen is the length of the time prefix of a time-keyed bucket's
// keys: the 8-byte big-endian unix-nanosecond time of the entry.
const TimeKeyLen = 8

// Retention bounds a time-keyed bucket. A zero field is no bound.
type Retention struct {
	// MaxAge drops entries older than now less MaxAge.
	MaxAge time.Duration
	// MaxBytes drops the oldest entries while the bucket's keys and values
	// together are larger (the file holds bbolt's page overhead on top).
	MaxBytes int64
}

// PruneTimeKeyed deletes entries of a time-keyed bucket (keys starting with
// the 8-byte big-endian unix-nanosecond time), oldest first, until r holds.
// The bucket is looked up as named at the top level of the file and else
// among the buckets other packages own (Update's names); a missing bucket
// has nothing to prune. Keys too short to carry a time are never touched.
// It returns how many entries it deleted.
func (s *Store) PruneTimeKeyed(ctx context.Context, bucket string, now time.Time, r Retention) (int, error) {
	name := []byte(bucket)
	if ownBucket(name) {
		// The outbox's keys are sequences, not times: read as times they
		// would all look ancient, and an undelivered record must never go.
		return 0, fmt.Errorf("storage: %s is not a time-keyed bucket", bucket)
	}
	var last []byte // the newest key to delete
	err := s.db.View(func(tx *bolt.Tx) error {
		b := timeBucket(tx, name)
		if b == nil {
			return nil
		}
		last = pruneUntil(b, now, r)
		return nil
	})
	if err != nil || last == nil {
		return 0, err
	}
	return s.deleteThrough(ctx, name, last)
}

// ownBucket says whether name is one of the store's own buckets, none of
// which is time-keyed.
func ownBucket(name []byte) bool {
	for _, b := range [][]byte{bMeta, bIntents, bOutbox, bPourIDs, bKegs, bCalib, bEvents, bDead, bCache,
		bSinkCursor, bSinkDone, bSinkError, bSinkDead, bStreams, bSinkEvents} {
		if string(b) == string(name) {
			return true
		}
	}
	return false
}

// timeBucket finds a time-keyed bucket by its name in the file, else by
// the name Update gives it.
func timeBucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	if b := tx.Bucket(name); b != nil {
		return b
	}
	return tx.Bucket(append([]byte(extPrefix), name...))
}

// pruneUntil is the newest key that r drops, or nil for none: every key
// older than the age cut, and then as many of the oldest as it takes to
// bring the bucket's bytes under MaxBytes.
func pruneUntil(b *bolt.Bucket, now time.Time, r Retention) []byte {
	c := b.Cursor()
	var last []byte
	if r.MaxAge > 0 {
		cut := binary.BigEndian.AppendUint64(nil, uint64(max(now.Add(-r.MaxAge).UnixNano(), 0)))
		for k, _ := c.First(); len(k) >= TimeKeyLen && string(k[:TimeKeyLen]) < string(cut); k, _ = c.Next() {
			last = append(last[:0], k...)
		}
	}
	if r.MaxBytes <= 0 {
		return last
	}
	var total int64
	for k, v := c.First(); k != nil; k, v = c.Next() {
		total += int64(len(k) + len(v))
	}
	for k, v := c.First(); k != nil && total > r.MaxBytes; k, v = c.Next() {
		total -= int64(len(k) + len(v))
		if len(k) >= TimeKeyLen && (last == nil || string(k) > string(last)) {
			last = append(last[:0], k...)
		}
	}
	return last
}

// deleteThrough deletes every time key up to and including last, at most
// PruneBatch per commit, each commit taking its turn in the writer's queue.
func (s *Store) deleteThrough(ctx context.Context, name, last []byte) (int, error) {
	return s.deleteInBatches(ctx, string(name), func(tx *bolt.Tx) (*bolt.Bucket, [][]byte) {
		b := timeBucket(tx, name)
		if b == nil {
			return nil, nil
		}
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < PruneBatch && string(k) <= string(last); k, _ = c.Next() {
			if len(k) >= TimeKeyLen {
				keys = append(keys, append([]byte(nil), k...))
			}
		}
		return b, keys
	})
}

// deleteInBatches deletes the keys pick chooses in one commit after
// another, each taking its turn in the writer's queue, until a commit
// deletes fewer than PruneBatch (pick chooses at most that many); what
// names the pruned data in an error. It returns how many it deleted.
func (s *Store) deleteInBatches(ctx context.Context, what string, pick func(tx *bolt.Tx) (*bolt.Bucket, [][]byte)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			n = 0
			b, keys := pick(tx)
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("storage: pruning %s: %w", what, err)
		}
		if n < PruneBatch {
			return total, nil
		}
	}
}

// DeadLetterRetention bounds the dead letters. A zero field is no bound.
type DeadLetterRetention struct {
	// MaxAge drops dead letters buried longer ago.
	MaxAge time.Duration
	// MaxCount keeps at most this many, the newest.
	MaxCount int
}

// PruneDeadLetters deletes dead letters, oldest first, while a sink has
// more than MaxCount or its oldest was buried before now less MaxAge. Each
// sink's dead letters are bounded on their own (the TTG sink's in
// dead_letters, every other sink's in sink_dead, including a sink since
// taken out of the configuration), so one sink refusing everything never
// pushes out another's. A dead letter is a record a sink refused for good
// and that an operator has had MaxAge to read (tapagent outbox, tapagent
// ttg deadletters); the outbox is never touched. It returns how many it
// deleted.
func (s *Store) PruneDeadLetters(ctx context.Context, now time.Time, r DeadLetterRetention) (int, error) {
	cutoff := int64(-1 << 63)
	if r.MaxAge > 0 {
		cutoff = now.Add(-r.MaxAge).UnixMilli()
	}
	var spaces []deadSpace
	if err := s.db.View(func(tx *bolt.Tx) error {
		spaces = deadSpaces(tx)
		return nil
	}); err != nil {
		return 0, err
	}
	total := 0
	for _, sp := range spaces {
		n, err := s.pruneDeadSpace(ctx, sp, cutoff, r.MaxCount)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deadSpace is one sink's dead letters: the keys of bucket beginning with
// prefix (the TTG sink's bucket has no prefix).
type deadSpace struct {
	bucket []byte
	prefix []byte
}

// deadSpaces lists the TTG sink's dead letters and those of every sink
// that has any in sink_dead (keys name 0 seq).
func deadSpaces(tx *bolt.Tx) []deadSpace {
	spaces := []deadSpace{{bucket: bDead}}
	c := tx.Bucket(bSinkDead).Cursor()
	for k, _ := c.First(); k != nil; {
		if len(k) < 9 || k[len(k)-9] != 0 {
			k, _ = c.Next() // not a sink key: left alone
			continue
		}
		prefix := append([]byte(nil), k[:len(k)-8]...)
		spaces = append(spaces, deadSpace{bucket: bSinkDead, prefix: prefix})
		// the next sink's keys start past every seq of this one
		k, _ = c.Seek(append(append([]byte(nil), prefix[:len(prefix)-1]...), 1))
	}
	return spaces
}

// scan calls each for the space's keys in order until it answers false.
func (sp deadSpace) scan(b *bolt.Bucket, each func(k, v []byte) bool) {
	c := b.Cursor()
	for k, v := c.Seek(sp.prefix); k != nil && sp.holds(k); k, v = c.Next() {
		if !each(k, v) {
			return
		}
	}
}

func (sp deadSpace) holds(k []byte) bool {
	return len(k) == len(sp.prefix)+8 && string(k[:len(sp.prefix)]) == string(sp.prefix)
}

// pruneDeadSpace deletes one sink's dead letters past the bounds, oldest
// (lowest sequence) first, in batches through the write queue.
func (s *Store) pruneDeadSpace(ctx context.Context, sp deadSpace, cutoff int64, maxCount int) (int, error) {
	due := false // read first: nothing to prune costs no commit
	count := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		sp.scan(tx.Bucket(sp.bucket), func(_, v []byte) bool {
			if count == 0 && buriedAt(v) < cutoff {
				due = true
			}
			count++
			return true
		})
		due = due || maxCount > 0 && count > maxCount
		return nil
	}); err != nil || !due {
		return 0, err
	}
	return s.deleteInBatches(ctx, "dead letters", func(tx *bolt.Tx) (*bolt.Bucket, [][]byte) {
		b := tx.Bucket(sp.bucket)
		count := 0
		sp.scan(b, func(_, _ []byte) bool { count++; return true })
		var keys [][]byte
		sp.scan(b, func(k, v []byte) bool {
			if len(keys) < PruneBatch && (maxCount > 0 && count-len(keys) > maxCount || buriedAt(v) < cutoff) {
				keys = append(keys, append([]byte(nil), k...))
				return true
			}
			return false
		})
		return b, keys
	})
}

// buriedAt is when a dead letter was buried (UTC epoch ms); one that does
// not decode counts as buried now, so only the count bound removes it.
func buriedAt(v []byte) int64 {
	var d struct {
		At *int64 `json:"at"`
	}
	if json.Unmarshal(v, &d) != nil || d.At == nil {
		return 1<<63 - 1
	}
	return *d.At
}

// BucketBytes is the size of a bucket's keys and values, looked up as
// PruneTimeKeyed does (0 for a missing bucket): what Retention.MaxBytes
// bounds.
func (s *Store) BucketBytes(bucket string) (int64, error) {
	var total int64
	err := s.db.View(func(tx *bolt.Tx) error {
		b := timeBucket(tx, []byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			total += int64(len(k) + len(v))
			return nil
		})
	})
	return total, err
}

// FileSize is the size of the database file's data (its high-water mark:
// bbolt reuses freed pages rather than shrinking the file).
func (s *Store) FileSize() (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}
