package smartnow

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// Payment methods (the reference's enum).
const (
	MethodCash    = "cash"
	MethodCard    = "card"
	MethodCode    = "code"
	MethodVirtual = "virtual"
	MethodToken   = "token"
)

// remoteLegacy offsets the outbox sequence of records booked before
// records had a device sequence, so that they never clash with one.
const remoteLegacy = 1 << 40

// PaymentTransaction is one payment of a revenue transaction.
type PaymentTransaction struct {
	OccurredAt string `json:"occurredAt"`
	TimeZone   string `json:"timeZone"`
	Method     string `json:"method"`
	Type       string `json:"type"`
	Price      int64  `json:"price"`
	Currency   string `json:"currency"`
}

// RevenueTransaction is one sale with its payments, as the reference's
// revenuetransaction and paymenttransaction resources show them.
type RevenueTransaction struct {
	Hostname            string               `json:"hostname"`
	Machine             int64                `json:"machine,omitempty"`
	Name                string               `json:"name"`
	InternalRef         string               `json:"internalRef"`
	OccurredAt          string               `json:"occurredAt"`
	TimeZone            string               `json:"timeZone"`
	Timestamp           int64                `json:"timestamp"`
	OriginalPrice       int64                `json:"originalPrice"`
	Price               int64                `json:"price"`
	Currency            string               `json:"currency"`
	Remote              uint64               `json:"remote"`
	PaymentTransactions []PaymentTransaction `json:"paymentTransactions"`
}

// Log is one machine log entry (an alarm or service event).
type Log struct {
	Hostname     string  `json:"hostname"`
	Machine      int64   `json:"machine,omitempty"`
	Remote       uint64  `json:"remote"`
	Code         string  `json:"code"`
	Type         int     `json:"type"`
	IsResolvable bool    `json:"isResolvable"`
	OccurredAt   string  `json:"occurredAt"`
	TimeZone     string  `json:"timeZone"`
	Timestamp    int64   `json:"timestamp"`
	Duration     *int64  `json:"duration"`
	ExtraData    string  `json:"extraData"`
	ResolvedAt   *string `json:"resolvedAt"`
}

// Log codes of the service records (docs/clouds.md).
const (
	CodeUnattributed = "TA_UNATTRIBUTED"
	CodeCleaning     = "TA_CLEANING"
	CodeCalibration  = "TA_CALIBRATION"
)

// Log types.
const (
	LogTypeInfo  = 1
	LogTypeAlarm = 2
)

// Machine identifies this machine on every upload; Zone (and its IANA
// name) is the wall's, for events, which the log keeps in UTC.
type Machine struct {
	Hostname string
	ID       int64
	Zone     *time.Location
	ZoneName string
}

func (m Machine) zoneName() string {
	switch {
	case m.ZoneName != "":
		return m.ZoneName
	case m.Zone != nil:
		return m.Zone.String()
	}
	return "UTC"
}

// when renders a record's end in its zone: RFC 3339 with the offset, the
// IANA name, epoch seconds.
func when(r storage.Record) (occurred, zone string, epoch int64) {
	t := time.UnixMilli(r.EndedAt).UTC()
	zone = r.Zone
	switch {
	case r.UTCOffset != nil:
		t = t.In(time.FixedZone(zone, *r.UTCOffset))
	case zone != "":
		if loc, err := time.LoadLocation(zone); err == nil {
			t = t.In(loc)
		}
	}
	if zone == "" {
		zone = "UTC"
	}
	return t.Format(time.RFC3339), zone, r.EndedAt / 1000
}

// remote is the record's idempotency key at SmartNow.
func remote(r storage.Record) uint64 {
	if r.StreamSeq > 0 {
		return r.StreamSeq
	}
	return remoteLegacy + r.Seq
}

// Method is the SmartNow payment method of a record.
func Method(r storage.Record) string {
	switch {
	case r.Ref.Voucher != "":
		return MethodCode
	case r.Ref.Vend != "":
		return MethodCard
	case r.Ref.Reservation != "":
		return MethodCash
	case r.Ref.CardType != "":
		return MethodToken
	}
	return MethodVirtual
}

// Revenue converts a sale; ok is false for a record that is no sale
// (nothing poured or made).
func Revenue(r storage.Record, m Machine) (RevenueTransaction, bool) {
	switch r.Kind {
	case storage.KindPour:
		if r.Pour.Charged <= 0 && r.Pour.Amount <= 0 {
			return RevenueTransaction{}, false
		}
	case storage.KindVend:
		if !r.Pour.Complete {
			return RevenueTransaction{}, false
		}
	default:
		return RevenueTransaction{}, false
	}
	at, zone, epoch := when(r)
	orig := PouredOriginal(r)
	name := r.Product
	if name == "" {
		name = fmt.Sprintf("PLU %d", r.PLU)
	}
	method := Method(r)
	return RevenueTransaction{Hostname: m.Hostname, Machine: m.ID, Name: name, InternalRef: strconv.Itoa(r.PLU),
		OccurredAt: at, TimeZone: zone, Timestamp: epoch, OriginalPrice: orig, Price: r.Pour.Amount,
		Currency: r.Currency, Remote: remote(r),
		PaymentTransactions: []PaymentTransaction{{OccurredAt: at, TimeZone: zone, Method: method, Type: method,
			Price: r.Pour.Amount, Currency: r.Currency}}}, true
}

// ServiceLog converts a cleaning, calibration or leak record; ok is false
// for the other kinds.
func ServiceLog(r storage.Record, m Machine) (Log, bool) {
	code, typ := "", LogTypeInfo
	switch r.Kind {
	case storage.KindUnattributed:
		code, typ = CodeUnattributed, LogTypeAlarm
	case storage.KindCleaning:
		code = CodeCleaning
	case storage.KindCalibration:
		code = CodeCalibration
	default:
		return Log{}, false
	}
	at, zone, epoch := when(r)
	extra := jsonText(map[string]any{"line": r.Line, "volume_ml10": int64(r.Pour.Volume), "record": r.ID})
	var dur *int64
	if d := (r.EndedAt - r.StartedAt) / 1000; d >= 0 {
		dur = &d
	}
	return Log{Hostname: m.Hostname, Machine: m.ID, Remote: remote(r), Code: code, Type: typ, OccurredAt: at, TimeZone: zone,
		Timestamp: epoch, Duration: dur, ExtraData: extra}, true
}

// Created is the reply to a create: the new resource's id.
type Created struct {
	ID int64 `json:"id"`
}

// DecodeCreated parses a create's reply.
func DecodeCreated(b []byte) (Created, error) {
	var c Created
	if err := json.Unmarshal(b, &c); err != nil {
		return Created{}, fmt.Errorf("%w: created: %w", ErrMalformed, err)
	}
	if c.ID < 0 {
		return Created{}, fmt.Errorf("%w: created: id %d", ErrMalformed, c.ID)
	}
	return c, nil
}
