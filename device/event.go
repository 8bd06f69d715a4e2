package device

import (
	"time"

	"github.com/tapagent/tapagent/flow"
)

// Event types.
const (
	EvStarted         = "agent_started"
	EvStopped         = "agent_stopped"
	EvStorageMoved    = "storage_corrupt_moved"
	EvStorageError    = "storage_error"
	EvRecovered       = "pour_recovered"
	EvAuthorised      = "pour_authorised"
	EvRefused         = "pour_refused"
	EvPourStarted     = "pour_started"
	EvValveClosed     = "valve_closed"
	EvCheckpoint      = "pour_checkpoint"
	EvBooked          = "pour_booked"
	EvUnattributed    = "unattributed_booked"
	EvAlarm           = "alarm"
	EvAlarmCleared    = "alarm_cleared"
	EvKegLow          = "keg_low"
	EvKegEmpty        = "keg_empty"
	EvKegChanged      = "keg_changed"
	EvKegAdjusted     = "keg_adjusted"
	EvKegMarkedEmpty  = "keg_marked_empty"
	EvCleaningStarted = "cleaning_started"
	EvCleaningStopped = "cleaning_stopped"
	// EvLocalAPI is the local API listening on its unix socket (Detail: the path).
	EvLocalAPI       = "local_api_listening"
	EvLineLocked     = "line_locked"
	EvLineUnlocked   = "line_unlocked"
	EvCalibrated     = "line_calibrated"
	EvValveFailedOff = "valve_close_failed"
	EvDraining       = "draining"
	EvUndrained      = "draining_ended"
)

// Event types the assembly (package agent) reports as the daemon's parts
// come up.
const (
	// EventMQTTRefused: the configuration keeps the MQTT link off; Detail
	// says why. The wall pours on.
	EventMQTTRefused = "mqtt_refused"
	// EventPOSReconciled: waiter reservations left from before a restart
	// were given back to the cash register; Detail counts them.
	EventPOSReconciled = "pos_reconciled"
	// EventPOSListening: the cash-register interface listens; Detail is its URL.
	EventPOSListening = "pos_listening"
	// EventControlListening: the client-control API listens; Detail is its URL.
	EventControlListening = "control_listening"
	// EventReaderReady: the card reader answered; Detail names its
	// firmware and the lines it serves.
	EventReaderReady = "reader_ready"
)

// Event is something that happened, for the terminal, scripts, the event
// log and (later) the uplinks. Volumes are mL×10, money minor units.
type Event struct {
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`
	Line   int       `json:"line,omitempty"`
	PourID string    `json:"pour_id,omitempty"`
	// Card is a salted hash of a card UID, never the UID itself.
	Card      string      `json:"card,omitempty"`
	Mode      string      `json:"mode,omitempty"`
	Reason    string      `json:"reason,omitempty"`
	Kind      string      `json:"kind,omitempty"`
	Volume    flow.Vol    `json:"volume_ml10,omitempty"`
	Charged   flow.Vol    `json:"charged_ml10,omitempty"`
	Amount    int64       `json:"amount,omitempty"`
	Pulses    int64       `json:"pulses,omitempty"`
	Seq       uint64      `json:"seq,omitempty"`
	Recovered bool        `json:"recovered,omitempty"`
	Keg       *flow.Keg   `json:"keg,omitempty"`
	Alarm     *flow.Alarm `json:"alarm,omitempty"`
	// By is who asked for an operation (keg change, lock, cleaning...).
	By     *Actor `json:"by,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// EventWebListening says the web dashboard listens ([web] listen); Detail
// is its URL.
const EventWebListening = "web_listening"
