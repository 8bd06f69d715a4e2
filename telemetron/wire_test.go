package telemetron

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

var (
	ended = time.Date(2026, 12, 1, 22, 30, 0, 0, time.UTC)
	amst  = mustZone("Europe/Amsterdam")
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func rec(kind string, mode flow.Mode, amount int64, ref storage.Ref) storage.Record {
	off := 3600
	return storage.Record{ID: "7-1", Kind: kind, Line: 3, Product: "Pils", PLU: 11, EndedAt: ended.UnixMilli(),
		Zone: "Europe/Amsterdam", UTCOffset: &off, Ref: ref,
		Pour: flow.Result{Auth: flow.Auth{Mode: mode}, Volume: 5000, Charged: 5000, Amount: amount, Complete: true}}
}

func TestVendRow(t *testing.T) {
	m := Machine{Zone: amst, Selections: map[int]int{42: 7}}
	vend := rec(storage.KindVend, flow.ModePortion, 250, storage.Ref{Vend: "v1"})
	vend.PLU, vend.Line, vend.Product = 42, 0, "Cola"
	for _, tc := range []struct {
		name              string
		r                 storage.Record
		layout            string
		vendType, payType int
		price             int64
	}{
		{"desfire card is token", rec(storage.KindPour, flow.ModeFree, 450, storage.Ref{CardType: "1", CardID: "9"}), "3", VendPaid, PayToken, 450},
		{"online card is token", rec(storage.KindPour, flow.ModeFree, 450, storage.Ref{CardType: "11"}), "3", VendPaid, PayToken, 450},
		{"mdb terminal is cashless", rec(storage.KindPour, flow.ModePortion, 300, storage.Ref{Vend: "mdb-4", CardType: "61"}), "3", VendPaid, PayCashless, 300},
		{"waiter is cash", rec(storage.KindPour, flow.ModeFree, 500, storage.Ref{Reservation: "r1", Waiter: "3"}), "3", VendPaid, PayCash, 500},
		{"open pour is cash", rec(storage.KindPour, flow.ModeFree, 500, storage.Ref{CardType: "33"}), "3", VendPaid, PayCash, 500},
		{"voucher is token", rec(storage.KindPour, flow.ModeFree, 100, storage.Ref{Voucher: "00000-ABC"}), "3", VendPaid, PayToken, 100},
		{"staff card is free", rec(storage.KindPour, flow.ModeFree, 0, storage.Ref{CardType: "4"}), "3", VendFree, PayToken, 0},
		{"cleaning is test", rec(storage.KindCleaning, flow.ModeCleaning, 0, storage.Ref{Source: "cleaning"}), "3", VendTest, PayCash, 0},
		{"calibration is test", rec(storage.KindCalibration, flow.ModeCalibration, 0, storage.Ref{}), "3", VendTest, PayCash, 0},
		{"exe vend: selection", vend, "7", VendPaid, PayCashless, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok, err := VendRow(tc.r, m)
			if err != nil || !ok {
				t.Fatalf("VendRow: ok %v err %v", ok, err)
			}
			want := Sale{Time: "2026-12-01T23:30:00+01:00", LayoutNumber: tc.layout, Name: tc.r.Product, Price: tc.price,
				Number: 1, Value: tc.price, VendType: tc.vendType, PaymentType: tc.payType}
			if s != want {
				t.Errorf("got %+v\nwant %+v", s, want)
			}
		})
	}
}

func TestVendRowSkipsWhatIsNoVend(t *testing.T) {
	nothing := rec(storage.KindPour, flow.ModeFree, 0, storage.Ref{})
	nothing.Pour.Volume = 0
	unmade := rec(storage.KindVend, flow.ModePortion, 250, storage.Ref{})
	unmade.Pour.Complete = false
	for _, r := range []storage.Record{nothing, unmade, rec(storage.KindCardPurchase, 0, 1000, storage.Ref{}),
		rec(storage.KindUnattributed, 0, 0, storage.Ref{})} {
		if _, ok, err := VendRow(r, Machine{}); ok || err != nil {
			t.Errorf("%s: ok %v err %v, want skipped", r.Kind, ok, err)
		}
	}
}

