package ttg

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Fatalf("%s differs (-update to accept):\n%s", name, got)
	}
}

func TestUnits(t *testing.T) {
	cases := []struct {
		unit     string
		dp       int
		vol      flow.Vol
		wire     int64
		cents    int64 // per unit for 650 per 500 mL
		servings int64 // ×100, for a 0.5-unit serving... see below
	}{
		{"l", 3, flow.ML(500), 500, 1300, 0},
		{"ml", 1, 3001, 3001, 1, 0},
		{"cl", 2, flow.ML(330), 3300, 13, 0},
		{"oz", 1, flow.ML(473), 160, 38, 0}, // a US pint is 16.0 oz
	}
	p := flow.Price{Minor: 650, PerVol: flow.ML(500)}
	for _, c := range cases {
		u, err := NewUnits(c.unit, c.dp)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.FromVol(c.vol); got != c.wire {
			t.Errorf("%s/%d FromVol(%s) = %d, want %d", c.unit, c.dp, c.vol, got, c.wire)
		}
		if back := u.ToVol(c.wire, c.dp); back-c.vol > 5 || c.vol-back > 5 {
			t.Errorf("%s/%d ToVol(%d) = %s, want about %s", c.unit, c.dp, c.wire, back, c.vol)
		}
		if got := u.CentsPerUnit(p); got != c.cents {
			t.Errorf("%s price: %d cents per unit, want %d", c.unit, got, c.cents)
		}
	}
	l, _ := NewUnits("l", 3)
	if got := l.Price(1300).Amount(flow.ML(500)); got != 650 {
		t.Fatalf("1300/L for 500 mL = %d", got)
	}
	// units_per_serving counts whole base units.
	if got := l.Servings(flow.ML(1000), 1); got != 100 {
		t.Fatalf("1 L at 1 L per serving = %d servings×100", got)
	}
	if _, err := NewUnits("gallon", 1); err == nil {
		t.Fatal("unknown unit accepted")
	}
	if u, err := UnitsFromConfig(map[string]string{}); err != nil || u.Unit != "oz" || u.DP != 1 {
		t.Fatalf("spec defaults: %+v %v", u, err)
	}
}

func rec(kind string, vol flow.Vol, amount int64, ref storage.Ref) storage.Record {
	start := time.Date(2026, 11, 22, 18, 30, 5, 0, time.UTC)
	return storage.Record{ID: "1001-7", Kind: kind, Line: 2, PLU: 102, StartedAt: start.UnixMilli(),
		EndedAt: start.Add(7 * time.Second).UnixMilli(), Ref: ref,
		Pour: flow.Result{Auth: flow.Auth{Mode: flow.ModeFree, Price: flow.Price{Minor: 1400_000, PerVol: 10_000_000}},
			Volume: vol, Charged: vol, Amount: amount}}
}

