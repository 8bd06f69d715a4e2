package device

import (
	"strings"
	"time"

	"github.com/tapagent/tapagent/flow"
)

// EventType names what happened. Every type is one constant below, with
// the Event fields it fills and what it means; docs/events.md lists the
// same types in a table (TestEventTypesDocumented keeps the two equal).
type EventType string

// Event types. Volumes are tenths of mL (volume_ml10, charged_ml10), money
// is in minor units (amount), card is a keyed hash of the card UID.
const (
	// The agent.

	// EventAgentStarted: the agent started: storage open, lines restored,
	// pours recovered. Fields: detail (boot count, lines).
	EventAgentStarted EventType = "agent_started"
	// EventAgentStopped: the agent stopped: every valve closed and storage
	// flushed. Fields: none.
	EventAgentStopped EventType = "agent_stopped"
	// EventDraining: the wall refuses new pours (a firmware update or a stop
	// waits for the running ones). Fields: detail (why).
	EventDraining EventType = "draining"
	// EventDrainingEnded: the wall takes new pours again after draining.
	// Fields: none.
	EventDrainingEnded EventType = "draining_ended"
	// EventRestartRequested: a restart was asked for by the client-control
	// API. Fields: none.
	EventRestartRequested EventType = "restart_requested"
	// EventRestartRefused: a client-control restart was refused: at most one
	// per interval (detail says when the next may come). Fields: detail.
	EventRestartRefused EventType = "restart_refused"
	// EventBacklight: the client-control API set the display backlight.
	// Fields: detail (brightness in %).
	EventBacklight EventType = "backlight"
	// EventStorageCorruptMoved: the bbolt file was corrupt and was moved
	// aside; a fresh one was started with what could be salvaged. Fields:
	// detail (where the old file went, what was salvaged).
	EventStorageCorruptMoved EventType = "storage_corrupt_moved"
	// EventStorageError: a write to bbolt failed; the detail says what is
	// retried. Fields: line, pour_id, detail.
	EventStorageError EventType = "storage_error"

	// Pours.

	// EventPourAuthorised: a line was authorised for a pour; mode is the
	// authorisation mode (free, portion, prepaid, card, …). Fields: line,
	// pour_id, mode.
	EventPourAuthorised EventType = "pour_authorised"
	// EventPourRefused: an authorisation was refused; the detail says why.
	// Fields: line, mode, detail.
	EventPourRefused EventType = "pour_refused"
	// EventPourStarted: the first pulse of an authorised pour arrived. Fields:
	// line, pour_id.
	EventPourStarted EventType = "pour_started"
	// EventPourCheckpoint: a running pour's durable checkpoint (volumes in
	// tenths of mL, amount in minor units). Not sent over MQTT. Fields: line,
	// pour_id, volume_ml10, charged_ml10, amount.
	EventPourCheckpoint EventType = "pour_checkpoint"
	// EventValveClosed: the valve of a pour closed; reason is why (limit,
	// handle released, timeout, no flow, …). Fields: line, pour_id,
	// volume_ml10, reason.
	EventValveClosed EventType = "valve_closed"
	// EventPourBooked: a pour's record was committed to bbolt and queued for
	// the server (seq is its outbox sequence). Fields: line, pour_id, kind,
	// mode, reason, volume_ml10, charged_ml10, amount, pulses, seq, keg.
	EventPourBooked EventType = "pour_booked"
	// EventUnattributedBooked: flow with no authorised pour (a leak or a
	// forced valve) was booked as an unattributed record. Fields: line,
	// pour_id, kind, volume_ml10, pulses, seq, keg.
	EventUnattributedBooked EventType = "unattributed_booked"
	// EventPourRecovered: a pour interrupted by a restart was recovered from
	// its last checkpoint and booked. Fields: line, pour_id, volume_ml10,
	// amount, reason.
	EventPourRecovered EventType = "pour_recovered"
	// EventValveCloseFailed: a valve did not confirm closing; the line stays
	// locked until staff look at it. Fields: line, detail.
	EventValveCloseFailed EventType = "valve_close_failed"
	// EventLineLocked: a line was locked: it takes no authorisation. Fields:
	// line.
	EventLineLocked EventType = "line_locked"
	// EventLineUnlocked: a locked line takes authorisations again. Fields:
	// line.
	EventLineUnlocked EventType = "line_unlocked"
	// EventLineClosed: a line is outside its opening hours (SmartNow's):
	// it takes no new pour until it opens; the operator lock is separate.
	// Fields: line, detail (why).
	EventLineClosed EventType = "line_closed"
	// EventLineOpened: a line closed by its opening hours opens again (an
	// operator lock stays). Fields: line.
	EventLineOpened EventType = "line_opened"
	// EventLineCalibrated: a line's meter factor was set from a calibration
	// pour (pulses counted for the measured volume). Fields: line, pulses,
	// volume_ml10.
	EventLineCalibrated EventType = "line_calibrated"

	// Kegs and alarms.

	// EventKegLow: a keg fell below its low-level threshold. Fields: line,
	// keg.
	EventKegLow EventType = "keg_low"
	// EventKegEmpty: a keg ran empty (the meter saw the kick); the line is
	// locked until the keg is changed. Fields: line, keg, detail.
	EventKegEmpty EventType = "keg_empty"
	// EventKegChanged: a new keg was connected to a line. Fields: line, keg.
	EventKegChanged EventType = "keg_changed"
	// EventAlarm: a line alarm became active (alarm.kind: no_flow, leak,
	// keg_empty, …). Fields: line, alarm, detail.
	EventAlarm EventType = "alarm"
	// EventAlarmCleared: a line alarm cleared. Fields: line, alarm, detail.
	EventAlarmCleared EventType = "alarm_cleared"

	// Card payments at the tap.

	// EventCardRead: a DESFire card was read at a tap reader (detail: card
	// type and read time). Fields: card, detail.
	EventCardRead EventType = "card_read"
	// EventCardRefused: a card may not pour; the detail says why (no credit,
	// expired, blocked, under age, …). Fields: line, pour_id, card, detail.
	EventCardRefused EventType = "card_refused"
	// EventCardCharged: the price of a pour was debited from the card (amount
	// in minor units). Fields: card, pour_id, amount.
	EventCardCharged EventType = "card_charged"
	// EventCardUnpaid: the card left before the debit was committed; the
	// amount is collected at its next tap. Fields: card, pour_id, amount,
	// detail.
	EventCardUnpaid EventType = "card_unpaid"
	// EventCardChargeUnknown: the debit was sent but its answer lost; settled
	// at the card's next tap. Fields: card, pour_id, amount, detail.
	EventCardChargeUnknown EventType = "card_charge_unknown"
	// EventCardChargeSettled: an owed or unknown debit was settled at a later
	// tap. Fields: card, pour_id, amount, detail.
	EventCardChargeSettled EventType = "card_charge_settled"
	// EventCardChargeAmbiguous: a lost debit could not be decided from the
	// card's counters; staff decide. Fields: card, pour_id, amount.
	EventCardChargeAmbiguous EventType = "card_charge_ambiguous"
	// EventCardChargeAssumed: a lost debit on a first-layout card counts as
	// charged; its counters cannot prove it. Fields: card, pour_id, amount.
	EventCardChargeAssumed EventType = "card_charge_assumed"
	// EventCardChargeStaffSettled: staff decided an ambiguous debit (paid,
	// unpaid or collect); audited. Fields: pour_id, amount, detail.
	EventCardChargeStaffSettled EventType = "card_charge_staff_settled"
	// EventCardRemoved: the card was taken away while pouring; the pour was
	// stopped. Fields: card, detail.
	EventCardRemoved EventType = "card_removed"
	// EventServiceMode: a cleaning or manager card switched service mode on or
	// off. Fields: card, detail.
	EventServiceMode EventType = "service_mode"
	// EventReaderFault: the card reader stopped answering or failed. Fields:
	// detail.
	EventReaderFault EventType = "reader_fault"
	// EventCardLogin: an online card was looked up at the server for a pour.
	// Fields: line, card, detail.
	EventCardLogin EventType = "card_login"
	// EventCardPurchaseBooked: a charger's card action (credit, erase, …) was
	// booked for upload. Fields: pour_id, seq, detail.
	EventCardPurchaseBooked EventType = "card_purchase_booked"
	// EventWaiterRefused: a waiter tap had no credit to pour. Fields: line,
	// detail.
	EventWaiterRefused EventType = "waiter_refused"
	// EventRemoteLogin: a client-control remote login authorised a line.
	// Fields: line, detail.
	EventRemoteLogin EventType = "remote_login"
	// EventAccountReady: a TouchTopUp account may pour: the customer's
	// name (or account) in detail, what it may spend now in amount (the
	// balance less its open pours and uncollected debits, or the offline
	// allowance left). Fields: line, card, amount, detail.
	EventAccountReady EventType = "account_ready"
	// EventAccountRefused: a TouchTopUp account may not pour; detail says
	// why (TouchTopUp's msg, balance below the line's minimum, unknown
	// account, TouchTopUp unreachable). Fields: line, card, amount, detail.
	EventAccountRefused EventType = "account_refused"

	// MDB card terminal.

	// EventMDBReady: the MDB cashless terminal answered setup (level,
	// currency, scale, decimals). Fields: detail.
	EventMDBReady EventType = "mdb_ready"
	// EventMDBFault: an MDB exchange failed. Fields: detail.
	EventMDBFault EventType = "mdb_fault"
	// EventMDBOffline: the terminal's serial port was lost; it is reopened
	// with backoff and mdb_ready follows. Fields: detail.
	EventMDBOffline EventType = "mdb_offline"
	// EventMDBWarning: something odd but harmless on the MDB link (a repeated
	// approval, a reset during a pour). Fields: line, detail.
	EventMDBWarning EventType = "mdb_warning"
	// EventMDBSession: a session began at the terminal (detail: funds).
	// Fields: detail.
	EventMDBSession EventType = "mdb_session"
	// EventMDBSessionEnd: the terminal's session ended. Fields: none.
	EventMDBSessionEnd EventType = "mdb_session_end"
	// EventMDBRefused: the wall cannot pour for a vend request; nothing was
	// asked of the card. Fields: line, detail.
	EventMDBRefused EventType = "mdb_refused"
	// EventMDBVendApproved: the terminal approved a vend (amount in minor
	// units). Fields: line, pour_id, amount.
	EventMDBVendApproved EventType = "mdb_vend_approved"
	// EventMDBVendDenied: the terminal denied a vend. Fields: line, amount,
	// detail.
	EventMDBVendDenied EventType = "mdb_vend_denied"
	// EventMDBVendSuccess: a vend's pour ended and was reported to the
	// terminal. Fields: line, pour_id, volume_ml10, amount, detail.
	EventMDBVendSuccess EventType = "mdb_vend_success"
	// EventMDBVendRefunded: a short pour's unpoured part was refunded through
	// the terminal. Fields: line, pour_id, volume_ml10, amount, detail.
	EventMDBVendRefunded EventType = "mdb_vend_refunded"
	// EventMDBRefundFailed: the terminal kept the money of a short pour.
	// Fields: line, pour_id, amount.
	EventMDBRefundFailed EventType = "mdb_refund_failed"
	// EventMDBVendUnknown: the agent stopped while asking the terminal; the
	// terminal's journal decides. Fields: line, pour_id, volume_ml10, amount,
	// detail.
	EventMDBVendUnknown EventType = "mdb_vend_unknown"
	// EventMDBVendReconciled: an unknown vend was decided from the terminal's
	// journal. Fields: line, pour_id, volume_ml10, amount.
	EventMDBVendReconciled EventType = "mdb_vend_reconciled"
	// EventMDBCashSale: the terminal reported a cash sale. Fields: line,
	// pour_id, amount.
	EventMDBCashSale EventType = "mdb_cash_sale"
	// EventMDBCashSalesDropped: cash-sale reports queued for the terminal
	// were dropped at the queue's bound (MDB 4.2 §7.4.10: a report only
	// informs the reader; the sales themselves are booked). Fields: amount
	// (how many), detail.
	EventMDBCashSalesDropped EventType = "mdb_cash_sales_dropped"
	// EventMDBDisplay: the terminal asked to show text. Fields: detail.
	EventMDBDisplay EventType = "mdb_display"
	// EventMDBMalfunction: the terminal reported a malfunction (error code in
	// detail). Fields: detail.
	EventMDBMalfunction EventType = "mdb_malfunction"
	// EventPaymentBooked: money a payment terminal kept without a pour to go
	// with it was booked. Fields: line, pour_id, kind, amount, seq.
	EventPaymentBooked EventType = "payment_booked"

	// EXE vending machine.

	// EventEXEReady: the EXE machine answers. Fields: detail.
	EventEXEReady EventType = "exe_ready"
	// EventEXEFault: the machine stopped answering (reported once until it
	// answers again). Fields: detail.
	EventEXEFault EventType = "exe_fault"
	// EventEXEVend: the machine sold an item (amount in minor units). Fields:
	// amount, detail.
	EventEXEVend EventType = "exe_vend"
	// EventEXEVendFailed: a vend failed after payment; VEND FAILURE went to
	// the terminal. Fields: amount, detail.
	EventEXEVendFailed EventType = "exe_vend_failed"
	// EventEXEVendRefused: a selection was refused before payment. Fields:
	// detail.
	EventEXEVendRefused EventType = "exe_vend_refused"
	// EventEXEFreeVend: the machine is set to free vend. Fields: detail.
	EventEXEFreeVend EventType = "exe_free_vend"
	// EventVendBooked: an item a vending machine sold for a terminal's payment
	// was booked. Fields: pour_id, kind, amount, seq, detail.
	EventVendBooked EventType = "vend_booked"

	// TTG server sync.

	// EventTTGLinkUp: the TTG server answers again. Fields: detail (server
	// URL).
	EventTTGLinkUp EventType = "ttg_link_up"
	// EventTTGLinkDown: the TTG server link broke. Fields: detail.
	EventTTGLinkDown EventType = "ttg_link_down"
	// EventTTGConfig: the server's configuration (products, items, happy
	// hours) was refreshed. Fields: detail.
	EventTTGConfig EventType = "ttg_config"
	// EventTTGDelivered: records reached the server (detail: inserted and
	// duplicates). Fields: pour_id, detail.
	EventTTGDelivered EventType = "ttg_delivered"
	// EventTTGDeadLetter: the server refused a record for good; it is kept as
	// a dead letter. Fields: pour_id, detail.
	EventTTGDeadLetter EventType = "ttg_dead_letter"

	// Firmware.

	// EventFirmwareProgress: a step of a firmware update (fetching, verified,
	// draining, flushing, installing). Fields: detail.
	EventFirmwareProgress EventType = "firmware_progress"
	// EventFirmwareInstalled: a firmware update was installed; the agent
	// restarts into it. Fields: detail.
	EventFirmwareInstalled EventType = "firmware_installed"
	// EventFirmwareFailed: a firmware update failed; the detail says why.
	// Fields: detail.
	EventFirmwareFailed EventType = "firmware_failed"

	// The daemon's parts (tapagent run and tapagent sim alike, as they come up).

	// EventMQTTRefused: the configuration keeps the MQTT link off; the detail
	// says why. The wall pours on. Fields: detail.
	EventMQTTRefused EventType = "mqtt_refused"
	// EventPOSReconciled: waiter reservations left from before a restart were
	// given back to the cash register. Fields: detail (how many).
	EventPOSReconciled EventType = "pos_reconciled"
	// EventPOSListening: the cash-register interface listens. Fields: detail
	// (URL).
	EventPOSListening EventType = "pos_listening"
	// EventControlListening: the client-control API listens. Fields: detail
	// (URL).
	EventControlListening EventType = "control_listening"
	// EventReaderReady: the card reader answered; the detail names its
	// firmware and the lines it serves. Fields: detail.
	EventReaderReady EventType = "reader_ready"

	// Simulator.

	// EventScenarioError: tapagent sim: a scenario step failed. Fields: line,
	// detail.
	EventScenarioError EventType = "scenario_error"

	// Cloud sinks.

	// EventSinkDelivered: records reached a cloud sink. Fields: detail (the
	// sink's name and how many).
	EventSinkDelivered EventType = "sink_delivered"
	// EventSinkDeadLetter: a cloud sink refused a record for good; it is kept
	// among that sink's dead letters (`tapagent outbox`). Fields: seq, detail.
	EventSinkDeadLetter EventType = "sink_dead_letter"
	// EventSinkDown: a cloud sink's delivery failed; its records wait in the
	// outbox meanwhile. Fields: detail (sink and error).
	EventSinkDown EventType = "sink_down"
	// EventSinkUp: a cloud sink that was down delivers again. Fields: detail.
	EventSinkUp EventType = "sink_up"

	// SmartNow machine configuration and commands.

	// EventSmartNowConfigApplied: a SmartNow machine configuration,
	// assortment or opening hours were applied. Fields: detail (a JSON
	// object: applied, ignored; SmartNow's TA_CONFIG_APPLIED extraData).
	EventSmartNowConfigApplied EventType = "smartnow_config_applied"
	// EventSmartNowConfigIgnored: keys of the SmartNow machine
	// configuration that map to no tapagent setting were ignored. Fields:
	// detail (the keys).
	EventSmartNowConfigIgnored EventType = "smartnow_config_ignored"
	// EventPriceKept: a line's PLU is not in the SmartNow assortment (or
	// none has been fetched yet), so the line keeps its configured price.
	// Fields: line, detail (the PLU, why).
	EventPriceKept EventType = "price_kept"
	// EventSmartNowCommand: a SmartNow command was run (or refused) and its
	// outcome reported. Fields: detail (a JSON object: id, command, params,
	// success, outcome; SmartNow's TA_COMMAND extraData).
	EventSmartNowCommand EventType = "smartnow_command"
	// EventMachineState: the machine's state as the SmartNow command
	// report sends it. Fields: detail (a JSON object: lines with their
	// state, product, lock, closing, keg level; SmartNow's TA_STATE).
	EventMachineState EventType = "machine_state"
	// SmartNow vouchers (agent/voucherpay).

	// EventVoucherAccepted: a scanned voucher pays for a portion: it pours at
	// once (fully covered) or arms the line for the remainder at its MDB
	// terminal. Fields: line, pour_id (when it pours at once), amount (what
	// is left to pay), kind (discount or gift), detail (the code masked but
	// its last 4, the offer, how it came in).
	EventVoucherAccepted EventType = "voucher_accepted"
	// EventVoucherRefused: a voucher cannot pay here, or a scan was
	// unreadable. Fields: line, reason (why: unknown, expired, limit
	// reached, not valid for this product, locked to another device, no
	// value left, SmartNow unreachable, …), detail (the masked code).
	EventVoucherRefused EventType = "voucher_refused"
	// EventVoucherExpired: a line armed by a voucher was not paid for within
	// voucher_hold; the voucher stays unredeemed. Fields: line, detail.
	EventVoucherExpired EventType = "voucher_expired"
	// EventScannerFault: the voucher scanner's port failed or vanished; it
	// is reopened with backoff. Fields: detail.
	EventScannerFault EventType = "scanner_fault"

	// Retention.

	// EventPruned: retention deleted old entries from a store of the
	// database (docs/operations.md). Fields: kind (the store), amount (how
	// many), detail (the rule).
	EventPruned EventType = "retention_pruned"

	// Keg and line operations (staff, from the CLI, MQTT, the dashboard or a
	// staff card; by names who).

	// EventKegAdjusted: a keg's level was set after a manual measurement.
	// Fields: line, keg, by, detail (before and after).
	EventKegAdjusted EventType = "keg_adjusted"
	// EventKegMarkedEmpty: staff marked a line's keg empty; the line pours
	// again after a keg change. Fields: line, keg, by.
	EventKegMarkedEmpty EventType = "keg_marked_empty"
	// EventCleaningStarted: a line's cleaning mode started (a cleaning pour,
	// not sold). Fields: line, pour_id, by.
	EventCleaningStarted EventType = "cleaning_started"
	// EventCleaningStopped: a line's cleaning mode ended. Fields: line, by.
	EventCleaningStopped EventType = "cleaning_stopped"
	// EventLocalAPI: the local API listens on its unix socket. Fields: detail
	// (the socket's path).
	EventLocalAPI EventType = "local_api_listening"
	// EventWebListening: the web dashboard listens ([web] listen). Fields:
	// detail (its URL).
	EventWebListening EventType = "web_listening"
	// EventTelemetronAPIListening: the machine's own Telemetron API
	// listens ([telemetron] listen). Fields: detail (its URL).
	EventTelemetronAPIListening EventType = "telemetron_api_listening"
)

// Words is the type as words, for the readable event line.
func (t EventType) Words() string { return strings.ReplaceAll(string(t), "_", " ") }

// Event is something that happened, for the terminal, scripts, the event
// log and (later) the uplinks. Volumes are mL×10, money minor units.
type Event struct {
	Time   time.Time `json:"time"`
	Type   EventType `json:"type"`
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
