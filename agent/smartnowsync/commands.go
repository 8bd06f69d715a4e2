package smartnowsync

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
)

// actor is who a SmartNow command acts as in the wall's audit trail.
func actor() device.Actor { return device.Actor{Name: "smartnow", Role: "operator", Via: "smartnow"} }

// Journal states of a command.
const (
	stateStarted  = "started"  // journalled, about to run: found at start, it is reported interrupted, not run again
	stateDone     = "done"     // ran; its outcome is waiting to be reported
	stateReported = "reported" // SmartNow has the result
)

// keepReported bounds the reported commands kept (to recognise a command
// SmartNow lists again); the oldest go first.
const keepReported = 256

// WhyInterrupted is the result of a command the agent stopped in.
const WhyInterrupted = "interrupted: the agent stopped while running it; not run again"

// Entry is one command in the journal.
type Entry struct {
	ID      int64     `json:"id"`
	Command string    `json:"command"`
	Params  []int64   `json:"params"`
	State   string    `json:"state"`
	Success bool      `json:"success"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

func cmdKey(id int64) []byte { return binary.BigEndian.AppendUint64([]byte("cmd/"), uint64(id)) }

func (s *Sync) putEntry(e Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.store.Update(Bucket, func(b storage.Bucket) error {
		if err := b.Put(cmdKey(e.ID), raw); err != nil {
			return err
		}
		if e.State == stateReported {
			return pruneReported(b)
		}
		return nil
	})
}

// pruneReported drops the oldest reported entries beyond keepReported.
func pruneReported(b storage.Bucket) error {
	var reported [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var e Entry
		if len(k) == 12 && string(k[:4]) == "cmd/" && json.Unmarshal(v, &e) == nil && e.State == stateReported {
			reported = append(reported, append([]byte(nil), k...))
		}
		return nil
	})
	for len(reported) > keepReported && err == nil {
		err = b.Delete(reported[0])
		reported = reported[1:]
	}
	return err
}

// Journal lists the journalled commands, oldest id first.
func (s *Sync) Journal() ([]Entry, error) {
	var out []Entry
	err := s.store.View(Bucket, func(b storage.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 12 || string(k[:4]) != "cmd/" {
				return nil
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("command journal %x: %w", k, err)
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

func (s *Sync) entry(id int64) (Entry, bool, error) {
	var e Entry
	var found bool
	err := s.store.View(Bucket, func(b storage.Bucket) error {
		raw := b.Get(cmdKey(id))
		if raw == nil {
			return nil
		}
		found = true
		return json.Unmarshal(raw, &e)
	})
	return e, found, err
}

// PollCommands reports what is journalled but unreported (a crash or a
// lost reply left it), then fetches the pending commands and runs each
// that is new, once: journalled before it runs, its outcome journalled
// before it is reported.
func (s *Sync) PollCommands(ctx context.Context) error {
	if err := s.reportLeftovers(ctx); err != nil {
		return err
	}
	cmds, err := s.client.Commands(ctx, s.cfg.MachineID)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if err := s.handle(ctx, c); err != nil {
			return fmt.Errorf("command %d (%s): %w", c.ID, c.Command, err)
		}
	}
	return nil
}

// reportLeftovers reports every entry not yet reported: one journalled
// as started (the agent stopped in it) is reported as interrupted.
func (s *Sync) reportLeftovers(ctx context.Context) error {
	entries, err := s.Journal()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.State == stateReported {
			continue
		}
		if e.State == stateStarted {
			e.State, e.Success, e.Message = stateDone, false, WhyInterrupted
			if err := s.putEntry(e); err != nil {
				return err
			}
		}
		if err := s.deliver(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// handle runs one fetched command unless the journal has it.
func (s *Sync) handle(ctx context.Context, c smartnow.Command) error {
	e, found, err := s.entry(c.ID)
	if err != nil {
		return err
	}
	if found {
		// Reported already but listed again: the result is resent (SmartNow
		// answers 409 when it has it); never run again.
		return s.client.CommandResult(ctx, s.cfg.MachineID, e.ID, e.Success, e.Message)
	}
	e = Entry{ID: c.ID, Command: c.Command, Params: c.Params, State: stateStarted, At: s.now().UTC()}
	if err := s.putEntry(e); err != nil {
		return fmt.Errorf("journal: %w (not run)", err)
	}
	e.Success, e.Message = s.run(ctx, c)
	e.State = stateDone
	if err := s.putEntry(e); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return s.deliver(ctx, e)
}

// deliver reports a done entry and marks it reported; the TA_COMMAND log
// goes out through the event log once, when SmartNow took the result.
func (s *Sync) deliver(ctx context.Context, e Entry) error {
	if err := s.client.CommandResult(ctx, s.cfg.MachineID, e.ID, e.Success, e.Message); err != nil {
		var he *smartnow.HTTPError
		if !errors.As(err, &he) || (he.Status != http.StatusNotFound && he.Status != http.StatusBadRequest && he.Status != http.StatusUnprocessableEntity) {
			return err
		}
		// SmartNow refuses this result for good: resending cannot help.
		s.log.Warn("smartnow refused a command result; it is not sent again", "command", e.ID, "err", err)
	}
	e.State = stateReported
	if err := s.putEntry(e); err != nil {
		return err
	}
	outcome := "failed"
	if e.Success {
		outcome = "done"
	}
	b, _ := json.Marshal(map[string]any{"id": e.ID, "command": e.Command, "params": orEmpty(e.Params), "success": e.Success,
		"outcome": outcome, "message": e.Message})
	s.report(device.Event{Type: device.EventSmartNowCommand, Detail: string(b)})
	return nil
}

func orEmpty(p []int64) []int64 {
	if p == nil {
		return []int64{}
	}
	return p
}

// run executes one command and says how it went.
func (s *Sync) run(ctx context.Context, c smartnow.Command) (bool, string) {
	known := slices.Contains(config.SmartNowCommands(), c.Command)
	switch {
	case !known:
		return false, "unknown command"
	case !slices.Contains(s.cfg.CommandsAllowed, c.Command):
		return false, fmt.Sprintf("command %s is not allowed on this machine ([smartnow] commands_allowed)", c.Command)
	}
	w := s.getWall()
	if w == nil {
		return false, "the wall is not running"
	}
	switch c.Command {
	case "refresh":
		summary, err := s.Refresh(ctx)
		if err != nil {
			return false, "refresh: " + err.Error()
		}
		if summary == "" {
			return true, "configuration fetched: unchanged"
		}
		return true, "configuration fetched and applied"
	case "lock", "unlock":
		return s.lock(w, c.Params, c.Command == "lock")
	case "report":
		return s.sendState(w)
	case "clean":
		return s.clean(w, c.Params)
	}
	return false, "unknown command"
}

// targets are the lines params name: none or 0 is every line.
func targets(w Wall, params []int64) ([]int, error) {
	all := w.Lines()
	if len(params) == 0 || slices.Contains(params, 0) {
		return all, nil
	}
	out := make([]int, 0, len(params))
	for _, p := range params {
		if p < 0 || p > 1<<20 || !slices.Contains(all, int(p)) {
			return nil, fmt.Errorf("no line %d", p)
		}
		out = append(out, int(p))
	}
	return out, nil
}

func (s *Sync) lock(w Wall, params []int64, locked bool) (bool, string) {
	lines, err := targets(w, params)
	if err != nil {
		return false, err.Error()
	}
	var errs []error
	for _, l := range lines {
		errs = append(errs, w.SetLocked(actor(), l, locked))
	}
	if err := errors.Join(errs...); err != nil {
		return false, err.Error()
	}
	verb := "unlocked"
	if locked {
		verb = "locked"
	}
	return true, fmt.Sprintf("lines %s %s", joinInts(lines), verb)
}

// clean starts a cleaning pour on one line: it opens the valve, so it
// runs only when [smartnow] commands_allowed lists it.
func (s *Sync) clean(w Wall, params []int64) (bool, string) {
	if len(params) != 1 || params[0] <= 0 {
		return false, "clean needs one line number"
	}
	if err := w.SetCleaning(actor(), int(params[0]), true); err != nil {
		return false, err.Error()
	}
	return true, fmt.Sprintf("cleaning started on line %d", params[0])
}

// sendState reports the machine's state as an event (SmartNow's TA_STATE
// log, through the durable event log).
func (s *Sync) sendState(w Wall) (bool, string) {
	type lineState struct {
		Line    int    `json:"line"`
		Product string `json:"product"`
		State   string `json:"state"`
		Locked  bool   `json:"locked"`
		Closed  string `json:"closed,omitempty"`
		KegMl   int64  `json:"keg_remaining_ml"`
		KegPm   int64  `json:"keg_permille"`
	}
	var lines []lineState
	for _, st := range w.Status() {
		lines = append(lines, lineState{Line: st.Line, Product: st.Product, State: st.State, Locked: st.Locked,
			Closed: st.Closed, KegMl: int64(st.KegLeft) / 10, KegPm: st.KegPermille})
	}
	b, _ := json.Marshal(map[string]any{"lines": lines})
	w.Report(device.Event{Type: device.EventMachineState, Detail: string(b)})
	return true, fmt.Sprintf("state of %d lines sent", len(lines))
}

func joinInts(v []int) string {
	out := ""
	for i, n := range v {
		if i > 0 {
			out += ","
		}
		out += strconv.Itoa(n)
	}
	return out
}