func TestTransactionConversion(t *testing.T) {
	u, _ := NewUnits("l", 3)
	conv := Converter{Units: u, Loc: time.UTC, UnitsPerServing: map[int]int64{102: 1}}
	card := storage.Ref{CardID: "1000001", CardType: "11", CardName: "Alex", ItemID: "102-03"}
	got := map[string]Transaction{}
	for name, r := range map[string]storage.Record{
		"open pour": rec(storage.KindPour, flow.ML(303), 424, storage.Ref{}),
		"card":      rec(storage.KindPour, flow.ML(300), 390, card),
		"release":   rec(storage.KindPour, 0, 0, card),
		"cleaning":  rec(storage.KindCleaning, flow.ML(210), 0, storage.Ref{}),
	} {
		tx, err := conv.Transaction(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got[name] = tx
	}
	golden(t, "transactions.golden.json", got)
	if _, err := conv.Transaction(rec(storage.KindUnattributed, 5, 0, storage.Ref{})); !errors.Is(err, ErrNotTransaction) {
		t.Fatalf("leak: %v", err)
	}
	bad := rec(storage.KindPour, flow.ML(10), 10, storage.Ref{CardID: "12ab"})
	if _, err := conv.Transaction(bad); err == nil {
		t.Fatal("bad card id accepted")
	}
	noPLU := rec(storage.KindPour, flow.ML(10), 10, storage.Ref{})
	noPLU.PLU = 0
	if _, err := conv.Transaction(noPLU); err == nil {
		t.Fatal("record without PLU accepted")
	}
}

func TestWireNames(t *testing.T) {
	golden(t, "wire.golden.json", map[string]any{
		"auth":         AuthRequest{Username: "u", Password: "p", ID: 1001, Name: "tapagent", Type: ClientType, Version: 1},
		"cardinfo":     CardInfoRequest{ID: 1001, LocationID: "1", DeviceID: 1001, Login: true, CardID: 42},
		"cardpurchase": CardPurchaseRequest{ID: 1, LocationID: 1, DeviceID: 1001, CardPurchases: []CardPurchase{{CardID: 42, Created: "2026-11-22 18:00:00", Type: 113, Amount: 500, CardName: "Alex", StaffName: "Kim", AlcoholAllowed: 1}}},
		"portions":     LinePortionsRequest{ID: 1, DeviceID: 1001, Line: 2},
	})
}

func TestHappyHourWindows(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	beer := Product{PLU: 101, ProductType: 1}
	full := KegState{FillPermille: 900, TappedAt: at("2026-11-01 12:00")}
	cases := []struct {
		name string
		h    HappyHour
		when string
		keg  KegState
		want bool
	}{
		{"daily before", HappyHour{StartTime: 17 * 60, EndTime: 18 * 60}, "2026-11-20 16:59", full, false},
		{"daily start minute", HappyHour{StartTime: 17 * 60, EndTime: 18 * 60}, "2026-11-20 17:00", full, true},
		{"daily last minute", HappyHour{StartTime: 17 * 60, EndTime: 18 * 60}, "2026-11-20 17:59", full, true},
		{"daily end minute", HappyHour{StartTime: 17 * 60, EndTime: 18 * 60}, "2026-11-20 18:00", full, false},
		{"over midnight late", HappyHour{StartTime: 23 * 60, EndTime: 60}, "2026-11-20 23:30", full, true},
		{"over midnight early", HappyHour{StartTime: 23 * 60, EndTime: 60}, "2026-11-21 00:30", full, true},
		{"over midnight after", HappyHour{StartTime: 23 * 60, EndTime: 60}, "2026-11-21 01:00", full, false},
		// 2026-11-20 is a Friday (weekday 5).
		{"friday evening", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, StartTime: 16 * 60, EndTime: 20 * 60}, "2026-11-20 17:00", full, true},
		{"thursday same time", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, StartTime: 16 * 60, EndTime: 20 * 60}, "2026-11-19 17:00", full, false},
		// Weekday happy hours are the daily window on each day of the range.
		{"sunday to monday: sunday night", HappyHour{WeekDayStart: 7, WeekDayEnd: 1, StartTime: 20 * 60, EndTime: 2 * 60}, "2026-11-23 01:00", full, true},
		{"sunday to monday: monday night runs into tuesday", HappyHour{WeekDayStart: 7, WeekDayEnd: 1, StartTime: 20 * 60, EndTime: 2 * 60}, "2026-11-24 01:00", full, true},
		{"sunday to monday: tuesday after 02:00", HappyHour{WeekDayStart: 7, WeekDayEnd: 1, StartTime: 20 * 60, EndTime: 2 * 60}, "2026-11-24 02:00", full, false},
		{"sunday to monday: saturday night", HappyHour{WeekDayStart: 7, WeekDayEnd: 1, StartTime: 20 * 60, EndTime: 2 * 60}, "2026-11-21 21:00", full, false},
		{"friday 22-02 friday 21:59", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, StartTime: 1320, EndTime: 120}, "2026-11-20 21:59", full, false},
		{"friday 22-02 friday 22:00", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, StartTime: 1320, EndTime: 120}, "2026-11-20 22:00", full, true},
		{"friday 22-02 saturday 01:59", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, StartTime: 1320, EndTime: 120}, "2026-11-21 01:59", full, true},
		{"friday 22-02 saturday 02:00", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, StartTime: 1320, EndTime: 120}, "2026-11-21 02:00", full, false},
		{"friday 22-02 saturday 23:00", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, StartTime: 1320, EndTime: 120}, "2026-11-21 23:00", full, false},
		{"friday 22-02 tuesday 12:00", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, StartTime: 1320, EndTime: 120}, "2026-11-17 12:00", full, false},
		{"mon-fri 17-18 wednesday noon", HappyHour{WeekDayStart: 1, WeekDayEnd: 5, StartTime: 1020, EndTime: 1080}, "2026-11-18 12:00", full, false},
		{"mon-fri 17-18 wednesday 17:30", HappyHour{WeekDayStart: 1, WeekDayEnd: 5, StartTime: 1020, EndTime: 1080}, "2026-11-18 17:30", full, true},
		{"mon-fri 17-18 saturday 17:30", HappyHour{WeekDayStart: 1, WeekDayEnd: 5, StartTime: 1020, EndTime: 1080}, "2026-11-21 17:30", full, false},
		{"sat-mon 0..0 sunday", HappyHour{WeekDayStart: 6, WeekDayEnd: 1}, "2026-11-22 12:00", full, true},
		{"sat-mon 0..0 tuesday", HappyHour{WeekDayStart: 6, WeekDayEnd: 1}, "2026-11-24 00:00", full, false},
		{"date range inside", HappyHour{StartDate: "2026-12-24", StartTime: 18 * 60, EndDate: "2026-12-26", EndTime: 0}, "2026-12-25 12:00", full, true},
		{"date range before", HappyHour{StartDate: "2026-12-24", StartTime: 18 * 60, EndDate: "2026-12-26", EndTime: 0}, "2026-12-24 17:59", full, false},
		{"keg low", HappyHour{KegLevel: 20}, "2026-11-20 12:00", KegState{FillPermille: 150}, true},
		{"keg not low", HappyHour{KegLevel: 20}, "2026-11-20 12:00", KegState{FillPermille: 201}, false},
		{"old keg", HappyHour{KegAge: 14}, "2026-11-20 12:00", full, true},
		{"young keg", HappyHour{KegAge: 30}, "2026-11-20 12:00", full, false},
		{"other plu", HappyHour{AffectedPLUs: "102,103"}, "2026-11-20 12:00", full, false},
		{"listed plu", HappyHour{AffectedPLUs: "102, 101"}, "2026-11-20 12:00", full, true},
		{"wine only", HappyHour{AffectedProductTypes: "2"}, "2026-11-20 12:00", full, false},
		// 0..1440 and 0..0 are the whole day, daily, weekly and by date.
		{"daily 0..1440 at midnight", HappyHour{StartTime: 0, EndTime: 1440}, "2026-11-20 00:00", full, true},
		{"daily 0..1440 last minute", HappyHour{StartTime: 0, EndTime: 1440}, "2026-11-20 23:59", full, true},
		{"daily 0..1439 last minute", HappyHour{StartTime: 0, EndTime: 1439}, "2026-11-20 23:59", full, false},
		{"daily 0..0", HappyHour{}, "2026-11-20 23:59", full, true},
		{"daily 1320..1440", HappyHour{StartTime: 1320, EndTime: 1440}, "2026-11-20 23:59", full, true},
		{"daily 1320..1440 after midnight", HappyHour{StartTime: 1320, EndTime: 1440}, "2026-11-21 00:00", full, false},
		{"whole week 0..1440", HappyHour{WeekDayStart: 1, WeekDayEnd: 7, EndTime: 1440}, "2026-11-22 23:59", full, true},
		{"friday 0..0", HappyHour{WeekDayStart: 5, WeekDayEnd: 5}, "2026-11-20 23:59", full, true},
		{"friday 0..0 saturday", HappyHour{WeekDayStart: 5, WeekDayEnd: 5}, "2026-11-21 00:00", full, false},
		{"friday 0..1440", HappyHour{WeekDayStart: 5, WeekDayEnd: 5, EndTime: 1440}, "2026-11-20 23:59", full, true},
		{"mon-fri 18:00-02:00 wednesday noon", HappyHour{WeekDayStart: 1, WeekDayEnd: 5, StartTime: 18 * 60, EndTime: 120}, "2026-11-18 12:00", full, false},
		{"mon-fri 18:00-02:00 saturday 01:00", HappyHour{WeekDayStart: 1, WeekDayEnd: 5, StartTime: 18 * 60, EndTime: 120}, "2026-11-21 01:00", full, true},
		{"mon-fri 18:00-02:00 monday 01:00", HappyHour{WeekDayStart: 1, WeekDayEnd: 5, StartTime: 18 * 60, EndTime: 120}, "2026-11-23 01:00", full, false},
		{"date 0..0 last minute", HappyHour{StartDate: "2026-12-24", EndDate: "2026-12-24"}, "2026-12-24 23:59", full, true},
		{"date 0..0 next day", HappyHour{StartDate: "2026-12-24", EndDate: "2026-12-24"}, "2026-12-25 00:00", full, false},
		{"date 0..1440", HappyHour{StartDate: "2026-12-24", EndDate: "2026-12-24", EndTime: 1440}, "2026-12-24 23:59", full, true},
	}
	for _, c := range cases {
		c.h.PriceLevel = PriceHH1
		if got := c.h.active(at(c.when), beer, c.keg); got != c.want {
			t.Errorf("%s at %s: active %v, want %v", c.name, c.when, got, c.want)
		}
	}
}