func TestVendRowNameAndLayoutFallbacks(t *testing.T) {
	r := rec(storage.KindVend, flow.ModePortion, 100, storage.Ref{})
	r.Product = ""
	s, _, _ := VendRow(r, Machine{})
	if s.Name != "PLU 11" || s.LayoutNumber != "PLU 11" || s.Time != "2026-12-01T23:30:00+01:00" {
		t.Errorf("got %+v", s)
	}
	r.UTCOffset = nil
	if s, _, _ := VendRow(r, Machine{Zone: mustZone("Europe/Moscow")}); s.Time != "2026-12-02T01:30:00+03:00" {
		t.Errorf("without an offset in the record: %s", s.Time)
	}
}

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		price, number, want int64
		overflow            bool
	}{
		{450, 1, 450, false}, {450, 3, 1350, false}, {0, 5, 0, false},
		{math.MaxInt64, 2, 0, true}, {math.MaxInt64 / 2, 2, math.MaxInt64 - 1, false}, {-1, 1, 0, true}, {1, -1, 0, true},
	} {
		got, err := Value(tc.price, tc.number)
		if tc.overflow != errors.Is(err, ErrOverflow) || got != tc.want {
			t.Errorf("Value(%d, %d) = %d, %v", tc.price, tc.number, got, err)
		}
	}
}

func TestEventDoc(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	alarm := func(typ device.EventType, kind string, active bool) device.Event {
		return device.Event{Time: at, Type: typ, Line: 2, Alarm: &flow.Alarm{Kind: kind, Active: active, Detail: "d"}}
	}
	for _, tc := range []struct {
		ev     device.Event
		code   string
		active bool
	}{
		{alarm(device.EventAlarm, "leak", true), "EHM_2", true},
		{alarm(device.EventAlarmCleared, "leak", false), "EHM_2", false},
		{alarm(device.EventAlarm, "keg_empty", true), "ELB_2", true},
		{alarm(device.EventAlarm, "no_flow", true), "ELA_2", true},
		{alarm(device.EventAlarm, "valve_fault", true), "ELA_2", true},
		{alarm(device.EventAlarm, "lost_edges", true), "ETA_EDGES_2", true},
		{alarm(device.EventAlarm, "something_new", true), "ETA_ALARM_2", true},
		{device.Event{Time: at, Type: device.EventKegLow, Line: 2}, "ELE_2", true},
		{device.Event{Time: at, Type: device.EventKegEmpty, Line: 2}, "ELB_2", true},
		{device.Event{Time: at, Type: device.EventValveCloseFailed, Line: 2}, "ETA_VALVE_2", true},
		{device.Event{Time: at, Type: device.EventStorageError, Detail: "disk full"}, "ETA_STORAGE", true},
		{device.Event{Time: at, Type: device.EventStorageCorruptMoved}, "ETA_STORE_MOVED", true},
		{device.Event{Time: at, Type: device.EventAgentStarted}, "OCF", true},
		{device.Event{Time: at, Type: device.EventReaderFault}, "EKA", true},
		{device.Event{Time: at, Type: device.EventMDBFault}, "EAU", true},
		{device.Event{Time: at, Type: device.EventSinkDeadLetter}, "ETA_DEAD_LETTER", true},
		{device.Event{Time: at, Type: device.EventValveCloseFailed, Line: 1234567890}, "ETA_VALVE", true},
	} {
		t.Run(tc.code, func(t *testing.T) {
			raw, _ := json.Marshal(tc.ev)
			doc, ok := LoggedEventDoc(storage.LoggedEvent{Seq: 17, Raw: raw}, amst)
			if !ok || doc.Code != tc.code || doc.Date != "2026-12-01T13:00:00+01:00" {
				t.Fatalf("got %+v ok %v, want code %s", doc, ok, tc.code)
			}
			var p []Payload
			if err := json.Unmarshal(doc.Payload, &p); err != nil || len(p) != 1 || p[0].Seq != 17 || p[0].Active != tc.active ||
				p[0].Type != string(tc.ev.Type) || p[0].Line != tc.ev.Line {
				t.Errorf("payload %s: %v", doc.Payload, err)
			}
			if !eventCodeOK(doc.Code) {
				t.Errorf("code %q is not of Telemetron's form", doc.Code)
			}
		})
	}
}

