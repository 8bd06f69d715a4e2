package telemetron

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// Vend types of a vend row (docs/clouds.md: assumed numbering, the
// reference shows 3 in a type=paid answer).
const (
	VendTest = 1
	VendFree = 2
	VendPaid = 3
)

// Payment types of a vend row.
const (
	PayCash     = 1
	PayCashless = 2
	PayToken    = 3
)

// Machine states (the reference's machine object).
const (
	StateOperating    = 1
	StateOutOfService = 2
)

// ErrOverflow is a vend row whose value (price × number) does not fit.
var ErrOverflow = errors.New("telemetron: value overflows")

// Sale is one vend row: POST .../sales takes a list of them, and the vend
// statistics (stats/vends/products, .../payments) read them back.
type Sale struct {
	Time         string `json:"time"`
	LayoutNumber string `json:"layout_number"`
	Name         string `json:"name"`
	Price        int64  `json:"price"`
	Number       int64  `json:"number"`
	Value        int64  `json:"value"`
	VendType     int    `json:"vend_type"`
	PaymentType  int    `json:"payment_type"`
}

// Event is one machine event, as GET .../events shows it: an EVA-DTS
// style code and a payload (an array, or null).
type Event struct {
	Date    string          `json:"date"`
	Code    string          `json:"code"`
	Payload json.RawMessage `json:"payload"`
}

// Service are the machine object's service flags the agent knows of.
type Service struct {
	NeedLoading   bool `json:"need_loading"`
	NoRecentSales bool `json:"no_recent_sales"`
}

// State is the machine's operating state and service flags.
type State struct {
	State   int     `json:"state"`
	Service Service `json:"service"`
}

// LoadLine is one component of a refill (Add) or an inventory (Loaded).
type LoadLine struct {
	ComponentID  int64   `json:"component_id"`
	LayoutNumber *string `json:"layout_number,omitempty"`
	Add          *int64  `json:"add,omitempty"`
	Loaded       *int64  `json:"loaded,omitempty"`
}

// Load is the body of POST .../loading (a refill) and .../inventory (a
// count). CreatedAt is the device's time of the change: Telemetron
// answers a second document with the same created_at L102 Duplicate,
// which makes a resend safe.
type Load struct {
	Data      []LoadLine `json:"data"`
	Note      string     `json:"note,omitempty"`
	CreatedAt string     `json:"created_at"`
}

// Level is one component's load level, as GET .../loading shows it.
type Level struct {
	ComponentID  int64   `json:"component_id"`
	Value        int64   `json:"value"`
	LayoutNumber *string `json:"layout_number,omitempty"`
}

// Report is one EVA-DTS report document; Data is encoded as the
// request's cp1251 and base64 flags say.
type Report struct {
	Date string `json:"date"`
	Data string `json:"data"`
	Port int    `json:"evadts_port"`
}

// Machine is what the mapping needs to know of the machine: the wall's
// zone (times carry its offset) and the EXE selection of each vended PLU
// (a vend's layout_number).
type Machine struct {
	Zone       *time.Location
	Selections map[int]int
}

// Stamp renders t in ISO 8601 with the offset of zone (UTC when nil), as
// Telemetron's times are written.
func Stamp(t time.Time, zone *time.Location) string {
	if zone == nil {
		zone = time.UTC
	}
	return t.In(zone).Format(time.RFC3339)
}

// RecordTime is when a record ended, with the offset in force then (the
// record's own, kept across a zone-rule change), else in zone.
func RecordTime(r storage.Record, zone *time.Location) string {
	t := time.UnixMilli(r.EndedAt)
	if r.UTCOffset != nil {
		return t.In(time.FixedZone(r.Zone, *r.UTCOffset)).Format(time.RFC3339)
	}
	return Stamp(t, zone)
}

// IsSale says whether a record is a vend row: a pour that poured or was
// charged, a vend that was made, a cleaning or calibration (a test vend).
func IsSale(r storage.Record) bool {
	switch r.Kind {
	case storage.KindPour:
		return r.Pour.Volume > 0 || r.Pour.Amount > 0
	case storage.KindVend:
		return r.Pour.Complete
	case storage.KindCleaning, storage.KindCalibration:
		return true
	}
	return false
}

// VendType is a record's vend type: cleaning and calibration are test
// vends, a sale that charged nothing (free, staff) is free, the rest paid.
func VendType(r storage.Record) int {
	switch {
	case r.Kind == storage.KindCleaning || r.Kind == storage.KindCalibration,
		r.Pour.Auth.Mode == flow.ModeCleaning || r.Pour.Auth.Mode == flow.ModeCalibration:
		return VendTest
	case r.Pour.Amount <= 0:
		return VendFree
	}
	return VendPaid
}

// mdbCardTypes are the TTG card types of a sale paid at the MDB terminal.
var mdbCardTypes = map[string]bool{"61": true, "62": true}

// PaymentType is how a record was paid: the MDB terminal is cashless, a
// tapagent DESFire card (prepaid, online, staff) or a voucher is a token,
// a waiter's credit at the cash register and an open pour paid at the bar
// are cash.
func PaymentType(r storage.Record) int {
	switch {
	case r.Ref.Vend != "" || mdbCardTypes[r.Ref.CardType]:
		return PayCashless
	case r.Ref.Reservation != "":
		return PayCash
	case r.Ref.Voucher != "", r.Ref.CardType != "" && r.Ref.CardType != "33", r.Ref.CardKey != "":
		return PayToken
	}
	return PayCash
}

