package ttg

import (
	"testing"
	"time"
)

// BenchmarkFreePourPrice prices a pour in the server's zone against ten
// happy hours of every kind: the work done on every authorisation.
func BenchmarkFreePourPrice(b *testing.B) {
	loc, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		b.Skip(err)
	}
	cat := &Catalog{Config: map[string]string{"volume_base_unit": "cl", "volume_base_unit_dp": "1"},
		Products: []Product{{PLU: 1, IsActive: 1, PricePerUnit: 13, PricePerUnitHH1: 10, PricePerUnitHH2: 6, PricePerUnitHH1Pct: 20}}}
	for i := 0; i < 10; i++ {
		h := HappyHour{PriceLevel: 1 + i%3, StartTime: 60 * i, EndTime: 60*i + 90}
		switch i % 3 {
		case 1:
			h.WeekDayStart, h.WeekDayEnd = 1, 5
		case 2:
			h.StartDate, h.EndDate = "2026-11-01", "2026-11-30"
		}
		cat.HappyHours = append(cat.HappyHours, h)
	}
	if err := cat.Prepare(); err != nil {
		b.Fatal(err)
	}
	cat.SetZone(loc)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := cat.FreePourPrice(1, now, KegState{FillPermille: 500}); !ok {
			b.Fatal("no price")
		}
	}
}
