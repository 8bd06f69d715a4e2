// Package history is the wall's own record of what happened: booked pours,
// card actions, keg and line operations (who did what, before and after),
// cleanings and alarms. Entries live in the storage bucket Bucket, written
// by the agent in the same commit as the change they describe, keyed by
// time so that queries by time range and pruning oldest-first are a cursor
// seek. This package only encodes, decodes and queries; it writes nothing
// on its own.
package history

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// Bucket is the storage bucket (storage.Store.View / Update, storage.Change)
// holding the history. Its keys are KeyLen bytes: the entry's time as
// 8-byte big-endian unix nanoseconds, then the bucket's 8-byte big-endian
// sequence, so entries sort by time and two in the same nanosecond never
// collide. Pruners rely on exactly this form: every key starts with its time.
const Bucket = "history"

// KeyLen is the length of every key in Bucket.
const KeyLen = 16

// Entry kinds.
const (
	KindPour         = storage.KindPour
	KindCleaning     = storage.KindCleaning
	KindCalibration  = storage.KindCalibration
	KindUnattributed = storage.KindUnattributed
	KindCardPurchase = storage.KindCardPurchase
	KindVend         = storage.KindVend
	// KindOperation is a keg or line operation by a person (Entry.Op says which).
	KindOperation = "operation"
	// KindAlarm is an alarm raised or cleared on a line.
	KindAlarm = "alarm"
)

// Operations (Entry.Op of a KindOperation entry).
const (
	OpKegChange = "keg.change"
	OpKegAdjust = "keg.adjust"
	OpKegEmpty  = "keg.empty"
	OpLock      = "line.lock"
	OpUnlock    = "line.unlock"
	OpCleanOn   = "line.clean.start"
	OpCleanOff  = "line.clean.stop"
	OpCalibrate = "line.calibrate"
)

// Payment types (Entry.Payment).
const (
	PayNone     = "none"     // cleaning, calibration, leaks, operations
	PayFree     = "free"     // poured without a payment (button, service, scenario)
	PayCard     = "card"     // a customer card: online or prepaid DESFire
	PayRemote   = "remote"   // a remote login paid in an app
	PayTerminal = "terminal" // an MDB card terminal
	PayRegister = "register" // a waiter's credit from the cash register
)

// Actor is who did an operation: a person's name and role, and the way in
// ("cli", "mqtt", "web", "card", "scenario").
type Actor struct {
	Name string `json:"name,omitempty"`
	Role string `json:"role,omitempty"`
	Via  string `json:"via"`
}

// String prints the actor as "name (role) via cli".
func (a Actor) String() string {
	s := a.Name
	if s == "" {
		s = "someone"
	}
	if a.Role != "" {
		s += " (" + a.Role + ")"
	}
	return s + " via " + a.Via
}

// LineState is a line's keg and service state before or after an operation.
type LineState struct {
	Keg      flow.Keg `json:"keg"`
	Product  string   `json:"product,omitempty"`
	PLU      int      `json:"plu,omitempty"`
	Locked   bool     `json:"locked,omitempty"`
	Cleaning bool     `json:"cleaning,omitempty"`
	KMilli   int64    `json:"k_milli,omitempty"`
}

