package simwall

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// viewFrame is a moment of the demo: pouring, settling, a dry keg, a
// locked line, listeners in the header and more events than 24 rows hold.
func viewFrame() Frame {
	f := Frame{
		Listeners: []string{"pos listening: http://127.0.0.1:8086/cash/1.0", "control listening: http://127.0.0.1:8087/client/api"},
		Status: []device.LineStatus{
			{Line: 1, Product: "Helles", State: "pouring", Mode: "free", FlowRate: 598, Poured: 2123, Amount: 276, KegLeft: 487877, KegPermille: 975},
			{Line: 2, Product: "Pils", State: "settling", Mode: "portion", Poured: 3011, Amount: 390, KegLeft: 500000, KegPermille: 1000},
			{Line: 3, Product: "A very long product name", State: "idle", KegLeft: 1200, KegPermille: 4, Disabled: "keg_empty"},
			{Line: 4, Product: "Cider", State: "idle", Locked: true, Unbooked: 2, KegLeft: -50, KegPermille: 0},
		},
		At: 12345 * time.Millisecond,
	}
	for i := range 30 {
		f.Recent = append(f.Recent, ViewEvent{Text: fmt.Sprintf("18:00:%02d.000 line 1 open pour 1001-%d authorised", i, i)})
	}
	f.Recent = append(f.Recent, ViewEvent{Text: "18:00:31.000 line 4 alarm leak: flow with the valve closed", Alarm: true})
	return f
}

// TestRenderFrameSizes: the view fits an 80 × 24 terminal as well as a
// 160 × 50 one (golden files): no row wider than the terminal, no more
// rows than it has, the listeners in the header, the newest events kept.
func TestRenderFrameSizes(t *testing.T) {
	cfg, _ := config.Default()
	for _, size := range []struct{ w, h int }{{80, 24}, {160, 50}} {
		rows := RenderFrame(cfg, viewFrame(), size.w, size.h, false)
		if len(rows) > size.h-1 {
			t.Errorf("%d×%d: %d rows", size.w, size.h, len(rows))
		}
		for _, r := range rows {
			if n := utf8.RuneCountInString(r); n > size.w {
				t.Errorf("%d×%d: row of %d columns: %q", size.w, size.h, n, r)
			}
			if strings.Contains(r, "\x1b") {
				t.Errorf("colour without asking: %q", r)
			}
		}
		if !strings.Contains(rows[len(rows)-1], "alarm leak") {
			t.Errorf("%d×%d: the newest event is not shown", size.w, size.h)
		}
		golden(t, fmt.Sprintf("view-%dx%d.golden", size.w, size.h), []byte(strings.Join(rows, "\n")+"\n"))
	}
}

// TestRenderFrameColour: with colour on, alarms are red and lines out of
// service yellow; nothing else is coloured.
func TestRenderFrameColour(t *testing.T) {
	cfg, _ := config.Default()
	var red, yellow, plain int
	for _, r := range RenderFrame(cfg, viewFrame(), 160, 50, true) {
		switch {
		case strings.HasPrefix(r, colourAlarm):
			red++
		case strings.HasPrefix(r, colourWarn):
			yellow++
		case strings.Contains(r, "\x1b"):
			t.Errorf("unexpected colour: %q", r)
		default:
			plain++
		}
	}
	if red != 1 || yellow != 2 || plain == 0 {
		t.Fatalf("red %d, yellow %d, plain %d rows", red, yellow, plain)
	}
}

// TestScreenRedrawsOnlyChanges: the first frame clears the screen, an
// unchanged frame writes nothing (no full clear 4 times a second), a
// frame with one changed row rewrites only that row, and a resize
// redraws everything.
func TestScreenRedrawsOnlyChanges(t *testing.T) {
	cfg, _ := config.Default()
	var out bytes.Buffer
	s := screen{w: &out}
	f := viewFrame()
	first, _ := s.draw(RenderFrame(cfg, f, 80, 24, false), 80, 24)
	if !strings.HasPrefix(out.String(), "\x1b[H\x1b[2J") || first == 0 {
		t.Fatalf("first frame: %q", out.String())
	}
	out.Reset()
	if n, _ := s.draw(RenderFrame(cfg, f, 80, 24, false), 80, 24); n != 0 || out.Len() != 0 {
		t.Fatalf("an unchanged frame wrote %d bytes: %q", n, out.String())
	}
	f.At += time.Second
	n, _ := s.draw(RenderFrame(cfg, f, 80, 24, false), 80, 24)
	if n == 0 || n > 100 || strings.Contains(out.String(), "\x1b[2J") || !strings.Contains(out.String(), "t=13.3s") {
		t.Fatalf("a new time rewrote %d bytes: %q", n, out.String())
	}
	out.Reset()
	s.draw(RenderFrame(cfg, f, 100, 30, false), 100, 30)
	if !strings.HasPrefix(out.String(), "\x1b[H\x1b[2J") {
		t.Fatalf("a resize did not redraw: %q", out.String())
	}
}

// TestFaultsSummarised: a flood of reader faults shows the first three of
// each 10 s window and one line counting the rest.
func TestFaultsSummarised(t *testing.T) {
	cfg, _ := config.Default()
	p := &printer{cfg: cfg, faults: faultSummary{}}
	at := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	var shown []string
	for i := range 100 {
		ev := device.Event{Time: at.Add(time.Duration(i) * 50 * time.Millisecond), Type: device.EventReaderFault, Detail: "pn532: no answer"}
		for _, e := range p.readable(ev) {
			shown = append(shown, e.Text)
		}
	}
	for _, e := range p.faults.flush(time.Time{}) {
		shown = append(shown, e.Text)
	}
	if len(shown) != 4 || !strings.Contains(shown[3], "97 more reader fault events") {
		t.Fatalf("shown:\n%s", strings.Join(shown, "\n"))
	}
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
		{Time: at, Type: device.EventPourAuthorised, Line: 1, Mode: "free", PourID: "1001-3"},
		{Time: at, Type: device.EventPourBooked, Line: 2, Kind: "pour", PourID: "1001-b1-r2", Reason: "no_pour"},
		{Time: at, Type: device.EventMDBCashSale, Line: 3, PourID: "1001-3", Amount: 236},
		{Time: at, Type: device.EventCardCharged, Line: 1, Amount: 390, Detail: "credit 1687 left"},
	}
	var b bytes.Buffer
	for _, e := range evs {
		b.WriteString(describe(e, cfg) + "\n")
	}
	golden(t, "events.golden", b.Bytes())
}

// TestLineWordsClosed: a line closed by its opening hours says so, beside
// an operator's lock.
func TestLineWordsClosed(t *testing.T) {
	for _, tc := range []struct {
		s    device.LineStatus
		note string
	}{
		{device.LineStatus{State: "idle", Closed: "outside opening hours"}, "closed"},
		{device.LineStatus{State: "idle", Closed: "outside opening hours", Locked: true}, "closed locked"},
	} {
		if _, _, note := lineWords(tc.s); note != tc.note {
			t.Errorf("%+v: note %q, want %q", tc.s, note, tc.note)
		}
	}
}
