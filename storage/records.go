package storage

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tapagent/tapagent/flow"
)

// RecordVersion is the JSON layout version of records and intents.
const RecordVersion = 1

// Record kinds.
const (
	KindPour         = "pour"
	KindCleaning     = "cleaning"
	KindCalibration  = "calibration"
	KindUnattributed = "unattributed"
	// KindCardPurchase is a card top-up or card action booked by a charger.
	KindCardPurchase = "cardpurchase"
	// KindVend is an item a vending machine dispensed for a payment the
	// agent took (an EXE machine behind a bridge): money and product, no
	// line and no volume.
	KindVend = "vend"
)

// Record is one booked transaction in the outbox.
type Record struct {
	V  int    `json:"v"`
	ID string `json:"id"` // idempotency key, unique per device
	// Seq is the outbox key; filled in when read back.
	Seq         uint64 `json:"seq,omitempty"`
	Kind        string `json:"kind"`
	Line        int    `json:"line"`
	Product     string `json:"product,omitempty"`
	PLU         int    `json:"plu,omitempty"`
	StartedAt   int64  `json:"started_at"` // UTC epoch ms
	EndedAt     int64  `json:"ended_at"`
	ClockSynced bool   `json:"clock_synced"`
	// Recovered marks a pour booked after a crash from its last checkpoint.
	Recovered bool `json:"recovered,omitempty"`
	// Ref carries payment references (card, session) for the uplinks.
	Ref  Ref         `json:"ref,omitzero"`
	Pour flow.Result `json:"pour"`
	// Stream and StreamSeq are the record's device sequence: monotonic
	// per stream (StreamOf), from 1, never reused, given out by Book.
	// The clouds use it as their idempotency key (SmartNow "remote").
	Stream    string `json:"stream,omitempty"`
	StreamSeq uint64 `json:"stream_seq,omitempty"`
	// Zone is the wall's IANA zone and UTCOffset the offset in force at
	// EndedAt, in seconds east of UTC (nil when the store has no zone).
	Zone      string `json:"zone,omitempty"`
	UTCOffset *int   `json:"utc_offset_s,omitempty"`
	// Currency is the ISO 4217 code of Pour.Amount (integer minor units)
	// with its minor-unit digits.
	Currency string `json:"currency,omitempty"`
	Decimals int    `json:"decimals,omitempty"`
}

// Intent is written before a valve opens and checkpointed while it pours.
type Intent struct {
	V            int           `json:"v"`
	PourID       string        `json:"pour_id"`
	Line         int           `json:"line"`
	Product      string        `json:"product,omitempty"`
	PLU          int           `json:"plu,omitempty"`
	OpenedAt     int64         `json:"opened_at"` // UTC epoch ms
	ClockSynced  bool          `json:"clock_synced"`
	Auth         flow.Auth     `json:"auth"`
	KMilli       int64         `json:"k_milli"`
	Ref          Ref           `json:"ref,omitzero"`
	Progress     flow.Progress `json:"progress"`
	CheckpointAt int64         `json:"checkpoint_at,omitempty"`
}

// Calibration is a stored K-factor for a line.
type Calibration struct {
	KMilli   int64    `json:"k_milli"`
	At       int64    `json:"at"` // UTC epoch ms
	Pulses   int64    `json:"pulses"`
	Measured flow.Vol `json:"measured_ml10"`
	Previous int64    `json:"previous_k_milli"`
}

func lineKey(line int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(line)) }

// CreateIntent gives the pour a device-unique id ("{device}-{n}", never
// reused across restarts) and makes its intent durable, in one commit. Call
// it before opening the valve. A line holds one intent at a time.
func (s *Store) CreateIntent(deviceID int64, in Intent) (Intent, error) {
	err := s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bIntents)
		if bk.Get(lineKey(in.Line)) != nil {
			return fmt.Errorf("storage: line %d already has an open pour intent", in.Line)
		}
		n, err := bk.NextSequence()
		if err != nil {
			return err
		}
		in.V, in.PourID = RecordVersion, fmt.Sprintf("%d-%d", deviceID, n)
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("storage: intent: %w", err)
		}
		return bk.Put(lineKey(in.Line), b)
	})
	if err != nil {
		return Intent{}, err
	}
	return in, nil
}

