package diagcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/tapagent/tapagent/storage"
	"sync"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/flow"
)

// keptCalibrations is how many booked calibration pours wait for their
// measured volume; a technician works one line at a time, a few is plenty.
const keptCalibrations = 16

// service is remote service mode: valve tests and calibration pours on a
// line a technician has locked (line.lock), then unlocks again.
type service struct {
	agent Wall

	mu     sync.Mutex
	booked map[string]device.Event // booked calibration pours by pour id
	order  []string
}

func newService(a Wall) *service {
	return &service{agent: a, booked: map[string]device.Event{}}
}

// observe keeps booked calibration pours; it runs on the agent's event
// path, so it only records.
func (s *service) observe(ev device.Event) {
	if ev.Type != device.EventPourBooked || ev.Mode != flow.ModeCalibration.String() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == keptCalibrations {
		delete(s.booked, s.order[0])
		s.order = s.order[1:]
	}
	s.booked[ev.PourID] = ev
	s.order = append(s.order, ev.PourID)
}

func (s *service) bookedPour(id string) (device.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.booked[id]
	return ev, ok
}

// open starts a service pour and maps the agent's refusal to a status.
func (s *service) open(line int, mode flow.Mode, limit time.Duration, source string) (int, any) {
	id, err := s.agent.Authorise(line, device.Request{Service: true,
		Auth: flow.Auth{Mode: mode, MaxDuration: limit}, Ref: storage.Ref{Source: source}})
	if err != nil {
		// Not in service mode, busy or disabled: the line's state, not the request, is wrong.
		return 409, err.Error()
	}
	return 202, map[string]any{"line": line, "pour_id": id, "max_seconds": int(limit / time.Second)}
}

// valveTest is valve.test {"line": N, "seconds": S}: the valve opens for at
// most S seconds (1..30, default 3) as an uncharged test pour.
func (s *service) valveTest(_ context.Context, raw json.RawMessage) (int, any) {
	var req struct {
		Line    int `json:"line"`
		Seconds int `json:"seconds"`
	}
	if err := json.Unmarshal(raw, &req); err != nil || req.Line <= 0 {
		return 400, `params must be {"line": N, "seconds": 1..30}`
	}
	if req.Seconds == 0 {
		req.Seconds = 3
	}
	if req.Seconds < 1 || req.Seconds > 30 {
		return 400, "seconds must be 1..30"
	}
	if !s.hasLine(req.Line) {
		return 404, fmt.Sprintf("no line %d", req.Line)
	}
	return s.open(req.Line, flow.ModeCleaning, time.Duration(req.Seconds)*time.Second, "valve.test")
}

// calibrate runs the calibration wizard remotely, in three calls:
// {"line", "action": "start"} opens the line into the vessel,
// {"line", "action": "stop"} closes it, and once the pour is booked
// {"line", "action": "store", "pour_id", "measured_ml10"} stores the
// K-factor ("dry_run": true only computes it).
func (s *service) calibrate(ctx context.Context, raw json.RawMessage) (int, any) {
	var req struct {
		Line     int      `json:"line"`
		Action   string   `json:"action"`
		PourID   string   `json:"pour_id"`
		Measured flow.Vol `json:"measured_ml10"`
		DryRun   bool     `json:"dry_run"`
	}
	if err := json.Unmarshal(raw, &req); err != nil || req.Line <= 0 {
		return 400, `params must be {"line": N, "action": "start"|"stop"|"store", ...}`
	}
	if !s.hasLine(req.Line) {
		return 404, fmt.Sprintf("no line %d", req.Line)
	}
	switch req.Action {
	case "start":
		return s.open(req.Line, flow.ModeCalibration, 2*time.Minute, "calibrate")
	case "stop":
		if err := s.agent.Stop(req.Line); err != nil {
			return 409, err.Error()
		}
		return 200, map[string]any{"line": req.Line, "stopped": true}
	case "store":
		return s.store(mqttActor(ctx, raw), req.Line, req.PourID, req.Measured, req.DryRun)
	}
	return 400, `action must be "start", "stop" or "store"`
}

func (s *service) store(by device.Actor, line int, pourID string, measured flow.Vol, dryRun bool) (int, any) {
	if measured <= 0 {
		return 400, "measured_ml10 (the vessel's volume in mL×10) must be > 0"
	}
	ev, ok := s.bookedPour(pourID)
	if !ok || ev.Line != line {
		return 409, fmt.Sprintf("no booked calibration pour %q on line %d (stop it and wait for its pour_booked event)", pourID, line)
	}
	old := s.kMilli(line)
	if old <= 0 {
		return 409, fmt.Sprintf("line %d has no K-factor to start from", line)
	}
	pulses := device.NetPulses(flow.Result{Pulses: ev.Pulses, Compensated: ev.Volume - ev.Charged, KMilli: old})
	if pulses < 100 {
		return 422, fmt.Sprintf("only %d pulses counted: pour more (at least 0.5 L) and check the meter wiring", pulses)
	}
	k := (pulses*10_000_000 + int64(measured)/2) / int64(measured)
	out := map[string]any{"line": line, "pulses": pulses, "k_factor": device.FormatK(k), "previous": device.FormatK(old),
		"deviation_permille": (k - old) * 1000 / old, "stored": false}
	if dryRun {
		return 200, out
	}
	c, err := s.agent.Calibrate(by, line, pulses, measured)
	if err != nil {
		return 409, err.Error()
	}
	out["k_factor"], out["stored"] = device.FormatK(c.KMilli), true
	return 200, out
}

func (s *service) kMilli(line int) int64 {
	for _, st := range s.agent.Status() {
		if st.Line == line {
			return st.KMilli
		}
	}
	return 0
}

func (s *service) hasLine(line int) bool {
	for _, id := range s.agent.Lines() {
		if id == line {
			return true
		}
	}
	return false
}

// serviceMethods adds the service-mode commands to a command table.
func serviceMethods(m map[string]diag.Handler, s *service) {
	m["valve.test"] = s.valveTest
	m["calibrate"] = s.calibrate
}