// eventCodeOK is Telemetron's code form (^[A-Z][A-Z0-9_]{0,15}$).
func eventCodeOK(c string) bool {
	if len(c) == 0 || len(c) > maxCode || c[0] < 'A' || c[0] > 'Z' {
		return false
	}
	for _, r := range c {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func TestEventDocSkips(t *testing.T) {
	for _, raw := range []string{`{"time":"2026-12-01T12:00:00Z","type":"pour_booked","line":1}`, `not json`,
		`{"type":"alarm","line":1}`, `{"time":"2026-12-01T12:00:00Z","type":"alarm","line":1}`} {
		if doc, ok := LoggedEventDoc(storage.LoggedEvent{Seq: 1, Raw: []byte(raw)}, nil); ok {
			t.Errorf("%s: sent as %+v", raw, doc)
		}
	}
}

func TestStateOf(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	started := now.Add(-time.Hour)
	full := flow.Keg{Size: 500000, Remaining: 400000, LowPercent: 10}
	low := flow.Keg{Size: 500000, Remaining: 40000, LowPercent: 10} // 8 %: adjusted, flag not set yet
	empty := flow.Keg{Size: 500000, Remaining: 0, LowPercent: 10, Low: true, Empty: true}
	for _, tc := range []struct {
		name string
		w    Wall
		want State
	}{
		{"operating", Wall{Lines: []int{1, 2}, Kegs: map[int]flow.Keg{1: full, 2: full}, LastSale: now.Add(-time.Hour)},
			State{State: StateOperating}},
		{"keg under par", Wall{Lines: []int{1, 2}, Kegs: map[int]flow.Keg{1: full, 2: low}, LastSale: now},
			State{State: StateOperating, Service: Service{NeedLoading: true}}},
		{"one keg empty", Wall{Lines: []int{1, 2}, Kegs: map[int]flow.Keg{1: full, 2: empty}, LastSale: now},
			State{State: StateOperating, Service: Service{NeedLoading: true}}},
		{"every line dry or locked", Wall{Lines: []int{1, 2}, Kegs: map[int]flow.Keg{1: full, 2: empty}, Locked: map[int]bool{1: true}, LastSale: now},
			State{State: StateOutOfService, Service: Service{NeedLoading: true}}},
		{"no sale for a day", Wall{Lines: []int{1}, Kegs: map[int]flow.Keg{1: full}, LastSale: now.Add(-25 * time.Hour)},
			State{State: StateOperating, Service: Service{NoRecentSales: true}}},
		{"no sale known, started an hour ago", Wall{Lines: []int{1}, Kegs: map[int]flow.Keg{1: full}},
			State{State: StateOperating}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StateOf(tc.w, now, started, 24*time.Hour); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLoads(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	kegs := map[int]flow.Keg{2: {Remaining: 123456}, 1: {Remaining: -50}}
	inv := Inventory(kegs, at, amst, "count")
	b, _ := json.Marshal(inv)
	want := `{"data":[{"component_id":1,"loaded":0},{"component_id":2,"loaded":12346}],"note":"count","created_at":"2026-12-01T11:00:00+01:00"}`
	if string(b) != want {
		t.Errorf("inventory %s\nwant      %s", b, want)
	}
	ref := Refill(2, flow.Keg{ID: "K9", Size: 500000, Remaining: 500000}, at, amst)
	b, _ = json.Marshal(ref)
	want = `{"data":[{"component_id":2,"add":50000}],"note":"keg changed: K9","created_at":"2026-12-01T11:00:00+01:00"}`
	if string(b) != want {
		t.Errorf("refill %s\nwant   %s", b, want)
	}
	lv := Levels(kegs)
	if len(lv) != 2 || lv[0] != (Level{ComponentID: 1, Value: 0}) || lv[1] != (Level{ComponentID: 2, Value: 12346}) {
		t.Errorf("levels %+v", lv)
	}
}