// DropIntent removes a line's intent when its valve never opened.
func (s *Store) DropIntent(line int, pourID string) error {
	return s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bIntents)
		var cur Intent
		if v := bk.Get(lineKey(line)); v != nil && json.Unmarshal(v, &cur) == nil && cur.PourID == pourID {
			return bk.Delete(lineKey(line))
		}
		return nil
	})
}

// Checkpoint stores a pour's progress without waiting; done reports the
// outcome from the writer goroutine. It never blocks and never queues
// behind other writes: a line's checkpoint waiting for the writer is
// replaced by a newer one (both callers hear the outcome of the commit that
// carries the newer), and every waiting checkpoint goes first into the next
// commit. A checkpoint for a pour that has already been booked is dropped,
// so a late checkpoint cannot resurrect it.
func (s *Store) Checkpoint(in Intent, done func(error)) {
	in.V = RecordVersion
	b, err := json.Marshal(in)
	if err != nil {
		done(fmt.Errorf("storage: checkpoint: %w", err))
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		done(ErrClosed)
		return
	}
	s.ckptMu.Lock()
	p := s.ckpts[in.Line]
	if p == nil {
		p = &pendingCkpt{}
		s.ckpts[in.Line] = p
	}
	p.line, p.pourID, p.value = in.Line, in.PourID, b
	p.done = append(p.done, done)
	s.ckptMu.Unlock()
	s.wakeWriter()
}

// pendingCkpt is a line's newest checkpoint waiting for the writer.
type pendingCkpt struct {
	line   int
	pourID string
	value  []byte
	done   []func(error)
}

// takeCheckpoints empties the slots into jobs for the next commit.
func (s *Store) takeCheckpoints() []job {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	if len(s.ckpts) == 0 {
		return nil
	}
	out := make([]job, 0, len(s.ckpts))
	for line, p := range s.ckpts {
		delete(s.ckpts, line)
		out = append(out, job{fn: p.apply, done: p.finish})
	}
	return out
}

func (p *pendingCkpt) apply(tx *bolt.Tx) error {
	bk := tx.Bucket(bIntents)
	var cur struct {
		PourID string `json:"pour_id"`
	}
	if v := bk.Get(lineKey(p.line)); v == nil || json.Unmarshal(v, &cur) != nil || cur.PourID != p.pourID {
		return nil
	}
	return bk.Put(lineKey(p.line), p.value)
}

func (p *pendingCkpt) finish(err error) {
	for _, d := range p.done {
		d(err)
	}
}

// Intents returns every open pour intent: after a crash, the pours to recover.
func (s *Store) Intents() ([]Intent, error) {
	var out []Intent
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bIntents).ForEach(func(k, v []byte) error {
			var in Intent
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("storage: intent for line %x: %w", k, err)
			}
			out = append(out, in)
			return nil
		})
	})
	return out, err
}

// Booking is everything that changes when a pour ends, committed together.
type Booking struct {
	Record Record
	// Keg, when set, replaces the line's keg state.
	Keg *flow.Keg
	// Also are changes other packages make with the booking, atomically
	// (a cash-register debit, a credit given back).
	Also []Change
}

// ErrDuplicate is returned by Book for a record id already in the outbox.
var ErrDuplicate = errors.New("record already booked")