func TestPricingStatePicksCheapest(t *testing.T) {
	cat := &Catalog{Config: map[string]string{"volume_base_unit": "l", "volume_base_unit_dp": "3"},
		Products:   []Product{{PLU: 1, IsActive: 1, PricePerUnit: 1000, PricePerUnitHH1: 900, PricePerUnitHH2: 700, PricePerUnitHH1Pct: 25}},
		HappyHours: []HappyHour{{PriceLevel: PriceHH1}, {PriceLevel: PriceHH1Pct}, {PriceLevel: PriceHH2, StartTime: 600, EndTime: 660}}}
	if err := cat.Prepare(); err != nil {
		t.Fatal(err)
	}
	noon := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	p, st, ok := cat.FreePourPrice(1, noon, KegState{})
	if !ok || st != PriceHH1Pct || p.Amount(flow.ML(1000)) != 750 {
		t.Fatalf("noon: state %d, 1 L costs %d", st, p.Amount(flow.ML(1000)))
	}
	ten := noon.Add(-2 * time.Hour)
	if _, st, _ := cat.FreePourPrice(1, ten, KegState{}); st != PriceHH2 {
		t.Fatalf("10:00: state %d, want happy hour 2 (700)", st)
	}
	it := Item{Price: 450, PriceDP: 2, PriceHH1: 35, PriceHH1DP: 1, PriceHH2Pct: 125, PriceHH2PctDP: 1}
	for st, want := range map[int]int64{PriceDefault: 450, PriceHH1: 350, PriceHH2Pct: 394} {
		if got, ok := it.ItemPrice(st); !ok || got != want {
			t.Errorf("item state %d: %d, want %d", st, got, want)
		}
	}
	if _, ok := it.ItemPrice(PriceHH2); ok {
		t.Error("unset happy hour 2 price offered")
	}
}

