package smartnowsync

import (
	"slices"
	"time"

	"github.com/tapagent/tapagent/device"
)

// Hours closes the lines outside the opening hours last applied (read
// from bbolt at start), and the lines the machine configuration's
// "closed" names, whatever the hours. The wall asks at every authorisation
// and once a second on its tick, with its own (injected) clock.
func (s *Sync) Hours() device.Hours { return hours{s} }

type hours struct{ s *Sync }

// Why the wall says a line is closed.
const (
	WhyOutsideHours = "outside opening hours"
	WhyConfig       = "closed by the SmartNow machine configuration"
)

// Closed evaluates now in the wall's zone (ttg.time_zone): the weekday and
// the local clock time, so a DST change moves the hours with the clocks.
func (h hours) Closed(line int, now time.Time) (string, bool) {
	a := h.s.state.Load()
	if c := a.Settings.Closed; slices.Contains(c, line) || slices.Contains(c, 0) {
		return WhyConfig, true
	}
	if !a.HaveHours || len(a.Hours) == 0 || (a.Settings.OpeningHours != nil && !*a.Settings.OpeningHours) {
		return "", false
	}
	t := now.In(h.s.zone)
	day := int(t.Weekday())
	hh, mm, ss := t.Clock()
	secs := hh*3600 + mm*60 + ss
	for _, oh := range a.Hours {
		if oh.Day == day && oh.Start <= secs && secs < oh.End {
			return "", false
		}
	}
	return WhyOutsideHours, true
}
