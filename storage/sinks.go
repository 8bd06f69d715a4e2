package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// DefaultSink is the TTG server's sink: the one every store delivers to
// unless Options.Sinks names others, and the one the Store's own Ack, Bury
// and DeadLetters act on (they predate the other sinks).
const DefaultSink = "ttg"

// The sinks' state lives in flat top-level buckets (so that a salvage after
// a move-aside copies it key by key like any other bucket).
var (
	bSinkCursor = []byte("sink_cursor") // name → u64: every seq ≤ it is delivered
	bSinkDone   = []byte("sink_done")   // name 0 seq → 1: delivered out of order above the cursor
	bSinkError  = []byte("sink_error")  // name → SinkError JSON
	bSinkDead   = []byte("sink_dead")   // name 0 seq → DeadLetter JSON (the TTG sink keeps dead_letters)
	bStreams    = []byte("streams")     // stream → u64: the last device sequence number given out
	bSinkEvents = []byte("sink_events") // name → u64: the last event-log entry the sink has taken
)

// ErrUnknownSink is returned for a sink the store was not opened with.
var ErrUnknownSink = errors.New("storage: sink not configured")

// SinkError is the last delivery failure a sink noted.
type SinkError struct {
	Msg string `json:"msg"`
	At  int64  `json:"at"` // UTC epoch ms
}

// SinkStatus is one sink's view of the outbox, for `tapagent outbox`.
type SinkStatus struct {
	Name string
	// Depth is the number of records this sink has not yet taken.
	Depth int
	// Oldest is the oldest record waiting for it (zero when Depth is 0).
	Oldest Record
	// Cursor is the highest sequence up to which it has taken every record.
	Cursor    uint64
	Dead      int
	LastError SinkError
}

// SinkView is one sink's outbox: the records it has not taken yet, its own
// acknowledgements and its own dead letters. A record leaves the shared
// outbox only when every sink the store was opened with has taken it
// (delivered or buried).
type SinkView struct {
	s    *Store
	name string
}

// Sink returns the view of a sink the store was opened with.
func (s *Store) Sink(name string) (*SinkView, error) {
	if !slices.Contains(s.sinks, name) {
		return nil, fmt.Errorf("%w: %q (configured: %v)", ErrUnknownSink, name, s.sinks)
	}
	return &SinkView{s: s, name: name}, nil
}

// Sinks names the sinks the store delivers to.
func (s *Store) Sinks() []string { return slices.Clone(s.sinks) }

// Name is the sink's name.
func (v *SinkView) Name() string { return v.name }

func sinkKey(name string, seq uint64) []byte {
	return append(append([]byte(name), 0), u64(seq)...)
}

func sinkCursor(tx *bolt.Tx, name string) uint64 {
	if b := tx.Bucket(bSinkCursor).Get([]byte(name)); len(b) == 8 {
		return be(b)
	}
	return 0
}

// pending walks the records this sink has not taken, oldest first, until fn
// returns false.
func pending(tx *bolt.Tx, name string, after uint64, fn func(k, v []byte) bool) {
	done := tx.Bucket(bSinkDone)
	c := tx.Bucket(bOutbox).Cursor()
	for k, v := c.Seek(u64(max(after, sinkCursor(tx, name)) + 1)); k != nil; k, v = c.Next() {
		if done.Get(sinkKey(name, be(k))) != nil {
			continue
		}
		if !fn(k, v) {
			return
		}
	}
}

// Outbox returns up to n records with sequence > after that this sink has
// not taken, oldest first.
func (v *SinkView) Outbox(after uint64, n int) ([]Record, error) {
	var out []Record
	var derr error
	err := v.s.db.View(func(tx *bolt.Tx) error {
		pending(tx, v.name, after, func(k, raw []byte) bool {
			if len(out) >= n {
				return false
			}
			r, err := DecodeRecord(raw)
			if err != nil {
				derr = fmt.Errorf("storage: outbox %d: %w", be(k), err)
				return false
			}
			r.Seq = be(k)
			out = append(out, r)
			return true
		})
		return derr
	})
	return out, err
}

// Ack marks records as taken by this sink; those every sink has taken
// leave the outbox (with their idempotency entries) in the same commit.
func (v *SinkView) Ack(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return v.s.update(func(tx *bolt.Tx) error { return v.s.ack(tx, v.name, seqs) })
}

func (s *Store) ack(tx *bolt.Tx, name string, seqs []uint64) error {
	cur := sinkCursor(tx, name)
	out, done := tx.Bucket(bOutbox), tx.Bucket(bSinkDone)
	for _, q := range seqs {
		if q <= cur || out.Get(u64(q)) == nil {
			continue
		}
		if err := done.Put(sinkKey(name, q), []byte{1}); err != nil {
			return err
		}
		if err := s.dropIfAllHave(tx, q); err != nil {
			return err
		}
	}
	// The cursor moves up to the first record this sink has not taken:
	// what lies between is taken, or gone because every sink had it.
	c := out.Cursor()
	for k, _ := c.Seek(u64(cur + 1)); ; k, _ = c.Next() {
		if k == nil {
			cur = max(cur, out.Sequence())
			break
		}
		dk := sinkKey(name, be(k))
		if done.Get(dk) == nil {
			cur = be(k) - 1
			break
		}
		if err := done.Delete(dk); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bSinkCursor).Put([]byte(name), u64(cur)); err != nil {
		return err
	}
	return s.compact(tx)
}

