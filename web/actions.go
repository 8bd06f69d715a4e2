package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
)

// Service actions the dashboard offers, and who may use them.
const (
	ActKegChange  = "keg_change"
	ActKegAdjust  = "keg_adjust"
	ActLineEmpty  = "line_empty"
	ActLock       = "lock"
	ActUnlock     = "unlock"
	ActCleanStart = "clean_start"
	ActCleanStop  = "clean_stop"
)

// staffActions are what staff may do; an operator may do every action.
var staffActions = []string{ActKegChange}

// maxKegL bounds a keg size or level typed in: the largest common keg is
// 58.7 L (US half barrel); 200 L leaves room for tanks.
const maxKegL = 200

// parseLitres reads "50", "50L", "19.5 L" as tenths of mL without floats.
func parseLitres(s string) (flow.Vol, error) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "L"), "l"))
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" || len(frac) > 3 {
		return 0, fmt.Errorf("%q is not a volume in litres (e.g. 50 or 19.5)", s)
	}
	w, err := strconv.ParseUint(whole, 10, 16)
	if err != nil || w > maxKegL {
		return 0, fmt.Errorf("%q is not a volume of 0..%d litres", s, maxKegL)
	}
	f := uint64(0)
	if frac != "" {
		if f, err = strconv.ParseUint(frac+strings.Repeat("0", 3-len(frac)), 10, 16); err != nil {
			return 0, fmt.Errorf("%q is not a volume in litres", s)
		}
	}
	ml := w*1000 + f
	if ml > maxKegL*1000 {
		return 0, fmt.Errorf("%q is more than %d litres", s, maxKegL)
	}
	return flow.Vol(ml * 10), nil
}

// action runs one service action for a logged-in user and records it,
// with the user as actor, in the agent's event log.
func (s *Server) action(w http.ResponseWriter, r *http.Request, ss session) {
	f := r.PostForm
	act := f.Get("action")
	if ss.role != RoleOperator && !slices.Contains(staffActions, act) {
		http.Error(w, "staff may only change kegs; this action is for operators", http.StatusForbidden)
		return
	}
	line, err := strconv.Atoi(f.Get("line"))
	if err != nil {
		s.back(w, r, "", fmt.Errorf("line %q is not a line number", f.Get("line")))
		return
	}
	detail, err := s.run(act, line, f)
	ev := device.Event{Type: device.EventWebAction, Line: line, Kind: act,
		Detail: fmt.Sprintf("actor=%s via=web role=%s %s", ss.user, ss.role, detail)}
	if err != nil {
		ev.Reason = "refused"
		ev.Detail += ": " + err.Error()
	}
	s.d.Wall.Report(ev)
	s.d.Log.Info("web: action", "user", ss.user, "action", act, "line", line, "detail", detail, "err", err)
	ok := ""
	if err == nil {
		ok = fmt.Sprintf("line %d: %s done", line, strings.ReplaceAll(act, "_", " "))
	}
	s.back(w, r, ok, err)
}

// errUnsupported is an action this wall does not offer.
var errUnsupported = errors.New("this wall does not offer that action")

func (s *Server) run(act string, line int, f url.Values) (string, error) {
	w := s.d.Wall
	switch act {
	case ActKegChange:
		size, err := parseLitres(f.Get("size_l"))
		if err != nil {
			return "", err
		}
		if size == 0 {
			return "", errors.New("a keg's size must be more than 0 litres")
		}
		id := strings.TrimSpace(f.Get("keg_id"))
		if len(id) > 64 {
			return "", errors.New("keg id: at most 64 characters")
		}
		return fmt.Sprintf("size=%s keg=%q", litres(size), id), w.ChangeKeg(line, id, size)
	case ActKegAdjust:
		a, ok := w.(KegAdjuster)
		if !ok {
			return "", errUnsupported
		}
		left, err := parseLitres(f.Get("remaining_l"))
		if err != nil {
			return "", err
		}
		return "remaining=" + litres(left), a.AdjustKeg(line, left)
	case ActLineEmpty:
		e, ok := w.(LineEmptier)
		if !ok {
			return "", errUnsupported
		}
		return "", e.MarkEmpty(line)
	case ActLock:
		return "", w.Lock(line)
	case ActUnlock:
		return "", w.Unlock(line)
	case ActCleanStart, ActCleanStop:
		c, ok := w.(Cleaner)
		if !ok {
			return "", errUnsupported
		}
		if act == ActCleanStart {
			return "", c.StartCleaning(line)
		}
		return "", c.StopCleaning(line)
	}
	return "", fmt.Errorf("unknown action %q", act)
}

// back returns to the tap list with the outcome in the query (Post/
// Redirect/Get: reloading the page never repeats the action).
func (s *Server) back(w http.ResponseWriter, r *http.Request, ok string, err error) {
	v := url.Values{}
	if ok != "" {
		v.Set("ok", ok)
	}
	if err != nil {
		v.Set("err", err.Error())
	}
	http.Redirect(w, r, "/?"+v.Encode(), http.StatusSeeOther)
}

// alarms is the set of alarms active per line, from the event stream.
type alarms struct {
	mu     sync.Mutex
	active map[int][]string
}

func (a *alarms) observe(ev device.Event) {
	var kind string
	var on bool
	switch ev.Type {
	case device.EvAlarm, device.EvAlarmCleared:
		if ev.Alarm == nil {
			return
		}
		kind, on = ev.Alarm.Kind, ev.Type == device.EvAlarm && ev.Alarm.Active
	case device.EvKegLow:
		kind, on = "keg_low", true
	case device.EvKegChanged:
		a.set(ev.Line, "keg_low", false)
		kind, on = "keg_empty", false
	case device.EvKegEmpty:
		kind, on = "keg_empty", true
	default:
		return
	}
	a.set(ev.Line, kind, on)
}

func (a *alarms) set(line int, kind string, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active == nil {
		a.active = map[int][]string{}
	}
	cur := slices.DeleteFunc(a.active[line], func(k string) bool { return k == kind })
	if on {
		cur = append(cur, kind)
	}
	a.active[line] = cur
}

func (a *alarms) snapshot() map[int][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[int][]string, len(a.active))
	for l, k := range a.active {
		out[l] = slices.Clone(k)
	}
	return out
}

func (c *todayCache) invalidate() {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
}
