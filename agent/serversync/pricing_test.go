package serversync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// This file prices pours on the simulated wall against the emulator and
// checks every cent against an independent model of the TTG server control
// API rev 1.2 (3.4 products, 3.6 items, 3.23-3.28 configuration and happy
// hours, 3.41 transactions), written here from the spec and the choices
// docs/ttg.md lists, without the agent's pricing functions: windows are
// built as concrete intervals of wall-clock time rather than minute
// arithmetic, and prices come from the product fields directly.

// spec is the model's view of one product and its happy hours.
type specProduct struct {
	price, hh1, hh2, hh1Pct, hh2Pct int64
	divider                         int64
	plu, productType                int
}

// specUnitML is each base unit in millilitres as a fraction (US fluid ounce
// 29.5735 mL and imperial 28.4131 mL, to 1e-4 mL).
var specUnitML = map[string][2]int64{"ml": {1, 1}, "cl": {10, 1}, "dl": {100, 1}, "l": {1000, 1},
	"oz": {295735, 10000}, "imp oz": {284131, 10000}}

// halfUp is a/b rounded half up (a, b > 0).
func halfUp(a, b int64) int64 { return (2*a + b) / (2 * b) }

// levelPrice is the price per product unit at a price level (3.4): 1 and 2
// absolute (0 = none), 3 and 4 percent off the default, rounded half up.
func (p specProduct) levelPrice(level int) (int64, bool) {
	switch level {
	case 0:
		return p.price, true
	case 1:
		return p.hh1, p.hh1 > 0
	case 2:
		return p.hh2, p.hh2 > 0
	case 3, 4:
		pct := p.hh1Pct
		if level == 4 {
			pct = p.hh2Pct
		}
		if pct <= 0 || pct > 100 {
			return 0, false
		}
		return halfUp(p.price*(100-pct), 100), true
	}
	return 0, false
}

// specWindowActive says whether wall (a server wall-clock time) lies in
// one of the happy hour's concrete intervals.
func specWindowActive(h ttg.HappyHour, wall time.Time) bool {
	loc := wall.Location()
	at := func(y int, m time.Month, d, minute int) time.Time { return time.Date(y, m, d, 0, minute, 0, 0, loc) }
	contains := func(a, b time.Time) bool { return !wall.Before(a) && wall.Before(b) }
	allDay := h.StartTime == 0 && h.EndTime == 0
	switch {
	case h.StartDate != "" || h.EndDate != "":
		a, b := time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, loc)
		if h.StartDate != "" {
			d, _ := time.Parse("2006-01-02", h.StartDate)
			a = at(d.Year(), d.Month(), d.Day(), h.StartTime)
		}
		if h.EndDate != "" {
			d, _ := time.Parse("2006-01-02", h.EndDate)
			b = at(d.Year(), d.Month(), d.Day(), h.EndTime)
			if allDay {
				b = at(d.Year(), d.Month(), d.Day()+1, 0)
			}
		}
		return contains(a, b)
	case h.WeekDayStart > 0:
		// The daily window opens on each day of the range (a range ending
		// before it starts wraps the week); one that ends at or before it
		// starts closes the next day. Today's and yesterday's may hold wall.
		end := h.WeekDayEnd
		if end == 0 {
			end = h.WeekDayStart
		}
		var days []time.Weekday
		for d := h.WeekDayStart; ; d = d%7 + 1 {
			days = append(days, time.Weekday(d%7)) // 7 = Sunday = 0
			if d == end {
				break
			}
		}
		for _, back := range []int{0, -1} {
			d := wall.AddDate(0, 0, back)
			opens := false
			for _, wd := range days {
				opens = opens || d.Weekday() == wd
			}
			if !opens {
				continue
			}
			a := at(d.Year(), d.Month(), d.Day(), h.StartTime)
			b := at(d.Year(), d.Month(), d.Day(), h.EndTime)
			if !b.After(a) {
				b = at(d.Year(), d.Month(), d.Day()+1, h.EndTime)
			}
			if contains(a, b) {
				return true
			}
		}
		return false
	case allDay:
		return true
	}
	for _, back := range []int{0, -1} {
		d := wall.AddDate(0, 0, back)
		a := at(d.Year(), d.Month(), d.Day(), h.StartTime)
		b := at(d.Year(), d.Month(), d.Day(), h.EndTime)
		if !b.After(a) {
			b = at(d.Year(), d.Month(), d.Day()+1, h.EndTime)
		}
		if contains(a, b) {
			return true
		}
	}
	return false
}