// TestUnusablePriceIsNotOffered: a price that fails the bound or is
// negative is not a free pour price, so the device falls back to the
// line's configured price instead of pouring at 0 cents.
func TestUnusablePriceIsNotOffered(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Product
		ok   bool
	}{
		{"plain", Product{PricePerUnit: 13}, true},
		{"divider within the bound", Product{PricePerUnit: 13, VolumeBaseUnitDivider: 1000}, true},
		{"divider 1,000,000 over the bound", Product{PricePerUnit: 13, VolumeBaseUnitDivider: 1_000_000}, false},
		{"price over the bound", Product{PricePerUnit: maxCentsPerUnit + 1}, false},
		{"negative price", Product{PricePerUnit: -5}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.p.PLU, c.p.IsActive = 1, 1
			cat := &Catalog{Config: map[string]string{"volume_base_unit": "cl", "volume_base_unit_dp": "1"}, Products: []Product{c.p}}
			if err := cat.Prepare(); err != nil {
				t.Fatal(err)
			}
			p, _, ok := cat.FreePourPrice(1, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC), KegState{})
			if ok != c.ok || (ok && p.Amount(flow.ML(100)) <= 0) {
				t.Fatalf("ok %v (want %v), 10 cl cost %d", ok, c.ok, p.Amount(flow.ML(100)))
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	one := func() float64 { return 1 }
	if d := Backoff(0, time.Second, time.Minute, one); d != time.Second {
		t.Fatalf("first: %s", d)
	}
	if d := Backoff(30, time.Second, time.Minute, one); d != time.Minute {
		t.Fatalf("capped: %s", d)
	}
	if d := Backoff(3, time.Second, time.Minute, func() float64 { return 0 }); d != 4*time.Second {
		t.Fatalf("jitter floor: %s", d)
	}
}

func FuzzUnitsFromConfig(f *testing.F) {
	f.Add("oz", "1")
	f.Add("l", "3")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, unit, dp string) {
		u, err := UnitsFromConfig(map[string]string{"volume_base_unit": unit, "volume_base_unit_dp": dp})
		if err != nil {
			return
		}
		if u.scale <= 0 || u.DP < 0 || u.DP > 3 {
			t.Fatalf("accepted %+v", u)
		}
		v := flow.ML(473)
		if back := u.ToVol(u.FromVol(v), u.DP); back < v-flow.Vol(u.scale/1000) || back > v+flow.Vol(u.scale/1000) {
			t.Fatalf("%s round trip %s -> %s", u.Unit, v, back)
		}
	})
}

