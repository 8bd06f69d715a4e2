package device

import (
	"errors"
	"time"
)

// Hours closes lines outside their opening hours (SmartNow's): a lock of
// its own beside the operator's. Closing never touches the operator lock
// (SetLocked) and opening never lifts it.
type Hours interface {
	// Closed says whether line is closed at now and why; now is the
	// wall's clock, the zone is the implementation's.
	Closed(line int, now time.Time) (why string, closed bool)
}

// ErrClosed is returned for a pour on a line outside its opening hours.
var ErrClosed = errors.New("line closed")

// closedWhy is why the line is closed now, "" when it is open.
func (a *Agent) closedWhy(l *line, now time.Time) string {
	if a.hours == nil {
		return ""
	}
	why, closed := a.hours.Closed(l.id, now)
	if !closed {
		return ""
	}
	if why == "" {
		why = "closed"
	}
	return why
}

// tickHours re-evaluates the opening hours once per wall-clock second and
// reports every line that closed or opened; mu held. A running pour is
// not stopped at closing time: it was paid for and is bounded by its
// caps; the line takes no new pour.
func (a *Agent) tickHours(l *line, now time.Time) {
	why := a.closedWhy(l, now)
	if why == l.closed {
		return
	}
	l.closed = why
	if why != "" {
		a.event(Event{Type: EventLineClosed, Line: l.id, Detail: why})
		return
	}
	a.event(Event{Type: EventLineOpened, Line: l.id})
}

// SetProductNames names the product of every line pouring one of the
// PLUs in names (an assortment's names); it returns the lines renamed.
// The names live in memory: their source keeps them and sets them again
// at each start.
func (a *Agent) SetProductNames(names map[int]string) []int {
	var renamed []int
	for _, l := range a.order {
		p := l.prod.Load()
		if n, ok := names[p.plu]; ok && n != "" && n != p.name {
			l.prod.Store(&product{name: n, plu: p.plu})
			renamed = append(renamed, l.id)
		}
	}
	return renamed
}