func specListHas(list string, v int) bool {
	if list == "" {
		return true
	}
	var n int
	for _, f := range splitList(list) {
		if _, err := fmt.Sscan(f, &n); err == nil && n == v {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	cur := ""
	for _, r := range s + "," {
		if r == ',' || r == ' ' {
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
			continue
		}
		cur += string(r)
	}
	return out
}

// specLevel is the price level in effect: the cheapest price per unit of
// every happy hour whose window, product, keg level (fill at or below the
// percentage) and keg age (whole days since tapping at least keg_age)
// match; the default price on a tie with it.
func specLevel(p specProduct, hhs []ttg.HappyHour, wall time.Time, fillPct, ageDays int64) int {
	best, bestPrice := 0, p.price
	for _, h := range hhs {
		if !specWindowActive(h, wall) || !specListHas(h.AffectedPLUs, p.plu) || !specListHas(h.AffectedProductTypes, p.productType) ||
			(h.KegLevel > 0 && fillPct > int64(h.KegLevel)) || (h.KegAge > 0 && ageDays < int64(h.KegAge)) {
			continue
		}
		if price, ok := p.levelPrice(h.PriceLevel); ok && (price < bestPrice || price == bestPrice && best != 0 && h.PriceLevel < best) {
			best, bestPrice = h.PriceLevel, price
		}
	}
	return best
}

// specItemCents is an item's price in cents at a level (3.6) and the level
// whose price it is: the level's own price when the item has one, else the
// default price (level 0).
func specItemCents(it ttg.Item, level int) (int64, int) {
	c := specItemLevelCents(it, level)
	if c == specItemLevelCents(it, 0) && !specItemHasLevel(it, level) {
		return c, 0
	}
	return c, level
}

func specItemHasLevel(it ttg.Item, level int) bool {
	switch level {
	case 1:
		return it.PriceHH1 > 0
	case 2:
		return it.PriceHH2 > 0
	case 3:
		return it.PriceHH1Pct > 0
	case 4:
		return it.PriceHH2Pct > 0
	}
	return false
}

func specItemLevelCents(it ttg.Item, level int) int64 {
	cents := func(v int64, dp int) int64 {
		for ; dp < 2; dp++ {
			v *= 10
		}
		for ; dp > 2; dp-- {
			v = halfUp(v, 10)
		}
		return v
	}
	base := cents(it.Price, it.PriceDP)
	pct := func(p int64, dp int) int64 {
		full := int64(100)
		for i := 0; i < dp; i++ {
			full *= 10
		}
		if p <= 0 || p > full {
			return base
		}
		return halfUp(base*(full-p), full)
	}
	switch level {
	case 1:
		if it.PriceHH1 > 0 {
			return cents(it.PriceHH1, it.PriceHH1DP)
		}
	case 2:
		if it.PriceHH2 > 0 {
			return cents(it.PriceHH2, it.PriceHH2DP)
		}
	case 3:
		return pct(it.PriceHH1Pct, it.PriceHH1PctDP)
	case 4:
		return pct(it.PriceHH2Pct, it.PriceHH2PctDP)
	}
	return base
}

// The seed's products (sim/ttgserver DefaultSeed), as the spec's fields.
var (
	helles = specProduct{plu: 101, productType: 1, price: 13, hh1: 10, hh2: 6, hh1Pct: 20, hh2Pct: 50, divider: 1}
	pils   = specProduct{plu: 102, productType: 1, price: 14, hh1: 11, hh2: 7, hh1Pct: 20, hh2Pct: 50, divider: 1}
	cider  = specProduct{plu: 104, productType: 7, price: 11, hh1: 8, hh2: 5, hh1Pct: 20, hh2Pct: 50, divider: 1}
	items  = map[string]ttg.Item{
		"102-03": {ItemID: "102-03", Price: 390, PriceDP: 2, PriceHH1: 300, PriceHH1DP: 2, PriceHH1Pct: 20},
		"102-05": {ItemID: "102-05", Price: 700, PriceDP: 2, PriceHH1: 550, PriceHH1DP: 2, PriceHH1Pct: 20},
	}
)

type pricingCase struct {
	name  string
	zone  string
	wall  string // server wall-clock time of the pour
	hhs   []ttg.HappyHour
	how   string // "free", "card" (online bill card), "item:<id>"
	line  int
	prod  specProduct
	unit  string // server base unit; "" is the seed's cl with 1 decimal
	dp    int
	price *specProduct // product fields set through the API, when not the seed's
	// volumeUnit is the product's own unit, sent with its divider.
	volumeUnit string
	kegAgeDays int64 // days the keg has been tapped at the pour
	kegFill    bool  // pour the keg down to 20 % first
}

func daily(level, start, end int) ttg.HappyHour {
	return ttg.HappyHour{Name: "daily", StartTime: start, EndTime: end, PriceLevel: level}
}

func pricingCases() []pricingCase {
	weekly := func(level, d0, t0, d1, t1 int) ttg.HappyHour {
		return ttg.HappyHour{Name: "weekly", WeekDayStart: d0, StartTime: t0, WeekDayEnd: d1, EndTime: t1, PriceLevel: level}
	}
	dated := func(level int, d0 string, t0 int, d1 string, t1 int) ttg.HappyHour {
		return ttg.HappyHour{Name: "dated", StartDate: d0, StartTime: t0, EndDate: d1, EndTime: t1, PriceLevel: level}
	}
	only := func(h ttg.HappyHour, plus, types string) ttg.HappyHour {
		h.AffectedPLUs, h.AffectedProductTypes = plus, types
		return h
	}
	keg := func(h ttg.HappyHour, level, age int) ttg.HappyHour {
		h.KegLevel, h.KegAge = level, age
		return h
	}
	oz := specProduct{plu: 101, productType: 1, price: 40, hh1: 30, hh1Pct: 25, divider: 1}
	perDL := specProduct{plu: 101, productType: 1, price: 13, hh1Pct: 50, divider: 10}
	// 2026-11-18 is a Wednesday, 2026-11-20 a Friday.
	return []pricingCase{
		{name: "no happy hour", zone: "Asia/Kolkata", wall: "2026-11-20 12:00:00", how: "free", line: 1, prod: helles},
		{name: "daily window first minute", zone: "Asia/Kolkata", wall: "2026-11-20 17:00:00", hhs: []ttg.HappyHour{daily(1, 1020, 1080)}, how: "free", line: 1, prod: helles},
		{name: "daily window minute before", zone: "Asia/Kolkata", wall: "2026-11-20 16:59:59", hhs: []ttg.HappyHour{daily(1, 1020, 1080)}, how: "free", line: 1, prod: helles},
		{name: "daily 0..1440 at 23:59", zone: "Pacific/Chatham", wall: "2026-11-20 23:59:00", hhs: []ttg.HappyHour{daily(2, 0, 1440)}, how: "free", line: 1, prod: helles},
		{name: "daily 0..0 all day", zone: "America/St_Johns", wall: "2026-11-20 03:00:00", hhs: []ttg.HappyHour{daily(2, 0, 0)}, how: "free", line: 1, prod: helles},
		{name: "over midnight", zone: "Pacific/Chatham", wall: "2026-11-21 00:30:00", hhs: []ttg.HappyHour{daily(1, 1380, 60)}, how: "free", line: 1, prod: helles},
		{name: "overlap: cheapest wins", zone: "Asia/Kolkata", wall: "2026-11-20 17:30:00", hhs: []ttg.HappyHour{daily(1, 1020, 1080), daily(2, 0, 1440), daily(3, 0, 1440)}, how: "free", line: 1, prod: helles},
		{name: "percent 20 rounds 10.4 to 10", zone: "Asia/Kolkata", wall: "2026-11-20 17:30:00", hhs: []ttg.HappyHour{daily(3, 0, 1440)}, how: "free", line: 1, prod: helles},
		{name: "percent 50 rounds 6.5 up to 7", zone: "Asia/Kolkata", wall: "2026-11-20 17:30:00", hhs: []ttg.HappyHour{daily(4, 0, 1440)}, how: "free", line: 1, prod: helles},
		{name: "other plu only", zone: "Asia/Kolkata", wall: "2026-11-20 17:30:00", hhs: []ttg.HappyHour{only(daily(1, 0, 1440), "102", "")}, how: "free", line: 1, prod: helles},
		{name: "cider product type", zone: "Asia/Kolkata", wall: "2026-11-20 17:30:00", hhs: []ttg.HappyHour{only(daily(1, 0, 1440), "", "7")}, how: "free", line: 4, prod: cider},
		{name: "card pour in the window", zone: "Asia/Kolkata", wall: "2026-11-20 17:30:00", hhs: []ttg.HappyHour{daily(1, 1020, 1080)}, how: "card", line: 1, prod: helles},
		{name: "card pour after it", zone: "Asia/Kolkata", wall: "2026-11-20 18:00:00", hhs: []ttg.HappyHour{daily(1, 1020, 1080)}, how: "card", line: 1, prod: helles},
		{name: "item in the window (Kolkata)", zone: "Asia/Kolkata", wall: "2026-11-20 17:30:00", hhs: []ttg.HappyHour{daily(1, 1020, 1080)}, how: "item:102-05", line: 2, prod: pils},
		{name: "item outside it", zone: "Asia/Kolkata", wall: "2026-11-20 18:00:00", hhs: []ttg.HappyHour{daily(1, 1020, 1080)}, how: "item:102-05", line: 2, prod: pils},
		{name: "item percent", zone: "Pacific/Chatham", wall: "2026-11-20 20:00:00", hhs: []ttg.HappyHour{daily(3, 0, 1440)}, how: "item:102-03", line: 2, prod: pils},
		{name: "item without the level's price", zone: "America/St_Johns", wall: "2026-11-20 20:00:00", hhs: []ttg.HappyHour{daily(2, 0, 1440)}, how: "item:102-05", line: 2, prod: pils},
		{name: "Mon-Fri 17:00-18:00 on Wednesday noon", zone: "Asia/Kolkata", wall: "2026-11-18 12:00:00", hhs: []ttg.HappyHour{weekly(1, 1, 1020, 5, 1080)}, how: "free", line: 1, prod: helles},
		{name: "Mon-Fri 17:00-18:00 on Wednesday 17:30", zone: "Asia/Kolkata", wall: "2026-11-18 17:30:00", hhs: []ttg.HappyHour{weekly(1, 1, 1020, 5, 1080)}, how: "free", line: 1, prod: helles},
		{name: "Mon-Fri 18:00-02:00 on Saturday 01:00", zone: "Asia/Kolkata", wall: "2026-11-21 01:00:00", hhs: []ttg.HappyHour{weekly(1, 1, 1080, 5, 120)}, how: "free", line: 1, prod: helles},
		{name: "Mon-Fri 18:00-02:00 on Friday 02:00", zone: "Asia/Kolkata", wall: "2026-11-20 02:00:00", hhs: []ttg.HappyHour{weekly(1, 1, 1080, 5, 120)}, how: "free", line: 1, prod: helles},
		{name: "Friday 22:00-02:00 on Saturday 01:30", zone: "Europe/Berlin", wall: "2026-11-21 01:30:00", hhs: []ttg.HappyHour{weekly(2, 5, 1320, 5, 120)}, how: "free", line: 1, prod: helles},
		{name: "Friday 22:00-02:00 on Tuesday noon", zone: "Europe/Berlin", wall: "2026-11-17 12:00:00", hhs: []ttg.HappyHour{weekly(2, 5, 1320, 5, 120)}, how: "free", line: 1, prod: helles},
		{name: "Sat-Mon 0..0 on Sunday", zone: "Pacific/Chatham", wall: "2026-11-22 12:00:00", hhs: []ttg.HappyHour{weekly(1, 6, 0, 1, 0)}, how: "free", line: 1, prod: helles},
		{name: "Friday 0..0 at 23:59", zone: "Pacific/Chatham", wall: "2026-11-20 23:59:00", hhs: []ttg.HappyHour{weekly(1, 5, 0, 5, 0)}, how: "free", line: 1, prod: helles},
		{name: "Friday 0..0 on Saturday", zone: "Pacific/Chatham", wall: "2026-11-21 00:00:00", hhs: []ttg.HappyHour{weekly(1, 5, 0, 5, 0)}, how: "free", line: 1, prod: helles},
		{name: "date 0..0 at 23:59", zone: "America/St_Johns", wall: "2026-12-24 23:59:00", hhs: []ttg.HappyHour{dated(1, "2026-12-24", 0, "2026-12-24", 0)}, how: "free", line: 1, prod: helles},
		{name: "date range on the DST day 18:00", zone: "Europe/Berlin", wall: "2026-03-29 18:00:00", hhs: []ttg.HappyHour{dated(1, "2026-03-29", 1080, "2026-03-30", 0)}, how: "free", line: 1, prod: helles},
		{name: "date range on the DST day 17:59", zone: "Europe/Berlin", wall: "2026-03-29 17:59:00", hhs: []ttg.HappyHour{dated(1, "2026-03-29", 1080, "2026-03-30", 0)}, how: "free", line: 1, prod: helles},
		{name: "fall-back night 01:30", zone: "America/St_Johns", wall: "2026-11-01 01:30:00", hhs: []ttg.HappyHour{daily(1, 60, 120)}, how: "free", line: 1, prod: helles},
		{name: "keg at 20 % with a 25 % trigger", zone: "Asia/Kolkata", wall: "2026-11-20 12:00:00", hhs: []ttg.HappyHour{keg(daily(1, 0, 0), 25, 0)}, how: "free", line: 1, prod: helles, kegFill: true},
		{name: "full keg with a 25 % trigger", zone: "Asia/Kolkata", wall: "2026-11-20 12:00:00", hhs: []ttg.HappyHour{keg(daily(1, 0, 0), 25, 0)}, how: "free", line: 1, prod: helles},
		{name: "keg 15 days old, 14-day trigger", zone: "Asia/Kolkata", wall: "2026-11-20 12:00:00", hhs: []ttg.HappyHour{keg(daily(1, 0, 0), 0, 14)}, how: "free", line: 1, prod: helles, kegAgeDays: 15},
		{name: "keg 13 days old, 14-day trigger", zone: "Asia/Kolkata", wall: "2026-11-20 12:00:00", hhs: []ttg.HappyHour{keg(daily(1, 0, 0), 0, 14)}, how: "free", line: 1, prod: helles, kegAgeDays: 13},
		{name: "item on a keg 15 days old, 14-day trigger", zone: "Asia/Kolkata", wall: "2026-11-20 12:00:00", hhs: []ttg.HappyHour{keg(daily(1, 0, 0), 0, 14)}, how: "item:102-05", line: 2, prod: pils, kegAgeDays: 15},
		{name: "item on a keg 13 days old, 14-day trigger", zone: "Asia/Kolkata", wall: "2026-11-20 12:00:00", hhs: []ttg.HappyHour{keg(daily(1, 0, 0), 0, 14)}, how: "item:102-05", line: 2, prod: pils, kegAgeDays: 13},
		{name: "US fluid ounces", zone: "America/St_Johns", wall: "2026-11-20 12:00:00", how: "free", line: 1, prod: oz, unit: "oz", dp: 1, price: &oz, volumeUnit: "oz"},
		{name: "US fluid ounces, 25 % off", zone: "America/St_Johns", wall: "2026-11-20 12:00:00", hhs: []ttg.HappyHour{daily(3, 0, 0)}, how: "free", line: 1, prod: oz, unit: "oz", dp: 1, price: &oz, volumeUnit: "oz"},
		{name: "imperial fluid ounces", zone: "Europe/Berlin", wall: "2026-11-20 12:00:00", how: "free", line: 1, prod: oz, unit: "imp oz", dp: 2, price: &oz, volumeUnit: "imp oz"},
		{name: "product in dl on a server in l", zone: "Pacific/Chatham", wall: "2026-11-20 12:00:00", how: "free", line: 1, prod: perDL, unit: "l", dp: 3, price: &perDL, volumeUnit: "dl"},
		{name: "percent per dl before scaling to l", zone: "Pacific/Chatham", wall: "2026-11-20 12:00:00", hhs: []ttg.HappyHour{daily(3, 0, 0)}, how: "free", line: 1, prod: perDL, unit: "l", dp: 3, price: &perDL, volumeUnit: "dl"},
	}
}

// TestPricesAsTheServerSays pours each case on the simulated wall with the
// emulator and compares the transaction the server stored, cent for cent,
// with the model.
func TestPricesAsTheServerSays(t *testing.T) {
	for _, c := range pricingCases() {
		t.Run(c.name, func(t *testing.T) {
			loc, err := time.LoadLocation(c.zone)
			if err != nil {
				t.Skip("no time zone database:", err)
			}
			wall, err := time.ParseInLocation(ttg.TimeLayout, c.wall, loc)
			if err != nil {
				t.Fatal(err)
			}
			start := wall.Add(-time.Duration(c.kegAgeDays) * 24 * time.Hour)
			if c.kegFill {
				start = start.Add(-time.Minute)
			}
			b := newBench(t, start, func(cfg *config.Config) { cfg.TTG.TimeZone = c.zone })
			b.setUpServer(c)
			if c.kegAgeDays > 0 || c.kegFill {
				size := flow.ML(50_000)
				if c.kegFill {
					size = flow.ML(1_500) // 1.2 L poured below leaves 20 %
				}
				if err := b.agent.ChangeKeg(device.Actor{Name: "test", Via: "cli"}, device.KegChange{Line: c.line, Size: size}); err != nil {
					t.Fatal(err)
				}
			}
			if c.kegFill {
				if _, err := b.agent.Authorise(c.line, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(1_200)}}); err != nil {
					t.Fatal(err)
				}
				b.pour(c.line, 60, 25*time.Second)
				b.run(30 * time.Second)
				if err := b.flush(); err != nil {
					t.Fatal(err)
				}
			}
			b.clk.Advance(wall.Sub(b.clk.Now()))
			b.wall.Board.Advance(time.Millisecond) // the board takes up the jump
			if got := b.clk.Now().In(loc).Format(ttg.TimeLayout); got != c.wall {
				t.Fatalf("clock at %s, want %s", got, c.wall)
			}
			fill := int64(100)
			if c.kegFill {
				fill = 20
			}
			level := specLevel(c.prod, c.hhs, wall, fill, c.kegAgeDays)
			rec := b.pourCase(c)
			txs := b.srv.Transactions()
			tx := txs[len(txs)-1].Tx
			item, isItem := items[c.how[min(len(c.how), 5):]]
			wantState := level
			if isItem {
				_, wantState = specItemCents(item, level)
			}
			if rec.Ref[device.RefPricingState] != fmt.Sprint(wantState) {
				t.Errorf("pricing state %s, want %d", rec.Ref[device.RefPricingState], wantState)
			}
			if isItem {
				want, _ := specItemCents(item, level)
				if int64(tx.Money) != want || tx.ItemID != item.ItemID || tx.PricePerUnit != 0 {
					t.Fatalf("item %s at level %d: money %d, price_per_unit %d; want %d and 0", item.ItemID, level, tx.Money, tx.PricePerUnit, want)
				}
				return
			}
			unitPrice, _ := c.prod.levelPrice(level)
			unitPrice *= max(c.prod.divider, 1)
			unit := c.unit
			if unit == "" {
				unit = "cl"
			}
			ml := specUnitML[unit]
			// money = charged mL × cents per unit ÷ mL per unit, rounded down.
			want := int64(rec.Pour.Charged) * unitPrice * ml[1] / (10 * ml[0])
			if int64(tx.PricePerUnit) != unitPrice || int64(tx.Money) != want {
				t.Fatalf("level %d: %d c/%s and money %d for %d mL/10 charged; want %d and %d",
					level, tx.PricePerUnit, unit, tx.Money, int64(rec.Pour.Charged), unitPrice, want)
			}
			// volume_amount is the measured volume in base units (docs/ttg.md).
			dp := c.dp
			if c.unit == "" {
				dp = 1
			}
			scale := int64(1)
			for i := 0; i < dp; i++ {
				scale *= 10
			}
			wantVol := halfUp(int64(rec.Pour.Volume)*scale*ml[1], 10*ml[0])
			if int64(tx.Volume) != wantVol || tx.VolumeDP != dp {
				t.Fatalf("volume %d (dp %d), want %d (dp %d)", tx.Volume, tx.VolumeDP, wantVol, dp)
			}
		})
	}
}