// Entry is one history record. Volumes are flow.Vol (mL×10), money minor units.
type Entry struct {
	// Time is when it happened (UTC); the key carries it too.
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Op      string    `json:"op,omitempty"`
	Line    int       `json:"line,omitempty"`
	Product string    `json:"product,omitempty"`
	PLU     int       `json:"plu,omitempty"`
	// ID is the pour's or record's id.
	ID string `json:"id,omitempty"`
	// Card is the salted hash of the card's UID, never the UID.
	Card    string     `json:"card,omitempty"`
	Payment string     `json:"payment,omitempty"`
	Mode    string     `json:"mode,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	Volume  flow.Vol   `json:"volume_ml10,omitempty"`
	Amount  int64      `json:"amount,omitempty"`
	Actor   *Actor     `json:"actor,omitempty"`
	Before  *LineState `json:"before,omitempty"`
	After   *LineState `json:"after,omitempty"`
	Detail  string     `json:"detail,omitempty"`
}

// Put appends e to the history bucket b (inside the caller's transaction).
func Put(b storage.Bucket, e Entry) error {
	if e.Time.IsZero() {
		return errors.New("history: entry without a time")
	}
	e.Time = e.Time.UTC()
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return b.Put(Key(e.Time, seq), raw)
}

// Change is e as work committed with a booking or a keg write.
func Change(e Entry) storage.Change {
	return storage.Change{Bucket: Bucket, Apply: func(b storage.Bucket) error { return Put(b, e) }}
}

// Key is the bucket key of an entry at t with sequence seq. Times before
// 1970 are stored as 0 so that keys stay ordered.
func Key(t time.Time, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, KeyLen), timeKey(t))
	return binary.BigEndian.AppendUint64(k, seq)
}

func timeKey(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

// Decode parses a stored entry and checks what a query relies on.
func Decode(k, v []byte) (Entry, error) {
	if len(k) != KeyLen {
		return Entry{}, fmt.Errorf("history: key of %d bytes, want %d", len(k), KeyLen)
	}
	var e Entry
	if err := json.Unmarshal(v, &e); err != nil {
		return Entry{}, fmt.Errorf("history: entry %x: %w", k, err)
	}
	if e.Kind == "" {
		return Entry{}, fmt.Errorf("history: entry %x has no kind", k)
	}
	if e.Volume < 0 || e.Amount < 0 {
		return Entry{}, fmt.Errorf("history: entry %x has a negative volume or amount", k)
	}
	return e, nil
}

// Ref keys other packages set on records, read here to name the payment
// (the packages that set them import this one, so they are spelled out).
const (
	refTerminalVend   = "mdb_vend"        // agent/terminalsale.RefVend
	refRegisterCredit = "pos_reservation" // agent/cashregister.RefReservation
	refCardKey        = "card_key"        // agent/cardpay.RefCardKey
)

// PaymentOf names how a booked record was paid.
func PaymentOf(r storage.Record) string {
	switch {
	case r.Kind == storage.KindCleaning || r.Kind == storage.KindCalibration || r.Kind == storage.KindUnattributed:
		return PayNone
	case r.Ref[refTerminalVend] != "":
		return PayTerminal
	case r.Ref[refRegisterCredit] != "":
		return PayRegister
	case r.Ref[ttg.RefCardType] == strconv.Itoa(ttg.CardRemoteLogin):
		return PayRemote
	case r.Kind == storage.KindCardPurchase || CardOf(r) != "":
		return PayCard
	}
	return PayFree
}

// CardOf is the card UID a record names ("" for none): the online card's
// number or the prepaid card's UID, to be hashed before it is kept.
func CardOf(r storage.Record) string {
	if v := r.Ref[ttg.RefCardID]; v != "" && v != "0" {
		return v
	}
	return r.Ref[refCardKey]
}

// FromRecord is the history entry of a booked record; card is the card's
// hash (the caller holds the salt).
func FromRecord(r storage.Record, card string) Entry {
	e := Entry{Time: time.UnixMilli(r.EndedAt).UTC(), Kind: r.Kind, Line: r.Line, Product: r.Product, PLU: r.PLU,
		ID: r.ID, Card: card, Payment: PaymentOf(r), Reason: string(r.Pour.Reason), Volume: max(r.Pour.Volume, 0),
		Amount: max(r.Pour.Amount, 0)}
	if r.Kind != storage.KindCardPurchase && r.Kind != storage.KindVend {
		e.Mode = r.Pour.Auth.Mode.String()
	}
	if r.Recovered {
		e.Detail = "recovered after a crash"
	}
	if r.Kind == storage.KindCardPurchase {
		e.Detail = "card " + r.Ref[ttg.RefPurchaseType]
	}
	return e
}

// lightEntry is what queries and totals read of an entry.
type lightEntry struct {
	Kind    string   `json:"kind"`
	Line    int      `json:"line"`
	Product string   `json:"product"`
	PLU     int      `json:"plu"`
	Card    string   `json:"card"`
	Payment string   `json:"payment"`
	Volume  flow.Vol `json:"volume_ml10"`
	Amount  int64    `json:"amount"`
}

// decodeLight decodes the fields a query filters and sums, with the time
// from the key (what Put stored there), and checks them as Decode does.
func decodeLight(k, v []byte) (Entry, error) {
	if len(k) != KeyLen {
		return Entry{}, fmt.Errorf("history: key of %d bytes, want %d", len(k), KeyLen)
	}
	var l lightEntry
	if err := json.Unmarshal(v, &l); err != nil {
		return Entry{}, fmt.Errorf("history: entry %x: %w", k, err)
	}
	if l.Kind == "" {
		return Entry{}, fmt.Errorf("history: entry %x has no kind", k)
	}
	if l.Volume < 0 || l.Amount < 0 {
		return Entry{}, fmt.Errorf("history: entry %x has a negative volume or amount", k)
	}
	return Entry{Time: time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC(), Kind: l.Kind, Line: l.Line, Product: l.Product,
		PLU: l.PLU, Card: l.Card, Payment: l.Payment, Volume: l.Volume, Amount: l.Amount}, nil
}

// CardHash is how the history, events and logs name a card: a keyed hash
// of its UID (decimal as the server knows it, or hex for a DESFire card)
// with the device's secret salt, stable on one device and useless
// anywhere else; "" stays "".
func CardHash(salt []byte, uid string) string {
	if uid == "" {
		return ""
	}
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(uid))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