// TestKegWithoutTappingTimeHasNoAge: a keg whose TappedAt is 0 (never
// recorded) is no older than any keg_age trigger; a keg tapped 15 days ago
// is, through the syncer's free-pour and item paths alike.
func TestKegWithoutTappingTimeHasNoAge(t *testing.T) {
	cat := &Catalog{Config: map[string]string{"volume_base_unit": "cl", "volume_base_unit_dp": "1"},
		Products:   []Product{{PLU: 101, IsActive: 1, PricePerUnit: 13, PricePerUnitHH1: 10}},
		Items:      []Item{{ItemID: "101-05", ProductPLU: 101, PortionName: "0.5", Price: 650, PriceDP: 2, PriceHH1: 500, PriceHH1DP: 2}},
		HappyHours: []HappyHour{{PriceLevel: PriceHH1, KegAge: 14}},
		Lines:      map[int]LinePortions{1: {Portions: []LinePortion{{PortionName: "0.5", Volume: 500, VolumeDP: 1, VolumeUnit: "cl", Price: 650}}}}}
	if err := cat.Prepare(); err != nil {
		t.Fatal(err)
	}
	s := &Syncer{}
	s.cat.Store(cat)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		tappedAt int64
		want     int
	}{
		{"no tapping time", 0, PriceDefault},
		{"tapped 15 days ago", now.AddDate(0, 0, -15).UnixMilli(), PriceHH1},
		{"tapped 13 days ago", now.AddDate(0, 0, -13).UnixMilli(), PriceDefault},
	} {
		t.Run(c.name, func(t *testing.T) {
			keg := flow.Keg{Size: flow.ML(50_000), Remaining: flow.ML(50_000), TappedAt: c.tappedAt}
			_, st, ok := s.FreePourPrice(101, now, keg)
			items, err := s.LineItems(1, 101, now, keg)
			if !ok || st != c.want || err != nil || len(items) != 1 || items[0].State != c.want {
				t.Fatalf("free pour state %d (%v), items %+v (%v); want state %d", st, ok, items, err, c.want)
			}
		})
	}
}