// setUpServer configures the emulator through the API as an operator would.
func (b *bench) setUpServer(c pricingCase) {
	b.t.Helper()
	cl := ttg.NewClient(ttg.ClientConfig{BaseURL: b.up.URL, Username: "tapagent", Password: "tapagent", ClientID: 9})
	ctx := context.Background()
	call := func(path string, body any) {
		var res map[string]any
		if err := cl.Call(ctx, "/m2m/api/"+path, body, &res); err != nil {
			b.t.Fatalf("%s: %v", path, err)
		}
		for k, v := range res {
			if s, isStr := v.(string); isStr && len(s) > 5 && s[:5] == "error" {
				b.t.Fatalf("%s: %s %s", path, k, s)
			}
		}
	}
	if c.unit != "" {
		call("setserverconfig", map[string]any{"id": 9, "volume_base_unit": c.unit, "volume_base_unit_dp": c.dp})
	}
	if p := c.price; p != nil {
		call("addproduct", map[string]any{"id": 9, "plu": p.plu, "overwrite": true, "name": "Helles", "is_active": 1,
			"volume_unit": c.volumeUnit, "volume_unit_dp": 1, "volume_base_unit_divider": p.divider, "price_per_unit": p.price,
			"price_per_unit_happyhour1": p.hh1, "price_per_unit_happyhour2": p.hh2, "price_per_unit_happyhour1_percent": p.hh1Pct,
			"price_per_unit_happyhour2_percent": p.hh2Pct, "units_per_serving": 50, "abv": 48, "ibu": -1, "product_type": p.productType})
	}
	if len(c.hhs) > 0 {
		call("addhappyhour", map[string]any{"id": 9, "happyhours": c.hhs})
	}
	if err := b.up.Syncer.Refresh(ctx); err != nil {
		b.t.Fatal(err)
	}
}

