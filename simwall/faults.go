package simwall

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tapagent/tapagent/device"
)

// Fault summaries keep a slow or starved simulator from flooding the
// readable output: of each fault type at most faultBurst are shown per
// faultWindow of the wall's time, the rest are counted and summarised in
// one line when the window ends. JSON output and the event log keep
// every one.
const (
	faultBurst  = 3
	faultWindow = 10 * time.Second
)

// isFault reports whether an event type is a device's fault report
// (reader_fault, mdb_fault, exe_fault).
func isFault(typ device.EventType) bool { return strings.HasSuffix(string(typ), "_fault") }

// faultSummary counts the faults of each type in the current window.
type faultSummary map[device.EventType]*faultCount

type faultCount struct {
	start             time.Time
	shown, suppressed int
}

// admit reports whether a fault event is shown; one that is not is
// counted for the window's summary.
func (s faultSummary) admit(ev device.Event) bool {
	c := s[ev.Type]
	if c == nil {
		c = &faultCount{start: ev.Time}
		s[ev.Type] = c
	}
	if c.shown < faultBurst {
		c.shown++
		return true
	}
	c.suppressed++
	return false
}

// flush ends the windows that are over at now (all of them for the zero
// time) and returns one summary line for each that held back faults.
func (s faultSummary) flush(now time.Time) []ViewEvent {
	var out []ViewEvent
	for _, typ := range slices.Sorted(maps.Keys(s)) {
		c := s[typ]
		if !now.IsZero() && now.Sub(c.start) < faultWindow {
			continue
		}
		if c.suppressed > 0 {
			out = append(out, ViewEvent{Alarm: true, Text: fmt.Sprintf("%s %d more %s events in %s not shown (the event log has them all)",
				c.start.Format("15:04:05.000"), c.suppressed, typ.Words(), faultWindow)})
		}
		delete(s, typ)
	}
	return out
}
