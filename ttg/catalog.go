package ttg

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/flow"
)

// Catalog is everything the device pulls from the server, cached in bbolt
// so the wall keeps pouring at the last known prices when the server is down.
type Catalog struct {
	Config     map[string]string    `json:"config"`
	Products   []Product            `json:"products"`
	Items      []Item               `json:"items"`
	Portions   []Portion            `json:"portions"`
	HappyHours []HappyHour          `json:"happyhours"`
	Lines      map[int]LinePortions `json:"lines"`
	// Stamp is the server's config-export time when this was fetched.
	Stamp     int64 `json:"stamp"`
	FetchedAt int64 `json:"fetched_at"` // UTC epoch ms

	units Units
	byPLU map[int]Product
	// zone is the server's wall clock, in which every happy-hour window is
	// read; SetZone sets it, UTC until then.
	zone *time.Location
}

// SetZone sets the zone every price of this catalog is computed in: the
// server's wall clock (ttg.time_zone). Every pricing method converts the
// instant it is given, so no caller can price in the host's zone.
func (c *Catalog) SetZone(loc *time.Location) { c.zone = loc }

// wall is t on the server's wall clock.
func (c *Catalog) wall(t time.Time) time.Time {
	if c.zone == nil {
		return t.UTC()
	}
	return t.In(c.zone)
}

// Prepare validates the catalog and builds its indexes.
func (c *Catalog) Prepare() error {
	u, err := UnitsFromConfig(c.Config)
	if err != nil {
		return fmt.Errorf("server configuration: %w", err)
	}
	c.units = u
	c.byPLU = make(map[int]Product, len(c.Products))
	for _, p := range c.Products {
		c.byPLU[p.PLU] = p
	}
	return nil
}

// Units is the server's volume base unit.
func (c *Catalog) Units() Units { return c.units }

// Product returns the product with plu.
func (c *Catalog) Product(plu int) (Product, bool) {
	p, ok := c.byPLU[plu]
	return p, ok
}

// Converter builds the record converter for this configuration.
func (c *Catalog) Converter(loc *time.Location) Converter {
	ups := make(map[int]int64, len(c.Products))
	for _, p := range c.Products {
		ups[p.PLU] = p.UnitsPerServing
	}
	return Converter{Units: c.units, Loc: loc, UnitsPerServing: ups}
}

// Alcoholic reports whether a product counts as alcohol: a positive ABV,
// or an alcoholic product type when no ABV is set.
func (p Product) Alcoholic() bool {
	if p.ABV >= 0 {
		return p.ABV > 0
	}
	switch p.ProductType {
	case 1, 2, 3, 7:
		return true
	}
	return false
}

// KegState is what keg-triggered happy hours look at.
type KegState struct {
	FillPermille int64
	TappedAt     time.Time
}

// active reports whether a happy hour applies at now, on now's wall clock,
// for a product on a keg; callers go through Catalog, which sets the zone.
func (h HappyHour) active(now time.Time, p Product, keg KegState) bool {
	if !listHas(h.AffectedPLUs, p.PLU) || !listHas(h.AffectedProductTypes, p.ProductType) {
		return false
	}
	if h.KegLevel > 0 && keg.FillPermille > int64(h.KegLevel)*10 {
		return false
	}
	if h.KegAge > 0 && (keg.TappedAt.IsZero() || now.Sub(keg.TappedAt) < time.Duration(h.KegAge)*24*time.Hour) {
		return false
	}
	return h.inWindow(now)
}

// inWindow checks the time part on the wall clock of now's zone: a date
// range (StartDate at StartTime to EndDate at EndTime, one continuous span;
// 0..0 covers the end date too), a weekday range (the daily window on each
// day from WeekDayStart to WeekDayEnd, see weekdayWindow), a daily range
// (wrapping midnight; 0..1440 and 0..0 are the whole day), or no time limit
// at all. Minutes are wall-clock minutes, so a window keeps its hours
// across DST.
func (h HappyHour) inWindow(now time.Time) bool {
	mod := now.Hour()*60 + now.Minute()
	switch {
	case h.StartDate != "" || h.EndDate != "":
		endTime := h.EndTime
		if h.StartTime == 0 && h.EndTime == 0 {
			endTime = 1440 // whole days
		}
		if h.StartDate != "" {
			if s, err := dayMinute(h.StartDate, h.StartTime, now.Location()); err != nil || now.Before(s) {
				return false
			}
		}
		if h.EndDate != "" {
			if e, err := dayMinute(h.EndDate, endTime, now.Location()); err != nil || !now.Before(e) {
				return false
			}
		}
		return true
	case h.WeekDayStart > 0:
		return h.weekdayWindow(isoWeekday(now.Weekday()), mod)
	case h.StartTime != h.EndTime:
		return inRange(mod, h.StartTime, h.EndTime, 1440)
	}
	return true
}

