package smartnowsync_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/smartnowsync"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/testwait"
	"github.com/tapagent/tapagent/sim/cloudemu"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
)

var monday = time.Date(2026, 3, 23, 12, 0, 0, 0, time.UTC) // a Monday, CET

func lineStatus(t *testing.T, d *device.Agent, line int) device.LineStatus {
	t.Helper()
	for _, s := range d.Status() {
		if s.Line == line {
			return s
		}
	}
	t.Fatalf("no line %d", line)
	return device.LineStatus{}
}

// halfLitre is the price of 500 mL on a line.
func halfLitre(t *testing.T, d *device.Agent, line int) int64 {
	t.Helper()
	p, err := d.PortionPrice(line, 5000)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPricesFromTheAssortment: the assortment's prices and names become
// the lines' for their PLUs, a line whose PLU is not in it keeps its
// configured price and says so, and after a restart without SmartNow the
// stored assortment still prices the lines.
func TestPricesFromTheAssortment(t *testing.T) {
	c := newCloud(t, snemu.Product{PLU: 101, Name: "Helles vom Fass", Price: 800}, snemu.Product{PLU: 102, Name: "Pils", Price: 900})
	r := newRig(t, c, monday, nil)
	if got := halfLitre(t, r.dev, 1); got != 650 {
		t.Fatalf("before any assortment line 1 costs %d, want the configured 650", got)
	}
	r.attach()
	if _, err := r.sync.Refresh(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line int
		want int64
		name string
	}{{1, 800, "Helles vom Fass"}, {2, 900, "Pils"}, {3, 650, "Weizen"}, {4, 550, "Cider"}} {
		if got := halfLitre(t, r.dev, tc.line); got != tc.want {
			t.Errorf("line %d: 500 mL cost %d, want %d", tc.line, got, tc.want)
		}
		if got := lineStatus(t, r.dev, tc.line).Product; got != tc.name {
			t.Errorf("line %d pours %q, want %q", tc.line, got, tc.name)
		}
	}
	kept, unfetched := map[int]bool{}, 0
	for _, ev := range r.ev.All() {
		switch {
		case ev.Type != device.EventPriceKept:
		case strings.Contains(ev.Detail, "no SmartNow assortment fetched yet"):
			unfetched++
		case strings.Contains(ev.Detail, "not in the SmartNow assortment"):
			kept[ev.Line] = true
		}
	}
	if len(kept) != 2 || !kept[3] || !kept[4] || unfetched != 4 {
		t.Errorf("price_kept for lines %v (want 3 and 4), %d before any assortment (want 4): %s", kept, unfetched, r.ev)
	}

	c.emu.SetFaults(cloudemu.Faults{Down: true})
	r.restart()
	r.attach()
	if _, err := r.sync.Refresh(ctx(t)); err == nil {
		t.Fatal("refresh with SmartNow down did not fail")
	}
	if got := halfLitre(t, r.dev, 1); got != 800 {
		t.Errorf("after a restart without SmartNow line 1 costs %d, want the stored 800", got)
	}
	if got := lineStatus(t, r.dev, 1).Product; got != "Helles vom Fass" {
		t.Errorf("after a restart line 1 pours %q", got)
	}
}

// TestPricesOffInTheMachineConfig: "prices": false in the machine
// configuration returns the configured prices.
func TestPricesOffInTheMachineConfig(t *testing.T) {
	c := newCloud(t, snemu.Product{PLU: 101, Name: "Helles", Price: 800})
	c.setConfig(t, `{"prices": false}`)
	r := newRig(t, c, monday, nil)
	r.attach()
	if _, err := r.sync.Refresh(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := halfLitre(t, r.dev, 1); got != 650 {
		t.Errorf("line 1 costs %d with prices off, want 650", got)
	}
}

func freePour(d *device.Agent, line int) error {
	_, err := d.Authorise(line, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}})
	return err
}

// TestOpeningHours: across a Monday the lines close before opening and
// after closing time and open in between, with events; on the Sunday of
// the change to summer time the hours follow the local clock.
func TestOpeningHours(t *testing.T) {
	c := newCloud(t)
	c.setHours(t, []snemu.OpeningHour{{Day: 1, StartTime: "09:00:00", EndTime: "17:00:00"}, {Day: 0, StartTime: "03:00:00", EndTime: "05:00:00"}})
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	day := func(d, h, m, s int) time.Time { return time.Date(2026, 3, d, h, m, s, 0, ams) }
	r := newRig(t, c, day(23, 7, 0, 0), nil)
	r.attach()
	if _, err := r.sync.Refresh(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at     time.Time
		closed bool
	}{
		{day(23, 8, 59, 59), true}, {day(23, 9, 0, 0), false}, {day(23, 16, 59, 59), false}, {day(23, 17, 0, 0), true},
		{day(24, 10, 0, 0), true}, // Tuesday: no hours at all
		// Sunday 29 March 2026, 02:00 CET becomes 03:00 CEST: one real
		// second from 01:59:59 to 03:00:00, and the bar opens at 03:00.
		{time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), true}, {time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), false},
		{time.Date(2026, 3, 29, 2, 59, 59, 0, time.UTC), false}, {time.Date(2026, 3, 29, 3, 0, 0, 0, time.UTC), true},
	} {
		r.at(tc.at)
		st := lineStatus(t, r.dev, 2)
		if (st.Closed != "") != tc.closed {
			t.Errorf("%s: line 2 closed=%q, want closed %v", tc.at.In(ams), st.Closed, tc.closed)
		}
		err := freePour(r.dev, 2)
		if tc.closed != errors.Is(err, device.ErrClosed) {
			t.Errorf("%s: a pour is answered %v", tc.at.In(ams), err)
		}
		if err == nil {
			if err := r.dev.Stop(2); err != nil {
				t.Fatal(err)
			}
			settle(r)
		}
	}
	if n := r.ev.Count(device.EventLineOpened); n != 8 { // 2 windows × 4 lines
		t.Errorf("%d line_opened events, want 8: %s", n, r.ev)
	}
}

