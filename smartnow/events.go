package smartnow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
	CodeKegChanged       = "TA_KEG_CHANGED"
	CodeKegAdjusted      = "TA_KEG_ADJUSTED"
	CodeKegMarkedEmpty   = "TA_KEG_MARKED_EMPTY"
	CodeLineLocked       = "TA_LINE_LOCKED"
	CodeLineUnlocked     = "TA_LINE_UNLOCKED"
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
	"sink_dead_letter": {CodeDeadLetter, LogTypeAlarm},
	// keg and line operations: the operator's own record of the wall
	"keg_changed": {CodeKegChanged, LogTypeInfo}, "keg_adjusted": {CodeKegAdjusted, LogTypeInfo},
	"keg_marked_empty": {CodeKegMarkedEmpty, LogTypeInfo}, "line_locked": {CodeLineLocked, LogTypeInfo},
	"line_unlocked":           {CodeLineUnlocked, LogTypeInfo},
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
	// Keg is the keg after a keg operation (sizes in tenths of a mL).
	Keg *struct {
		ID        string `json:"id"`
		Size      int64  `json:"size_ml10"`
		Remaining int64  `json:"remaining_ml10"`
		PLU       int    `json:"plu"`
	} `json:"keg"`
	// By is who asked for a keg or line operation.
	By *struct {
		Name string `json:"name"`
		Role string `json:"role"`
		Via  string `json:"via"`
	} `json:"by"`
	Alarm *struct {
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
	addOperation(extra, ev)
	t := ev.Time
	if m.Zone != nil {
		t = t.In(m.Zone)
	}
	lg.OccurredAt, lg.TimeZone, lg.Timestamp = t.Format(time.RFC3339), m.zoneName(), t.Unix()
	if ev.Type == "alarm_cleared" {
		at := lg.OccurredAt
		lg.ResolvedAt = &at
	}
	lg.ExtraData = jsonText(extra)
	return lg, true
}

// jsonText is v as JSON text for extraData, with <, > and & left as they
// are (the text is read by people in SmartNow, not embedded in HTML).
func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // maps of strings and numbers always encode
	return strings.TrimSuffix(b.String(), "\n")
}

// addOperation adds a keg or line operation's keg and actor to a log's
// extraData: the keg id, size and level in mL (whole mL: the logs are for
// people), the PLU when the keg holds another product, and who did it.
func addOperation(extra map[string]any, ev loggedEvent) {
	if k := ev.Keg; k != nil {
		keg := map[string]any{"size_ml": k.Size / 10, "remaining_ml": k.Remaining / 10}
		if k.ID != "" {
			keg["id"] = k.ID
		}
		if k.PLU != 0 {
			keg["plu"] = k.PLU
		}
		extra["keg"] = keg
	}
	if b := ev.By; b != nil {
		by := map[string]any{"via": b.Via}
		if b.Name != "" {
			by["name"] = b.Name
		}
		if b.Role != "" {
			by["role"] = b.Role
		}
		extra["by"] = by
	}
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