// weekdayWindow reads a weekday happy hour as a bar means it: the daily
// window StartTime..EndTime opens on every day from WeekDayStart to
// WeekDayEnd (1 = Monday … 7; Saturday 6 to Monday 1 wraps the week; an
// end of 0 is the start day alone), and a window that ends at or before
// it starts runs into the next day, so Friday 22:00–02:00 is Friday night
// until Saturday 02:00 and Monday–Friday 17:00–18:00 is five separate
// hours. 0..0 and 0..1440 are the whole day. It checks today's window and
// yesterday's, which may still be running after midnight.
func (h HappyHour) weekdayWindow(day, mod int) bool {
	length := h.EndTime - h.StartTime
	if length <= 0 {
		length += 1440 // runs into the next day; equal times are 24 h
	}
	length = min(length, 1440)
	for back := 0; back <= 1; back++ {
		opened := (day-1-back+7)%7 + 1
		since := mod + back*1440 - h.StartTime
		if h.hasDay(opened) && since >= 0 && since < length {
			return true
		}
	}
	return false
}

// hasDay reports whether weekday d (1 = Monday … 7) is in the happy hour's
// day range, which wraps from Sunday to Monday when it ends before it starts.
func (h HappyHour) hasDay(d int) bool {
	start, end := h.WeekDayStart, h.WeekDayEnd
	if end <= 0 {
		end = start
	}
	if start <= end {
		return start <= d && d <= end
	}
	return d >= start || d <= end
}

// isoWeekday numbers a weekday as the spec does: 1 = Monday … 7 = Sunday.
func isoWeekday(w time.Weekday) int { return (int(w)+6)%7 + 1 }

// dayMinute is minute m of the wall-clock day date ("YYYY-MM-DD") in loc;
// m = 1440 is the next midnight.
func dayMinute(date string, m int, loc *time.Location) (time.Time, error) {
	d, err := time.Parse("2006-01-02", date)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, m, 0, 0, loc), nil
}

// inRange is start <= x < end on a circle of size n; a span of n or more
// is the whole circle (a daily 0..1440).
func inRange(x, start, end, n int) bool {
	if end-start >= n {
		return true
	}
	x, start, end = x%n, start%n, end%n
	if start <= end {
		return start <= x && x < end
	}
	return x >= start || x < end
}

// listHas reports whether a comma-separated list contains v; empty means all.
func listHas(list string, v int) bool {
	list = strings.TrimSpace(list)
	if list == "" {
		return true
	}
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		if n, err := strconv.Atoi(f); err == nil && n == v {
			return true
		}
	}
	return false
}

// maxCentsPerUnit bounds a price per base unit (100 000.00 a unit) so that
// money arithmetic on any pour stays far from overflow.
const maxCentsPerUnit = 10_000_000

// UnitPrice is a product's price per server base unit in cents at a pricing
// state. The server states prices per the product's unit, which is the base
// unit divided by volume_base_unit_divider (a divider of 0 or 1 is the base
// unit itself); a happy-hour percentage is taken off the price per product
// unit, rounded half up to the cent, before it is scaled to the base unit.
func (p Product) UnitPrice(state int) (int64, bool) {
	cents, ok := p.productUnitPrice(state)
	div := int64(max(p.VolumeBaseUnitDivider, 1))
	if !ok || cents > maxCentsPerUnit/div {
		return 0, false
	}
	return cents * div, true
}

// productUnitPrice is the price per product unit at a pricing state.
func (p Product) productUnitPrice(state int) (int64, bool) {
	switch state {
	case PriceDefault:
		return p.PricePerUnit, p.PricePerUnit >= 0
	case PriceHH1:
		return p.PricePerUnitHH1, p.PricePerUnitHH1 > 0
	case PriceHH2:
		return p.PricePerUnitHH2, p.PricePerUnitHH2 > 0
	case PriceHH1Pct:
		return percentOff(p.PricePerUnit, p.PricePerUnitHH1Pct, 0)
	case PriceHH2Pct:
		return percentOff(p.PricePerUnit, p.PricePerUnitHH2Pct, 0)
	}
	return 0, false
}

// percentOff takes pct (with dp decimals) off price, rounding to the cent.
func percentOff(price, pct int64, dp int) (int64, bool) {
	full := 100 * pow10(dp)
	if pct <= 0 || pct > full {
		return 0, false
	}
	return divRound(price*(full-pct), full), true
}