// settle ticks the wall until every line is idle again.
func settle(r *rig) {
	for range 2000 {
		if !r.dev.Busy() {
			return
		}
		r.wall.Board.Advance(10 * time.Millisecond)
		r.dev.Tick()
	}
	r.t.Fatalf("the wall never settled: %s", r.ev)
}

// TestOpeningHoursLeaveTheOperatorLock: a line an operator locked stays
// locked when the bar opens; closing does not lock it a second time.
func TestOpeningHoursLeaveTheOperatorLock(t *testing.T) {
	c := newCloud(t)
	c.setHours(t, []snemu.OpeningHour{{Day: 1, StartTime: "09:00:00", EndTime: "17:00:00"}})
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	r := newRig(t, c, time.Date(2026, 3, 23, 10, 0, 0, 0, ams), nil)
	r.attach()
	if _, err := r.sync.Refresh(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.SetLocked(device.Actor{Name: "anna", Role: "operator", Via: "cli"}, 3, true); err != nil {
		t.Fatal(err)
	}
	r.at(time.Date(2026, 3, 23, 18, 0, 0, 0, ams))
	r.at(time.Date(2026, 3, 30, 10, 0, 0, 0, ams))
	if st := lineStatus(t, r.dev, 3); !st.Locked || st.Closed != "" {
		t.Errorf("line 3 after opening: locked %v closed %q, want locked and open", st.Locked, st.Closed)
	}
	if err := freePour(r.dev, 3); !errors.Is(err, device.ErrLocked) {
		t.Errorf("a pour on the operator's locked line: %v", err)
	}
	if err := freePour(r.dev, 1); err != nil {
		t.Errorf("line 1 after opening: %v", err)
	}
}

// TestMachineConfigKeys: "closed" closes a line whatever the hours, the
// keys that map to nothing are ignored with one event, and the applied
// configuration reaches SmartNow as a TA_CONFIG_APPLIED log naming both.
func TestMachineConfigKeys(t *testing.T) {
	c := newCloud(t, snemu.Product{PLU: 101, Name: "Helles", Price: 800})
	c.setConfig(t, `{"closed": [3], "wifi": {"ssid": "bar"}, "volume": 7}`)
	c.call(t, "PUT", "/machine/hostname/"+hostname+"/config", map[string]string{"ssid": "bar", "encryptionKey": "s3cret"})
	r := newRig(t, c, monday, nil)
	r.attach()
	if _, err := r.sync.Refresh(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := freePour(r.dev, 3); !errors.Is(err, device.ErrClosed) {
		t.Errorf("line 3 closed by the configuration takes a pour: %v", err)
	}
	ign, ok := r.ev.Find(device.EventSmartNowConfigIgnored)
	if !ok || ign.Detail != "encryptionKey, ssid, volume, wifi" {
		t.Errorf("ignored event %+v", ign)
	}
	// Nothing changed: a second fetch applies nothing and logs nothing.
	if sum, err := r.sync.Refresh(ctx(t)); err != nil || sum != "" {
		t.Errorf("second refresh: %q %v", sum, err)
	}
	if n := r.ev.Count(device.EventSmartNowConfigApplied); n != 1 {
		t.Errorf("%d config-applied events, want 1", n)
	}
	var extra map[string]any
	p := r.pump()
	testwait.Until(t, 10*time.Second, "the TA_CONFIG_APPLIED log in the emulator", func() bool {
		_ = p.Flush(ctx(t))
		for _, lg := range c.emu.Logs() {
			if lg.Code == "TA_CONFIG_APPLIED" && lg.ExtraData != nil {
				return json.Unmarshal([]byte(*lg.ExtraData), &extra) == nil
			}
		}
		return false
	})
	for _, ev := range r.ev.All() {
		if strings.Contains(ev.Detail, "s3cret") {
			t.Errorf("the encryption key is in an event: %+v", ev)
		}
	}
	applied, _ := extra["applied"].(map[string]any)
	if applied == nil || applied["assortment"] != float64(1) || !strings.Contains(toJSON(applied["closed"]), "3") ||
		toJSON(extra["ignored"]) != `["encryptionKey","ssid","volume","wifi"]` || toJSON(applied["prices"]) != `{"1":800}` {
		t.Errorf("extraData %s", toJSON(extra))
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestStoredHoursHoldAfterARestart: opening hours applied once close the
// lines after a restart with SmartNow unreachable, from the first
// authorisation.
func TestStoredHoursHoldAfterARestart(t *testing.T) {
	c := newCloud(t)
	c.setHours(t, []snemu.OpeningHour{{Day: 1, StartTime: "09:00:00", EndTime: "17:00:00"}})
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	r := newRig(t, c, time.Date(2026, 3, 23, 20, 0, 0, 0, ams), nil)
	r.attach()
	if _, err := r.sync.Refresh(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.emu.SetFaults(cloudemu.Faults{Down: true})
	r.restart()
	if err := freePour(r.dev, 1); !errors.Is(err, device.ErrClosed) {
		t.Errorf("after a restart at 20:00 a pour is answered %v", err)
	}
	if why, closed := r.sync.Hours().Closed(1, time.Date(2026, 3, 23, 10, 0, 0, 0, ams)); closed {
		t.Errorf("at 10:00 line 1 is closed: %s", why)
	}
	if r.sync.State().At.IsZero() {
		t.Error("the applied state has no time")
	}
	_ = smartnowsync.Bucket
}