// pourCase pours 300 mL (or the item's portion) as the case says and
// returns the booked record after the server stored it.
func (b *bench) pourCase(c pricingCase) storage.Record {
	b.t.Helper()
	switch {
	case c.how == "free":
		if _, err := b.agent.Authorise(c.line, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(300)}}); err != nil {
			b.t.Fatal(err)
		}
		b.pour(c.line, 60, 10*time.Second)
	case c.how == "card":
		if _, err := b.agent.CardTap(context.Background(), c.line, 1000002); err != nil {
			b.t.Fatal(err)
		}
		b.pour(c.line, 50, 6*time.Second)
	default:
		id := c.how[len("item:"):]
		lis, err := b.agent.LineItems(c.line) // the keg on the line, as a real wall prices it
		if err != nil {
			b.t.Fatal(err)
		}
		var it *ttg.LineItem
		for i := range lis {
			if lis[i].ItemID == id {
				it = &lis[i]
			}
		}
		if it == nil {
			b.t.Fatalf("item %s not on line %d: %+v", id, c.line, lis)
		}
		if _, err := b.agent.Authorise(c.line, device.Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: it.Volume, PortionPrice: it.Price},
			Ref: map[string]string{ttg.RefItemID: it.ItemID, device.RefPricingState: fmt.Sprint(it.State)}}); err != nil {
			b.t.Fatal(err)
		}
		b.pour(c.line, 50, 15*time.Second) // more than the portion: it completes
	}
	b.run(20 * time.Second)
	recs := b.outbox()
	if len(recs) == 0 {
		for _, e := range b.ev.All() {
			b.t.Logf("%+v", e)
		}
		b.t.Fatal("no record booked")
	}
	rec := recs[len(recs)-1]
	if err := b.flush(); err != nil {
		b.t.Fatal(err)
	}
	return rec
}

// TestUnusableServerPriceFallsBackToTheLine: a product whose price fails
// the agent's bound (divider 1,000,000) is not priced at 0 cents; the pour
// is charged at the line's configured price, at the default level.
func TestUnusableServerPriceFallsBackToTheLine(t *testing.T) {
	b := newBench(t, evening(12, 0, 0), nil)
	bad := specProduct{plu: 101, productType: 1, price: 13, divider: 1_000_000}
	b.setUpServer(pricingCase{prod: bad, price: &bad, volumeUnit: "cl"})
	rec := b.pourCase(pricingCase{how: "free", line: 1, prod: bad})
	want := b.cfg.Lines[0].UnitPrice().Amount(rec.Pour.Charged)
	if rec.Pour.Amount != want || want <= 0 || rec.Ref[device.RefPricingState] != "0" {
		t.Fatalf("charged %s for %d (state %s), want %d at the line's price", rec.Pour.Charged, rec.Pour.Amount, rec.Ref[device.RefPricingState], want)
	}
}
