package smartnow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// Log codes for the agent's alarms and service events (docs/clouds.md).
const (
	CodeLeak             = "TA_LEAK"
	CodeKegEmpty         = "TA_KEG_EMPTY"
	CodeKegLow           = "TA_KEG_LOW"
	CodeNoFlow           = "TA_NO_FLOW"
	CodeValveFault       = "TA_VALVE_FAULT"
	CodeLostEdges        = "TA_LOST_EDGES"
	CodeAlarm            = "TA_ALARM"
	CodeValveCloseFailed = "TA_VALVE_CLOSE_FAILED"
	CodeStorageError     = "TA_STORAGE_ERROR"
	CodeStorageMoved     = "TA_STORAGE_MOVED"
	CodeStarted          = "TA_STARTED"
	CodeDeadLetter       = "TA_DEAD_LETTER"
	CodeConfigApplied    = "TA_CONFIG_APPLIED"
	CodeCommand          = "TA_COMMAND"
	CodeState            = "TA_STATE"
)

// remoteEvents offsets the event-log sequence in a log's remote: SmartNow
// keeps one remote space per machine for logs, which the service records'
// device sequence (from 1) shares.
const remoteEvents = 1 << 41

// alarmCodes maps an alarm's kind (flow.Alarm.Kind) to its code.
var alarmCodes = map[string]string{"leak": CodeLeak, "keg_empty": CodeKegEmpty, "no_flow": CodeNoFlow,
	"valve_fault": CodeValveFault, "lost_edges": CodeLostEdges}

// eventCodes maps the other event types SmartNow hears of to code and type.
var eventCodes = map[string]struct {
	code string
	typ  int
}{
	"keg_low": {CodeKegLow, LogTypeInfo}, "keg_empty": {CodeKegEmpty, LogTypeAlarm},
	"valve_close_failed": {CodeValveCloseFailed, LogTypeAlarm}, "storage_error": {CodeStorageError, LogTypeAlarm},
	"storage_corrupt_moved": {CodeStorageMoved, LogTypeAlarm}, "agent_started": {CodeStarted, LogTypeInfo},
	"sink_dead_letter":        {CodeDeadLetter, LogTypeAlarm},
	"smartnow_config_applied": {CodeConfigApplied, LogTypeInfo}, "smartnow_command": {CodeCommand, LogTypeInfo},
	"machine_state": {CodeState, LogTypeInfo},
}

// structured are the event types whose detail is a JSON object: its keys
// become the log's extraData (what a configuration applied and ignored, a
// command's params and outcome, the machine's state).
var structured = map[string]bool{"smartnow_config_applied": true, "smartnow_command": true, "machine_state": true}

// loggedEvent is what a SmartNow log needs of an agent event (device.Event
// as the event log stores it).
type loggedEvent struct {
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`
	Line   int       `json:"line"`
	PourID string    `json:"pour_id"`
	Detail string    `json:"detail"`
	Alarm  *struct {
		Kind   string `json:"kind"`
		Active bool   `json:"active"`
		Detail string `json:"detail"`
		Count  int64  `json:"count"`
	} `json:"alarm"`
}

// EventLog converts one event-log entry; ok is false for an event SmartNow
// does not hear of, or one that does not decode (it is skipped, not
// retried: the log entry will never read differently).
func EventLog(e storage.LoggedEvent, m Machine) (Log, bool) {
	var ev loggedEvent
	if json.Unmarshal(e.Raw, &ev) != nil || ev.Time.IsZero() {
		return Log{}, false
	}
	lg := Log{Hostname: m.Hostname, Machine: m.ID, Remote: remoteEvents + e.Seq}
	extra := map[string]any{"type": ev.Type}
	switch {
	case (ev.Type == "alarm" || ev.Type == "alarm_cleared") && ev.Alarm != nil:
		lg.Code, lg.Type, lg.IsResolvable = CodeAlarm, LogTypeAlarm, true
		if c, ok := alarmCodes[ev.Alarm.Kind]; ok {
			lg.Code = c
		}
		extra["kind"], extra["detail"], extra["count"] = ev.Alarm.Kind, ev.Alarm.Detail, ev.Alarm.Count
	default:
		c, ok := eventCodes[ev.Type]
		if !ok {
			return Log{}, false
		}
		lg.Code, lg.Type = c.code, c.typ
		var fields map[string]any
		switch {
		case structured[ev.Type] && json.Unmarshal([]byte(ev.Detail), &fields) == nil:
			for k, v := range fields {
				extra[k] = v
			}
		case ev.Detail != "":
			extra["detail"] = ev.Detail
		}
	}
	if ev.Line > 0 {
		extra["line"] = ev.Line
	}
	if ev.PourID != "" {
		extra["pour_id"] = ev.PourID
	}
	t := ev.Time
	if m.Zone != nil {
		t = t.In(m.Zone)
	}
	lg.OccurredAt, lg.TimeZone, lg.Timestamp = t.Format(time.RFC3339), m.zoneName(), t.Unix()
	if ev.Type == "alarm_cleared" {
		at := lg.OccurredAt
		lg.ResolvedAt = &at
	}
	b, _ := json.Marshal(extra)
	lg.ExtraData = string(b)
	return lg, true
}

// DeliverEvents sends the alarms and service events among evs as logs.
func (s *Sink) DeliverEvents(ctx context.Context, evs []storage.LoggedEvent) (uint64, error) {
	var upTo uint64
	for _, e := range evs {
		if lg, ok := EventLog(e, s.machine); ok {
			refused, err := s.post(ctx, s.c.cfg.Paths.Log, lg)
			if err != nil {
				return upTo, fmt.Errorf("event %d: %w", e.Seq, err)
			}
			if refused != "" {
				s.c.cfg.Log.Warn("smartnow refused an event log; it is not sent again", "event", e.Seq, "code", lg.Code, "reason", refused)
			}
		}
		upTo = e.Seq
	}
	return upTo, nil
}