// Book writes the record to the outbox, drops the line's intent for it and
// updates the keg, in one transaction. Booking the same id twice changes
// nothing and returns ErrDuplicate with the original sequence.
func (s *Store) Book(b Booking) (uint64, error) {
	b.Record.V = RecordVersion
	b.Record.Seq = 0
	s.stamp.apply(&b.Record)
	var keg []byte
	var err error
	if b.Keg != nil {
		if keg, err = json.Marshal(b.Keg); err != nil {
			return 0, fmt.Errorf("storage: keg: %w", err)
		}
	}
	var seq uint64
	dup := false
	err = s.update(func(tx *bolt.Tx) error {
		dup = false
		r := b.Record
		if tx.Bucket(bPourIDs).Get([]byte(r.ID)) == nil {
			r.Stream = StreamOf(r.Kind)
			var err error
			if r.StreamSeq, err = nextInStream(tx, r.Stream); err != nil {
				return err
			}
		}
		rec, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("storage: record: %w", err)
		}
		if err := book(tx, r, rec, keg, &seq, &dup); err != nil || dup {
			return err
		}
		return applyChanges(tx, b.Also)
	})
	if err == nil && dup {
		err = ErrDuplicate
	}
	return seq, err
}

// apply writes the wall's zone (IANA name and the offset in force when
// the record ended) and currency into a record.
func (st Stamp) apply(r *Record) {
	if st.Zone != nil {
		r.Zone = cmp.Or(st.ZoneName, st.Zone.String())
		_, off := time.UnixMilli(r.EndedAt).In(st.Zone).Zone()
		r.UTCOffset = &off
	}
	if st.Currency != "" {
		r.Currency, r.Decimals = st.Currency, st.Decimals
	}
}

func book(tx *bolt.Tx, r Record, rec, keg []byte, seq *uint64, dup *bool) error {
	ids := tx.Bucket(bPourIDs)
	if v := ids.Get([]byte(r.ID)); v != nil {
		*seq, *dup = be(v), true
		return nil
	}
	out := tx.Bucket(bOutbox)
	out.FillPercent = 1 // keys only grow: full pages (see timeOrdered)
	n, err := out.NextSequence()
	if err != nil {
		return err
	}
	*seq = n
	if err := out.Put(u64(n), rec); err != nil {
		return err
	}
	if err := ids.Put([]byte(r.ID), u64(n)); err != nil {
		return err
	}
	in := tx.Bucket(bIntents)
	if cur := in.Get(lineKey(r.Line)); cur != nil {
		var open Intent
		if json.Unmarshal(cur, &open) != nil || open.PourID == r.ID {
			if err := in.Delete(lineKey(r.Line)); err != nil {
				return err
			}
		}
	}
	if keg != nil {
		return tx.Bucket(bKegs).Put(lineKey(r.Line), keg)
	}
	return nil
}

// Outbox returns up to n records with sequence > after, oldest first.
func (s *Store) Outbox(after uint64, n int) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < n; k, v = c.Next() {
			r, err := DecodeRecord(v)
			if err != nil {
				return fmt.Errorf("storage: outbox %d: %w", be(k), err)
			}
			r.Seq = be(k)
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// OutboxLen is the number of records waiting for upload.
func (s *Store) OutboxLen() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bOutbox).Stats().KeyN
		return nil
	})
	return n, err
}

// DecodeRecord parses a stored record and checks what must hold for it to
// be booked upstream.
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("record: %w", err)
	}
	switch {
	case r.V < 1 || r.V > RecordVersion:
		return Record{}, fmt.Errorf("record: version %d not supported", r.V)
	case r.ID == "":
		return Record{}, errors.New("record: missing id")
	case r.Line < 0:
		return Record{}, fmt.Errorf("record: line %d", r.Line)
	case r.Pour.Volume < 0 || r.Pour.Amount < 0 || r.Pour.Pulses < 0:
		return Record{}, errors.New("record: negative volume, amount or pulses")
	}
	switch r.Kind {
	case KindPour, KindCleaning, KindCalibration, KindUnattributed, KindCardPurchase, KindVend:
	default:
		return Record{}, fmt.Errorf("record: unknown kind %q", r.Kind)
	}
	return r, nil
}

// Kegs returns the stored keg of every line.
func (s *Store) Kegs() (map[int]flow.Keg, error) {
	out := map[int]flow.Keg{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bKegs).ForEach(func(k, v []byte) error {
			var kg flow.Keg
			if err := json.Unmarshal(v, &kg); err != nil {
				return fmt.Errorf("storage: keg %x: %w", k, err)
			}
			out[int(binary.BigEndian.Uint32(k))] = kg
			return nil
		})
	})
	return out, err
}