// LayoutNumber is where the product came from: the line id of a pour,
// the EXE selection of a vend (its PLU when no selection sells it).
func LayoutNumber(r storage.Record, m Machine) string {
	if r.Kind == storage.KindVend {
		if sel, ok := m.Selections[r.PLU]; ok {
			return strconv.Itoa(sel)
		}
		return "PLU " + strconv.Itoa(r.PLU)
	}
	return strconv.Itoa(r.Line)
}

// VendRow maps a record to its vend row; ok is false for a record that is
// no vend (a card top-up, unattributed flow, nothing poured). One record
// is one vend (number 1) at the amount charged.
func VendRow(r storage.Record, m Machine) (s Sale, ok bool, err error) {
	if !IsSale(r) {
		return Sale{}, false, nil
	}
	name := r.Product
	if name == "" {
		name = "PLU " + strconv.Itoa(r.PLU)
	}
	price := max(r.Pour.Amount, 0)
	value, err := Value(price, 1)
	if err != nil {
		return Sale{}, true, fmt.Errorf("record %s: %w", r.ID, err)
	}
	return Sale{Time: RecordTime(r, m.Zone), LayoutNumber: LayoutNumber(r, m), Name: name, Price: price, Number: 1,
		Value: value, VendType: VendType(r), PaymentType: PaymentType(r)}, true, nil
}

// Value is price × number, refused when either is negative or the
// product does not fit in an int64.
func Value(price, number int64) (int64, error) {
	if price < 0 || number < 0 {
		return 0, fmt.Errorf("%w: price %d × number %d is negative", ErrOverflow, price, number)
	}
	if number != 0 && price > math.MaxInt64/number {
		return 0, fmt.Errorf("%w: price %d × number %d", ErrOverflow, price, number)
	}
	return price * number, nil
}

// ML is a volume in whole millilitres, rounded half away from zero; a
// keg poured past its size (the registry is an estimate) is 0.
func ML(v flow.Vol) int64 {
	if v <= 0 {
		return 0
	}
	return (int64(v) + 5) / 10 // v <= MaxInt64 - 5 is far beyond any keg
}

// Levels are the kegs as load levels: one component per line, the
// component id being the line id, the value the keg's remaining volume in
// millilitres.
func Levels(kegs map[int]flow.Keg) []Level {
	out := make([]Level, 0, len(kegs))
	for _, line := range sortedLines(kegs) {
		out = append(out, Level{ComponentID: int64(line), Value: ML(kegs[line].Remaining)})
	}
	return out
}

// Refill is the refill (POST .../loading) of a keg change on line: the
// new keg adds its volume, at the device time of the change.
func Refill(line int, k flow.Keg, at time.Time, zone *time.Location) Load {
	add := ML(k.Remaining)
	note := "keg changed"
	if k.ID != "" {
		note += ": " + k.ID
	}
	return Load{Data: []LoadLine{{ComponentID: int64(line), Add: &add}}, Note: note, CreatedAt: Stamp(at, zone)}
}

// Inventory is the count (POST .../inventory) of the given kegs at the
// device time at: each line's remaining volume in millilitres.
func Inventory(kegs map[int]flow.Keg, at time.Time, zone *time.Location, note string) Load {
	ld := Load{Note: note, CreatedAt: Stamp(at, zone)}
	for _, line := range sortedLines(kegs) {
		v := ML(kegs[line].Remaining)
		ld.Data = append(ld.Data, LoadLine{ComponentID: int64(line), Loaded: &v})
	}
	return ld
}

// underPar says whether a keg is at or under its par level: the line's
// keg_low_percent of its size (the flag the wall set, or the level now,
// after an adjustment).
func underPar(k flow.Keg) bool {
	return k.Low || k.Size > 0 && k.LowPercent > 0 && k.FillPermille() <= k.LowPercent*10
}

func sortedLines(kegs map[int]flow.Keg) []int { return slices.Sorted(maps.Keys(kegs)) }

// Wall is what the machine state is made of.
type Wall struct {
	// Lines are the configured line ids; Kegs the kegs on them and Locked
	// the lines an operator locked.
	Lines  []int
	Kegs   map[int]flow.Keg
	Locked map[int]bool
	// LastSale is the time of the last sale (zero: none known).
	LastSale time.Time
}

// StateOf maps the wall to the machine state: out of service when no
// line can pour (every line locked or its keg empty), else operating;
// need_loading when any keg is at or under its par level (the line's
// keg_low_percent), empty or kicked; no_recent_sales when nothing was sold
// for noSalesAfter (a wall with no sale known counts from since, the
// agent's start).
func StateOf(w Wall, now, since time.Time, noSalesAfter time.Duration) State {
	st := State{State: StateOutOfService}
	for _, line := range w.Lines {
		k, ok := w.Kegs[line]
		dry := ok && (k.Empty || k.Kicked)
		if ok && (dry || underPar(k)) {
			st.Service.NeedLoading = true
		}
		if !dry && !w.Locked[line] {
			st.State = StateOperating
		}
	}
	last := w.LastSale
	if last.IsZero() {
		last = since
	}
	st.Service.NoRecentSales = noSalesAfter > 0 && now.Sub(last) >= noSalesAfter
	return st
}
