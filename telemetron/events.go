package telemetron

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/storage"
)

// Event codes that are tapagent's own: EVA-DTS has no identifier for
// these conditions, so they carry the prefix ETA (E for an event, TA for
// tapagent), which the EVA-DTS identifiers the agent's report uses (EA1,
// EA2: EHM, ELA, ELB, ELE, EKA, EAU, OCF) do not. A line's number follows
// an underscore, as in the report's own ids.
const (
	CodeLostEdges    = "ETA_EDGES"
	CodeAlarm        = "ETA_ALARM"
	CodeValveStuck   = "ETA_VALVE"
	CodeStorageError = "ETA_STORAGE"
	CodeStorageMoved = "ETA_STORE_MOVED"
	CodeDeadLetter   = "ETA_DEAD_LETTER"
)

// maxCode is the longest code Telemetron's event codes take.
const maxCode = 16

// Payload is what an event's payload array holds: the agent's event log
// sequence (which makes a resend identical and two events distinct), the
// line, whether the condition is active (false: it cleared) and what the
// agent said of it.
type Payload struct {
	Seq    uint64 `json:"seq"`
	Type   string `json:"type"`
	Line   int    `json:"line,omitempty"`
	Active bool   `json:"active"`
	Kind   string `json:"kind,omitempty"`
	Detail string `json:"detail,omitempty"`
	Count  int64  `json:"count,omitempty"`
}

// withLine appends the line to a code ("ELA_3"), unless the code would be
// longer than Telemetron takes (the line is in the payload as well).
func withLine(code string, line int) string {
	if line <= 0 {
		return code
	}
	c := code + "_" + strconv.Itoa(line)
	if len(c) > maxCode {
		return code
	}
	return c
}

// EventCode is the code of an agent event and whether the condition is
// active; ok is false for an event Telemetron does not hear of. Alarms and
// keg levels use the EVA-DTS identifiers of the agent's audit report
// (evadts.EventID), so the events and the report's EA1/EA2 agree.
func EventCode(ev device.Event) (code string, active, ok bool) {
	switch ev.Type {
	case device.EventAlarm, device.EventAlarmCleared:
		if ev.Alarm == nil {
			return "", false, false
		}
		active = ev.Type == device.EventAlarm
		if id := evadts.EventID(ev.Alarm.Kind, ev.Line); id != "" {
			return id, active, true
		}
		if ev.Alarm.Kind == "lost_edges" {
			return withLine(CodeLostEdges, ev.Line), active, true
		}
		return withLine(CodeAlarm, ev.Line), active, true
	case device.EventKegLow, device.EventKegEmpty:
		return evadts.EventID(string(ev.Type), ev.Line), true, true
	case device.EventAgentStarted:
		return evadts.EventID("power_up", 0), true, true
	case device.EventReaderFault, device.EventMDBFault:
		return evadts.EventID(string(ev.Type), 0), true, true
	case device.EventValveCloseFailed:
		return withLine(CodeValveStuck, ev.Line), true, true
	case device.EventStorageError:
		return CodeStorageError, true, true
	case device.EventStorageCorruptMoved:
		return CodeStorageMoved, true, true
	case device.EventSinkDeadLetter:
		return CodeDeadLetter, true, true
	}
	return "", false, false
}

// EventDoc maps one agent event (seq: its place in the event log) to a
// Telemetron event; ok is false for an event Telemetron does not hear of.
func EventDoc(ev device.Event, seq uint64, zone *time.Location) (Event, bool) {
	code, active, ok := EventCode(ev)
	if !ok || code == "" || ev.Time.IsZero() {
		return Event{}, false
	}
	p := Payload{Seq: seq, Type: string(ev.Type), Line: ev.Line, Active: active, Detail: ev.Detail}
	if ev.Alarm != nil {
		p.Kind, p.Count = ev.Alarm.Kind, ev.Alarm.Count
		if ev.Alarm.Detail != "" {
			p.Detail = ev.Alarm.Detail
		}
	}
	raw, _ := json.Marshal([]Payload{p}) // plain fields: cannot fail
	return Event{Date: Stamp(ev.Time, zone), Code: code, Payload: raw}, true
}

// LoggedEventDoc maps an entry of the durable event log; ok is false for
// an event Telemetron does not hear of, or one that does not decode (it
// will never read differently, so it is skipped).
func LoggedEventDoc(e storage.LoggedEvent, zone *time.Location) (Event, bool) {
	var ev device.Event
	if json.Unmarshal(e.Raw, &ev) != nil {
		return Event{}, false
	}
	return EventDoc(ev, e.Seq, zone)
}