// PutKeg stores a line's keg (a keg change or correction), with also (an
// audit record, say) in the same commit.
func (s *Store) PutKeg(line int, k flow.Keg, also ...Change) error {
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("storage: keg: %w", err)
	}
	return s.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bKegs).Put(lineKey(line), b); err != nil {
			return err
		}
		return applyChanges(tx, also)
	})
}

// Calibrations returns stored K-factors by line.
func (s *Store) Calibrations() (map[int]Calibration, error) {
	out := map[int]Calibration{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bCalib).ForEach(func(k, v []byte) error {
			var c Calibration
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("storage: calibration %x: %w", k, err)
			}
			out[int(binary.BigEndian.Uint32(k))] = c
			return nil
		})
	})
	return out, err
}

// PutCalibration stores a line's new K-factor, with also in the same commit.
func (s *Store) PutCalibration(line int, c Calibration, also ...Change) error {
	if c.KMilli <= 0 {
		return fmt.Errorf("storage: calibration: K-factor must be > 0")
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("storage: calibration: %w", err)
	}
	return s.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bCalib).Put(lineKey(line), b); err != nil {
			return err
		}
		return applyChanges(tx, also)
	})
}

// AppendEvent adds an event to the durable log, trimming the oldest beyond
// the configured size. It neither waits for the commit nor blocks: events
// wait in a queue of their own, at most MaxEvents long, and ride in the
// writer's commits after every other write. When a storm of events outruns
// the disk, the oldest waiting ones are dropped (done hears nil), exactly
// those the log would have trimmed once the newer ones were written.
func (s *Store) AppendEvent(ev []byte, done func(error)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		done(ErrClosed)
		return
	}
	s.evMu.Lock()
	s.events = append(s.events, pendingEvent{ev: ev, done: done})
	var dropped []pendingEvent
	if over := len(s.events) - s.maxEvents; over > 0 {
		dropped = append(dropped, s.events[:over]...)
		s.events = append(s.events[:0], s.events[over:]...)
	}
	s.evMu.Unlock()
	for _, d := range dropped {
		d.done(nil)
	}
	s.wakeWriter()
}

// pendingEvent is an event waiting for the writer.
type pendingEvent struct {
	ev   []byte
	done func(error)
}

// takeEvents moves up to n waiting events into one job.
func (s *Store) takeEvents(n int) []job {
	s.evMu.Lock()
	k := min(n, len(s.events))
	evs := append([]pendingEvent(nil), s.events[:k]...)
	s.events = append(s.events[:0], s.events[k:]...)
	more := len(s.events) > 0
	s.evMu.Unlock()
	if more {
		s.wakeWriter()
	}
	out := make([]job, 0, k)
	for _, e := range evs {
		out = append(out, job{fn: s.appendEvent(e.ev), done: e.done})
	}
	return out
}

func (s *Store) appendEvent(ev []byte) func(*bolt.Tx) error {
	max := s.maxEvents
	return func(tx *bolt.Tx) error {
		bk := tx.Bucket(bEvents)
		bk.FillPercent = 1 // keys only grow: full pages (see timeOrdered)
		n, err := bk.NextSequence()
		if err != nil {
			return err
		}
		if err := bk.Put(u64(n), ev); err != nil {
			return err
		}
		if n > uint64(max) {
			return bk.Delete(u64(n - uint64(max)))
		}
		return nil
	}
}

// Events returns up to n most recent events, oldest first.
func (s *Store) Events(n int) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			out = append(out, append([]byte(nil), v...))
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// EventLog returns up to n most recent entries of the durable event log
// with their sequence numbers, oldest first.
func (s *Store) EventLog(n int) ([]LoggedEvent, error) {
	var out []LoggedEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			out = append(out, LoggedEvent{Seq: be(k), Raw: append([]byte(nil), v...)})
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}