// compact removes the records every sink has passed. With no sink at all
// nothing is removed: the records wait for the first one configured.
func (s *Store) compact(tx *bolt.Tx) error {
	if len(s.sinks) == 0 {
		return nil
	}
	low := ^uint64(0)
	for _, n := range s.sinks {
		low = min(low, sinkCursor(tx, n))
	}
	c := tx.Bucket(bOutbox).Cursor()
	for k, _ := c.First(); k != nil && be(k) <= low; k, _ = c.First() {
		if err := dropRecord(tx, be(k)); err != nil {
			return err
		}
	}
	return nil
}

// dropIfAllHave removes record q when every sink has taken it, out of
// order, with the marks that said so.
func (s *Store) dropIfAllHave(tx *bolt.Tx, q uint64) error {
	done := tx.Bucket(bSinkDone)
	for _, n := range s.sinks {
		if sinkCursor(tx, n) < q && done.Get(sinkKey(n, q)) == nil {
			return nil
		}
	}
	for _, n := range s.sinks {
		if err := done.Delete(sinkKey(n, q)); err != nil {
			return err
		}
	}
	return dropRecord(tx, q)
}

// dropRecord deletes an outbox record and its idempotency entry.
func dropRecord(tx *bolt.Tx, q uint64) error {
	out := tx.Bucket(bOutbox)
	var r struct {
		ID string `json:"id"`
	}
	if raw := out.Get(u64(q)); raw != nil && json.Unmarshal(raw, &r) == nil && r.ID != "" {
		if err := tx.Bucket(bPourIDs).Delete([]byte(r.ID)); err != nil {
			return err
		}
	}
	return out.Delete(u64(q))
}

// Bury gives a record up for this sink, keeping it with the reason among
// the sink's dead letters; for the other sinks it stays in the outbox.
func (v *SinkView) Bury(seq uint64, reason string, at int64) error {
	return v.s.update(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bOutbox).Get(u64(seq))
		if raw == nil || seq <= sinkCursor(tx, v.name) || tx.Bucket(bSinkDone).Get(sinkKey(v.name, seq)) != nil {
			return nil // already taken by this sink
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
		bk, key := v.deadBucket(tx)
		if err := bk.Put(key(seq), b); err != nil {
			return err
		}
		return v.s.ack(tx, v.name, []uint64{seq})
	})
}

// deadBucket is where this sink's dead letters are kept: the TTG sink's in
// the dead_letters bucket it always had, keyed by sequence.
func (v *SinkView) deadBucket(tx *bolt.Tx) (*bolt.Bucket, func(uint64) []byte) {
	if v.name == DefaultSink {
		return tx.Bucket(bDead), u64
	}
	return tx.Bucket(bSinkDead), func(q uint64) []byte { return sinkKey(v.name, q) }
}

// DeadLetters lists this sink's buried records, oldest first.
func (v *SinkView) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	err := v.s.db.View(func(tx *bolt.Tx) error {
		bk, key := v.deadBucket(tx)
		prefix := key(0)[:len(key(0))-8]
		c := bk.Cursor()
		for k, raw := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, raw = c.Next() {
			var d DeadLetter
			if err := json.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("storage: %s dead letter %d: %w", v.name, be(k[len(prefix):]), err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// NoteError records the sink's last delivery failure ("" clears it), for
// `tapagent outbox` and diagnostics. It never blocks the caller's records.
func (v *SinkView) NoteError(msg string, at int64) error {
	return v.s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bSinkError)
		if msg == "" {
			return bk.Delete([]byte(v.name))
		}
		b, err := json.Marshal(SinkError{Msg: msg, At: at})
		if err != nil {
			return err
		}
		return bk.Put([]byte(v.name), b)
	})
}

// PutCache stores a document in the shared uplink cache.
func (v *SinkView) PutCache(key string, b []byte) error { return v.s.PutCache(key, b) }

// Cache reads a document from the shared uplink cache.
func (v *SinkView) Cache(key string) ([]byte, error) { return v.s.Cache(key) }

// LoggedEvent is one entry of the durable event log.
type LoggedEvent struct {
	Seq uint64
	Raw []byte // the agent's event as JSON
}

// Events returns up to n event-log entries this sink has not taken, oldest
// first. The log keeps the newest storage.max_events entries: a sink that
// is away longer misses the oldest.
func (v *SinkView) Events(n int) ([]LoggedEvent, error) {
	var out []LoggedEvent
	err := v.s.db.View(func(tx *bolt.Tx) error {
		var after uint64
		if b := tx.Bucket(bSinkEvents).Get([]byte(v.name)); len(b) == 8 {
			after = be(b)
		}
		c := tx.Bucket(bEvents).Cursor()
		for k, raw := c.Seek(u64(after + 1)); k != nil && len(out) < n; k, raw = c.Next() {
			out = append(out, LoggedEvent{Seq: be(k), Raw: append([]byte(nil), raw...)})
		}
		return nil
	})
	return out, err
}

// TakeEvents marks every event-log entry up to seq as taken by this sink.
func (v *SinkView) TakeEvents(seq uint64) error {
	return v.s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bSinkEvents)
		if b := bk.Get([]byte(v.name)); len(b) == 8 && be(b) >= seq {
			return nil
		}
		return bk.Put([]byte(v.name), u64(seq))
	})
}

