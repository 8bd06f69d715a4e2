package web

import (
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
	ActVoucher    = "voucher"
)

// staffActions are what staff may do; an operator may do every action.
var staffActions = []string{ActKegChange, ActVoucher}

// litresField reads a volume field labelled "Size (L)": a plain number is
// litres; a number with its unit ("330 mL", "19.5L") is read as written.
func litresField(s string) (flow.Vol, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if strings.HasSuffix(t, "l") {
		return flow.ParseVol(t)
	}
	v, err := flow.ParseVol(t + " L")
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of litres (50 or 19.5)", s)
	}
	return v, nil
}

// action runs one service action for a logged-in user; the agent audits
// it with the user as actor (via "web").
func (s *Server) action(w http.ResponseWriter, r *http.Request, ss session) {
	f := r.PostForm
	act := f.Get("action")
	if ss.role != RoleOperator && !slices.Contains(staffActions, act) {
		http.Error(w, "staff may only change kegs and scan vouchers; this action is for operators", http.StatusForbidden)
		return
	}
	line, err := strconv.Atoi(f.Get("line"))
	if err != nil {
		s.back(w, r, "", fmt.Errorf("line %q is not a line number", f.Get("line")))
		return
	}
	by := device.Actor{Name: ss.user, Role: string(ss.role), Via: "web"}
	if act == ActVoucher {
		err = s.voucher(r, ss.user, line, f.Get("code"))
	} else {
		err = s.run(by, act, line, f)
	}
	s.d.Log.Info("web: action", "user", ss.user, "action", act, "line", line, "err", err)
	ok := ""
	if err == nil {
		ok = fmt.Sprintf("line %d: %s done", line, strings.ReplaceAll(act, "_", " "))
	}
	s.back(w, r, ok, err)
}

func (s *Server) run(by device.Actor, act string, line int, f url.Values) error {
	w := s.d.Wall
	switch act {
	case ActKegChange:
		size, err := litresField(f.Get("size_l"))
		if err != nil {
			return fmt.Errorf("size: %w", err)
		}
		return w.ChangeKeg(by, device.KegChange{Line: line, Size: size, KegID: strings.TrimSpace(f.Get("keg_id"))})
	case ActKegAdjust:
		left, err := litresField(f.Get("remaining_l"))
		if err != nil {
			return fmt.Errorf("level: %w", err)
		}
		return w.AdjustKeg(by, line, left)
	case ActLineEmpty:
		return w.MarkEmpty(by, line)
	case ActLock, ActUnlock:
		return w.SetLocked(by, line, act == ActLock)
	case ActCleanStart, ActCleanStop:
		return w.SetCleaning(by, line, act == ActCleanStart)
	}
	return fmt.Errorf("unknown action %q", act)
}

// voucher scans a typed voucher code on a line; the code is not logged.
// via names the user (web:name): codes refused are counted per user.
func (s *Server) voucher(r *http.Request, user string, line int, code string) error {
	if s.d.Voucher == nil {
		return fmt.Errorf("vouchers are off on this wall")
	}
	return s.d.Voucher(r.Context(), line, code, "web:"+user)
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
	case device.EventAlarm, device.EventAlarmCleared:
		if ev.Alarm == nil {
			return
		}
		kind, on = ev.Alarm.Kind, ev.Type == device.EventAlarm && ev.Alarm.Active
	case device.EventKegLow:
		kind, on = "keg_low", true
	case device.EventKegChanged:
		a.set(ev.Line, "keg_low", false)
		kind, on = "keg_empty", false
	case device.EventKegEmpty:
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
