package ttg

import (
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	return loc
}

// TestEveryPricingPathReadsTheServerZone prices the same instants through
// every catalog path with zones far from UTC and across DST changes: free
// pours, line items and the happy-hour check agree, and none of them
// depends on the zone of the instant passed in.
func TestEveryPricingPathReadsTheServerZone(t *testing.T) {
	host := time.FixedZone("host", -11*3600) // a host far from every server zone
	cases := []struct {
		name   string
		zone   string
		h      HappyHour
		wall   string // server wall-clock time
		active bool
	}{
		{"Kolkata evening", "Asia/Kolkata", HappyHour{StartTime: 17 * 60, EndTime: 18 * 60}, "2026-11-20 17:00", true},
		{"Kolkata before", "Asia/Kolkata", HappyHour{StartTime: 17 * 60, EndTime: 18 * 60}, "2026-11-20 16:59", false},
		{"Chatham over midnight", "Pacific/Chatham", HappyHour{StartTime: 23 * 60, EndTime: 60}, "2026-11-21 00:44", true},
		{"Chatham after", "Pacific/Chatham", HappyHour{StartTime: 23 * 60, EndTime: 60}, "2026-11-21 01:00", false},
		{"St John's whole day at 23:59", "America/St_Johns", HappyHour{EndTime: 1440}, "2026-11-20 23:59", true},
		// Berlin springs forward on 2026-03-29 at 02:00: 18:00 is wall clock.
		{"Berlin DST day 18:00", "Europe/Berlin", HappyHour{StartDate: "2026-03-29", StartTime: 18 * 60, EndDate: "2026-03-30"}, "2026-03-29 18:00", true},
		{"Berlin DST day 17:59", "Europe/Berlin", HappyHour{StartDate: "2026-03-29", StartTime: 18 * 60, EndDate: "2026-03-30"}, "2026-03-29 17:59", false},
		// St John's falls back on 2026-11-01 at 02:00; 01:30 happens twice.
		{"St John's fall-back 01:30", "America/St_Johns", HappyHour{StartTime: 60, EndTime: 120}, "2026-11-01 01:30", true},
		{"St John's fall-back 02:00", "America/St_Johns", HappyHour{StartTime: 60, EndTime: 120}, "2026-11-01 02:00", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc := mustZone(t, c.zone)
			c.h.PriceLevel = PriceHH1
			cat := &Catalog{Config: map[string]string{"volume_base_unit": "cl", "volume_base_unit_dp": "1"},
				Products:   []Product{{PLU: 1, IsActive: 1, PricePerUnit: 13, PricePerUnitHH1: 10}},
				Items:      []Item{{ItemID: "1-05", ProductPLU: 1, PortionName: "Pint", Price: 650, PriceDP: 2, PriceHH1: 500, PriceHH1DP: 2}},
				HappyHours: []HappyHour{c.h},
				Lines:      map[int]LinePortions{1: {Portions: []LinePortion{{PortionName: "Pint", Volume: 500, VolumeDP: 1, VolumeUnit: "cl", Price: 650}}}}}
			if err := cat.Prepare(); err != nil {
				t.Fatal(err)
			}
			cat.SetZone(loc)
			at, err := time.ParseInLocation("2006-01-02 15:04", c.wall, loc)
			if err != nil {
				t.Fatal(err)
			}
			wantState, wantUnit, wantItem := PriceDefault, int64(13), int64(650)
			if c.active {
				wantState, wantUnit, wantItem = PriceHH1, 10, 500
			}
			for _, now := range []time.Time{at, at.UTC(), at.In(host), at.In(time.Local)} {
				p, st, ok := cat.FreePourPrice(1, now, KegState{})
				if !ok || st != wantState || cat.Units().CentsPerUnit(p) != wantUnit {
					t.Errorf("free pour at %v: state %d, %d c/unit", now, st, cat.Units().CentsPerUnit(p))
				}
				items, err := cat.LineItems(1, 1, now, KegState{})
				if err != nil || len(items) != 1 || items[0].Price != wantItem || items[0].State != wantState {
					t.Errorf("item at %v: %+v %v", now, items, err)
				}
				if got := cat.HappyHourActive(c.h, now, cat.Products[0], KegState{}); got != c.active {
					t.Errorf("happy hour at %v: %v", now, got)
				}
			}
		})
	}
}

// TestFallBackMinuteIsInTheWindowTwice: St John's falls back at 02:00 on
// 2026-11-01, so 01:30 happens at 04:00 and at 05:00 UTC; a 01:00-02:00
// window covers both, and ends at 02:00 NST (05:30 UTC).
func TestFallBackMinuteIsInTheWindowTwice(t *testing.T) {
	cat := &Catalog{Config: map[string]string{"volume_base_unit": "cl"}, Products: []Product{{PLU: 1, IsActive: 1, PricePerUnit: 13, PricePerUnitHH1: 10}}}
	if err := cat.Prepare(); err != nil {
		t.Fatal(err)
	}
	cat.SetZone(mustZone(t, "America/St_Johns"))
	h := HappyHour{StartTime: 60, EndTime: 120, PriceLevel: PriceHH1}
	for _, c := range []struct {
		utc  string
		want bool
	}{{"2026-11-01 04:00", true}, {"2026-11-01 05:00", true}, {"2026-11-01 05:29", true}, {"2026-11-01 05:30", false}} {
		at, _ := time.Parse("2006-01-02 15:04", c.utc)
		if got := cat.HappyHourActive(h, at, cat.Products[0], KegState{}); got != c.want {
			t.Errorf("%s UTC (%s there): %v", c.utc, cat.wall(at).Format("15:04 MST"), got)
		}
	}
}

// TestPourAcrossFallBackNeverStopsBeforeItStarts: Berlin falls back at
// 03:00 CEST on 2026-10-25. A pour from 02:59:50 CEST to 02:00:10 CET would
// read stop before start on the wall clock; the start is clamped to the
// stop's wall time. Pours elsewhere keep both times.
func TestPourAcrossFallBackNeverStopsBeforeItStarts(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	u, _ := NewUnits("cl", 1)
	conv := Converter{Units: u, Loc: berlin}
	for _, c := range []struct {
		name               string
		startUTC           string
		d                  time.Duration
		wantStart, wantEnd string
	}{
		{"across the change", "2026-10-25 00:59:50", 20 * time.Second, "2026-10-25 02:00:10", "2026-10-25 02:00:10"},
		{"inside the repeated hour", "2026-10-25 01:10:00", 20 * time.Second, "2026-10-25 02:10:00", "2026-10-25 02:10:20"},
		{"an ordinary evening", "2026-10-25 18:00:00", 20 * time.Second, "2026-10-25 19:00:00", "2026-10-25 19:00:20"},
		{"across spring forward", "2026-03-29 00:59:50", 20 * time.Second, "2026-03-29 01:59:50", "2026-03-29 03:00:10"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start, err := time.Parse(TimeLayout, c.startUTC)
			if err != nil {
				t.Fatal(err)
			}
			r := rec(storage.KindPour, flow.ML(300), 390, storage.Ref{})
			r.StartedAt, r.EndedAt = start.UnixMilli(), start.Add(c.d).UnixMilli()
			tx, err := conv.Transaction(r)
			if err != nil || tx.Start != c.wantStart || tx.Stop != c.wantEnd {
				t.Fatalf("start %q stop %q (%v), want %q and %q", tx.Start, tx.Stop, err, c.wantStart, c.wantEnd)
			}
		})
	}
}