// Cursor is the sequence up to which this sink has taken every record.
func (v *SinkView) Cursor() (uint64, error) {
	var c uint64
	err := v.s.db.View(func(tx *bolt.Tx) error { c = sinkCursor(tx, v.name); return nil })
	return c, err
}

// Status reports this sink's depth, oldest waiting record and last error.
func (v *SinkView) Status() (SinkStatus, error) {
	st := SinkStatus{Name: v.name}
	err := v.s.db.View(func(tx *bolt.Tx) error {
		st.Cursor = sinkCursor(tx, v.name)
		var derr error
		pending(tx, v.name, 0, func(k, raw []byte) bool {
			if st.Depth == 0 {
				if st.Oldest, derr = DecodeRecord(raw); derr != nil {
					st.Oldest = Record{ID: fmt.Sprintf("undecodable-%d", be(k))}
				}
				st.Oldest.Seq = be(k)
			}
			st.Depth++
			return true
		})
		if b := tx.Bucket(bSinkError).Get([]byte(v.name)); b != nil {
			if err := json.Unmarshal(b, &st.LastError); err != nil {
				st.LastError = SinkError{Msg: "unreadable: " + err.Error()}
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	dl, err := v.DeadLetters()
	st.Dead = len(dl)
	return st, err
}

// SinkStatuses reports every sink the store delivers to, in the order
// configured.
func (s *Store) SinkStatuses() ([]SinkStatus, error) {
	out := make([]SinkStatus, 0, len(s.sinks))
	for _, n := range s.sinks {
		st, err := (&SinkView{s: s, name: n}).Status()
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}

// knownSinks are the sinks the file has cursors for, or DefaultSink.
func knownSinks(db *bolt.DB) ([]string, error) {
	var names []string
	err := db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bSinkCursor)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, _ []byte) error { names = append(names, string(k)); return nil })
	})
	if len(names) == 0 {
		names = []string{DefaultSink}
	}
	return names, err
}

// setupSinks runs at open: it forgets the cursors of sinks no longer
// configured (their dead letters stay) and removes what every remaining
// sink has taken, so a sink taken out of the configuration stops holding
// records back.
func setupSinks(db *bolt.DB, sinks []string) error {
	s := &Store{sinks: sinks}
	return db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bSinkCursor, bSinkDone, bSinkError, bSinkDead, bStreams, bSinkEvents} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("storage: bucket %s: %w", name, err)
			}
		}
		var gone [][]byte
		_ = tx.Bucket(bSinkCursor).ForEach(func(k, _ []byte) error {
			if !slices.Contains(sinks, string(k)) {
				gone = append(gone, append([]byte(nil), k...))
			}
			return nil
		})
		done := tx.Bucket(bSinkDone)
		for _, k := range gone {
			if err := tx.Bucket(bSinkCursor).Delete(k); err != nil {
				return err
			}
			prefix := append(k, 0)
			c := done.Cursor()
			for dk, _ := c.Seek(prefix); dk != nil && len(dk) == len(prefix)+8 && string(dk[:len(prefix)]) == string(prefix); dk, _ = c.Seek(prefix) {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		for _, n := range sinks {
			if tx.Bucket(bSinkCursor).Get([]byte(n)) == nil {
				if err := tx.Bucket(bSinkCursor).Put([]byte(n), u64(0)); err != nil {
					return err
				}
			}
		}
		return s.compact(tx)
	})
}

// StreamOf is the device sequence stream a record kind numbers in: sales
// (everything that moves money or product) and service (cleaning,
// calibration, product that left a line unattributed).
func StreamOf(kind string) string {
	switch kind {
	case KindPour, KindVend, KindCardPurchase:
		return StreamSales
	}
	return StreamService
}

// Device sequence streams.
const (
	StreamSales   = "sales"
	StreamService = "service"
)

// nextInStream gives out the stream's next device sequence number (from 1,
// never reused: the counter is in the same commit as the record).
func nextInStream(tx *bolt.Tx, stream string) (uint64, error) {
	bk := tx.Bucket(bStreams)
	var n uint64
	if b := bk.Get([]byte(stream)); len(b) == 8 {
		n = be(b)
	}
	if n == ^uint64(0) {
		return 0, fmt.Errorf("storage: stream %s sequence exhausted", stream)
	}
	n++
	return n, bk.Put([]byte(stream), u64(n))
}
