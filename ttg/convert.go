package ttg

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// unitScale is each volume unit in tenths of a millilitre ×1000, so that a
// fluid ounce stays exact to 1e-4 mL: "oz" is the US fluid ounce
// (29.5735 mL, the spec's default base unit), the imperial one is 28.4131 mL.
var unitScale = map[string]int64{
	"ml": 10_000, "cl": 100_000, "dl": 1_000_000, "l": 10_000_000,
	"oz": 295_735, "floz": 295_735, "fl oz": 295_735, "fl. oz": 295_735, "us oz": 295_735, "us fl oz": 295_735,
	"imp oz": 284_131, "imp fl oz": 284_131, "uk oz": 284_131, "uk fl oz": 284_131,
}

// Units is the server's volume base unit and its decimal places.
type Units struct {
	Unit  string
	DP    int
	scale int64
}

// NewUnits returns the units for a unit name such as "oz" or "ml".
func NewUnits(unit string, dp int) (Units, error) {
	s, ok := unitScale[strings.ToLower(strings.TrimSpace(unit))]
	if !ok {
		return Units{}, fmt.Errorf("volume unit %q is not one of ml, cl, dl, l, oz (US), imp oz", unit)
	}
	if dp < 0 || dp > 3 {
		return Units{}, fmt.Errorf("volume decimal places %d not in 0..3", dp)
	}
	return Units{Unit: unit, DP: dp, scale: s}, nil
}

// UnitsFromConfig reads volume_base_unit and volume_base_unit_dp from the
// server configuration; the spec's defaults are oz with one decimal.
func UnitsFromConfig(cfg map[string]string) (Units, error) {
	unit, dp := "oz", 1
	if v := cfg["volume_base_unit"]; v != "" {
		unit = v
	}
	if v := cfg["volume_base_unit_dp"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Units{}, fmt.Errorf("volume_base_unit_dp %q: %w", v, err)
		}
		dp = n
	}
	return NewUnits(unit, dp)
}

func pow10(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// divRound divides with rounding half away from zero.
func divRound(a, b int64) int64 {
	if (a < 0) != (b < 0) {
		return (a - b/2) / b
	}
	return (a + b/2) / b
}

// FromVol converts a volume to the base unit with DP decimals (the integer
// the wire carries: 16.0 oz with dp 1 is 160).
func (u Units) FromVol(v flow.Vol) int64 {
	return divRound(int64(v)*1000*pow10(u.DP), u.scale)
}

// ToVol converts an amount in base units with dp decimals to a volume.
func (u Units) ToVol(amount int64, dp int) flow.Vol {
	return flow.Vol(divRound(amount*u.scale, 1000*pow10(dp)))
}

// Price is a unit price in cents per base unit as a flow price.
func (u Units) Price(centsPerUnit int64) flow.Price {
	return flow.Price{Minor: centsPerUnit * 1000, PerVol: flow.Vol(u.scale)}
}

// CentsPerUnit converts a flow price back to cents per base unit.
func (u Units) CentsPerUnit(p flow.Price) int64 {
	if !p.Valid() {
		return 0
	}
	return divRound(p.Minor*u.scale, 1000*int64(p.PerVol))
}

// Servings is the poured volume in servings ×100, a serving being
// unitsPerServing base units.
func (u Units) Servings(v flow.Vol, unitsPerServing int64) int64 {
	if unitsPerServing <= 0 {
		return 0
	}
	return divRound(u.FromVol(v)*100, unitsPerServing*pow10(u.DP))
}

// ErrNotTransaction marks records that are not sent to the server, such as
// unattributed flow (leaks): it has no card, customer or sale.
var ErrNotTransaction = errors.New("not a TTG transaction")

// Converter turns booked records into wire transactions.
type Converter struct {
	Units Units
	Loc   *time.Location
	// UnitsPerServing by PLU, for the servings field.
	UnitsPerServing map[int]int64
}

// Transaction converts one record. Errors other than ErrNotTransaction mean
// the record cannot be sent as it is (a dead letter).
func (c Converter) Transaction(r storage.Record) (Transaction, error) {
	if r.Kind == storage.KindUnattributed {
		return Transaction{}, ErrNotTransaction
	}
	loc := c.Loc
	if loc == nil {
		loc = time.Local
	}
	start, stop := wireSpan(r.StartedAt, r.EndedAt, loc)
	t := Transaction{
		CardType: defaultCardType(r.Kind), PLU: r.PLU, VolumeDP: c.Units.DP,
		Start: start, Stop: stop, ItemID: r.Ref.ItemID,
	}
	var err error
	if v := r.Ref.CardID; v != "" {
		if t.CardID, err = strconv.ParseInt(v, 10, 64); err != nil || t.CardID < 0 {
			return Transaction{}, fmt.Errorf("record %s: card_id %q is not a decimal card UID", r.ID, v)
		}
	}
	if v := r.Ref.CardType; v != "" {
		if t.CardType, err = strconv.Atoi(v); err != nil || CardTypeString(t.CardType) == "" {
			return Transaction{}, fmt.Errorf("record %s: unknown card type %q", r.ID, v)
		}
	}
	t.CardName = firstNonEmpty(r.Ref.CardName, fmt.Sprintf("Line %d", r.Line))
	t.ExternalID = firstNonEmpty(r.Ref.ExternalID, cardOr(t.CardID, r.ID))
	p := r.Pour
	if p.Volume == 0 && t.CardID != 0 {
		// Nothing poured: the empty transaction that releases an online card.
		t.PLU, t.ItemID = 0, ""
		return t, nil
	}
	if r.PLU <= 0 {
		return Transaction{}, fmt.Errorf("record %s: line %d has no PLU, the server cannot book it", r.ID, r.Line)
	}
	vol, money := c.Units.FromVol(p.Volume), p.Amount
	if vol > math.MaxInt32 || money > math.MaxInt32 {
		return Transaction{}, fmt.Errorf("record %s: volume %d or amount %d overflows int32", r.ID, vol, money)
	}
	t.Volume, t.Money = int32(vol), int32(money)
	t.Servings = int32(c.Units.Servings(p.Volume, c.UnitsPerServing[r.PLU]))
	if r.Kind == storage.KindVend && p.Reason == flow.ReasonVended {
		t.Servings = 100 // one item (servings are counted ×100)
	}
	t.PricePerUnit = int32(c.Units.CentsPerUnit(p.Auth.Price))
	return t, nil
}

// wireSpan writes a record's start and stop (UTC epoch ms) on loc's wall
// clock. A pour across a fall-back change (start 02:59:50 CEST, stop
// 02:00:10 CET) would read stop before start, which a server may refuse
// and which no wall-clock reader can tell from a bad record; the start is
// then clamped to the stop's wall time. The stop is kept because it dates
// the sale (day totals, keg levels, card balances); only the pour's
// duration, at most the length of the change, is lost on the wire.
func wireSpan(startMs, stopMs int64, loc *time.Location) (start, stop string) {
	start = time.UnixMilli(startMs).In(loc).Format(TimeLayout)
	stop = time.UnixMilli(stopMs).In(loc).Format(TimeLayout)
	if stop < start { // TimeLayout sorts as it reads
		start = stop
	}
	return start, stop
}

func defaultCardType(kind string) int {
	switch kind {
	case storage.KindCleaning:
		return CardClean
	case storage.KindCalibration:
		return CardInstall
	}
	return CardOpenPour
}

func cardOr(card int64, id string) string {
	if card != 0 {
		return strconv.FormatInt(card, 10)
	}
	return id
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ParseTime reads a spec timestamp in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	return time.ParseInLocation(TimeLayout, s, loc)
}