// HappyHourActive reports whether h applies at now, read on the server's
// wall clock, to product p on keg.
func (c *Catalog) HappyHourActive(h HappyHour, now time.Time, p Product, keg KegState) bool {
	return h.active(c.wall(now), p, keg)
}

// PricingState picks the cheapest happy hour in effect at now (read on the
// server's wall clock); ties go to the lower state number. It returns
// PriceDefault when none applies.
func (c *Catalog) PricingState(now time.Time, p Product, keg KegState) int {
	now = c.wall(now)
	best := PriceDefault
	bestPrice, _ := p.UnitPrice(PriceDefault)
	for _, h := range c.HappyHours {
		if h.PriceLevel < PriceHH1 || h.PriceLevel > PriceHH2Pct || !h.active(now, p, keg) {
			continue
		}
		if price, ok := p.UnitPrice(h.PriceLevel); ok && (price < bestPrice || (price == bestPrice && h.PriceLevel < best && best != PriceDefault)) {
			best, bestPrice = h.PriceLevel, price
		}
	}
	return best
}

// FreePourPrice is the price of a line's product at now, with the pricing
// state that produced it. A price the agent cannot use (negative, or over
// maxCentsPerUnit once scaled by the divider) is not ok, so the caller
// prices from the line's configuration rather than pouring for nothing.
func (c *Catalog) FreePourPrice(plu int, now time.Time, keg KegState) (flow.Price, int, bool) {
	p, ok := c.byPLU[plu]
	if !ok || p.IsActive == 0 {
		return flow.Price{}, 0, false
	}
	state := c.PricingState(now, p, keg)
	cents, ok := p.UnitPrice(state)
	if !ok {
		return flow.Price{}, 0, false
	}
	return c.units.Price(cents), state, true
}

// ItemPrice is an item's price in cents at a pricing state.
func (it Item) ItemPrice(state int) (int64, bool) {
	cents := ScaleCents
	base := cents(it.Price, it.PriceDP)
	switch state {
	case PriceDefault:
		return base, true
	case PriceHH1:
		return cents(it.PriceHH1, it.PriceHH1DP), it.PriceHH1 > 0
	case PriceHH2:
		return cents(it.PriceHH2, it.PriceHH2DP), it.PriceHH2 > 0
	case PriceHH1Pct:
		return percentOff(base, it.PriceHH1Pct, it.PriceHH1PctDP)
	case PriceHH2Pct:
		return percentOff(base, it.PriceHH2Pct, it.PriceHH2PctDP)
	}
	return 0, false
}

// ScaleCents converts a price written with dp decimals to cents.
func ScaleCents(v int64, dp int) int64 {
	switch {
	case dp == 2:
		return v
	case dp < 2:
		return v * pow10(2-dp)
	}
	return divRound(v, pow10(dp-2))
}

// LinePortion is a portion offered on a line, resolved to the server's item.
type LineItem struct {
	ItemID string
	Name   string
	Volume flow.Vol
	Price  int64 // cents at the pricing state
	State  int
}

// LineItems lists the portions configured on a line with their prices now.
func (c *Catalog) LineItems(line, plu int, now time.Time, keg KegState) ([]LineItem, error) {
	lp, ok := c.Lines[line]
	if !ok {
		return nil, nil
	}
	p := c.byPLU[plu]
	state := c.PricingState(now, p, keg)
	var out []LineItem
	for _, por := range lp.Portions {
		u, err := NewUnits(por.VolumeUnit, por.VolumeDP)
		if err != nil {
			return nil, fmt.Errorf("line %d portion %q: %w", line, por.PortionName, err)
		}
		li := LineItem{Name: por.PortionName, Volume: u.ToVol(por.Volume, por.VolumeDP), Price: por.Price}
		for _, it := range c.Items {
			if it.ProductPLU == plu && it.PortionName == por.PortionName {
				li.ItemID = it.ItemID
				if pr, ok := it.ItemPrice(state); ok {
					li.Price, li.State = pr, state
				}
			}
		}
		out = append(out, li)
	}
	return out, nil
}

// ServingsLimit is the volume a patron may pour of a product before staff
// must re-activate the card, from servings_per_patron (×100) and the
// product's units per serving; ok is false when no limit is configured.
func (c *Catalog) ServingsLimit(p Product, servingsLimit100 int64) (flow.Vol, bool) {
	if servingsLimit100 <= 0 {
		n, err := strconv.ParseInt(c.Config["servings_per_patron"], 10, 64)
		if err != nil || n <= 0 {
			return 0, false
		}
		servingsLimit100 = n
	}
	if p.UnitsPerServing <= 0 {
		return 0, false
	}
	return c.units.ToVol(servingsLimit100*p.UnitsPerServing, 2), true
}
