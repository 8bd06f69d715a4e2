package simwall

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRenderView(t *testing.T) {
	cfg, _ := config.Default()
	st := []device.LineStatus{
		{Line: 1, Product: "Helles", State: "pouring", Mode: "free", FlowRate: 598, Poured: 2123, Amount: 276, KegLeft: 487877, KegPermille: 975},
		{Line: 2, Product: "Pils", State: "settling", Mode: "portion", Poured: 3011, Amount: 390, KegLeft: 500000, KegPermille: 1000},
		{Line: 3, Product: "A very long product name", State: "idle", KegLeft: 1200, KegPermille: 4, Disabled: "keg_empty"},
		{Line: 4, Product: "Cider", State: "idle", Locked: true, Unbooked: 2, KegLeft: -50, KegPermille: 0},
	}
	var b bytes.Buffer
	RenderView(&b, cfg, st, []string{"18:00:01.000 line 1 free pour 1001-1 authorised"}, 12345*time.Millisecond)
	golden(t, "view.golden", b.Bytes())
}

func TestDescribeEvents(t *testing.T) {
	cfg, _ := config.Default()
	at := time.Date(2026, 11, 22, 18, 0, 1, 0, time.UTC)
	keg := flow.Keg{Size: 500000, Remaining: 70000}
	evs := []device.Event{
		{Time: at, Type: device.EventPourBooked, Line: 1, Kind: "pour", PourID: "1001-1", Volume: 3851, Charged: 3821, Amount: 497, Reason: "cap_money"},
		{Time: at, Type: device.EventPourRecovered, Line: 1, PourID: "1001-2", Volume: 1200, Amount: 156},
		{Time: at, Type: device.EventAlarm, Line: 4, Alarm: &flow.Alarm{Kind: "leak", Active: true}, Detail: "flow with the valve closed"},
		{Time: at, Type: device.EventKegLow, Line: 2, Keg: &keg},
		{Time: at, Type: device.EventValveClosed, Line: 3, Reason: "idle", Volume: 1822},
		{Time: at, Type: device.EventStorageCorruptMoved, Detail: "corrupt database moved to x"},
	}
	var b bytes.Buffer
	for _, e := range evs {
		b.WriteString(describe(e, cfg) + "\n")
	}
	golden(t, "events.golden", b.Bytes())
}

func TestMoney(t *testing.T) {
	for _, c := range []struct {
		minor int64
		dec   int
		want  string
	}{{1234, 2, "12.34 EUR"}, {5, 2, "0.05 EUR"}, {-250, 2, "-2.50 EUR"}, {1234, 0, "1234 EUR"}, {1234, 3, "1.234 EUR"}} {
		if got := Money(c.minor, c.dec, "EUR"); got != c.want {
			t.Errorf("Money(%d,%d) = %q, want %q", c.minor, c.dec, got, c.want)
		}
	}
}
