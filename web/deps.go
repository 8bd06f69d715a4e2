package web

import (
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// Wall is the part of the agent the dashboard reads and acts on.
// *device.Agent satisfies it; the simulated wall wraps it so a keg change
// also connects a fresh simulated keg.
type Wall interface {
	Status() []device.LineStatus
	ChangeKeg(id int, kegID string, size flow.Vol) error
	Lock(id int) error
	Unlock(id int) error
	// Report puts an event (the audit record of a web action) into the
	// agent's event stream and its durable log.
	Report(device.Event)
}

// KegAdjuster sets a keg's level after a manual measurement. The actions
// a Wall also implements are offered on the dashboard; the others are not.
type KegAdjuster interface {
	AdjustKeg(id int, remaining flow.Vol) error
}

// LineEmptier marks a line's keg empty (the line stops until a keg change).
type LineEmptier interface {
	MarkEmpty(id int) error
}

// Cleaner starts and stops a line's cleaning mode.
type Cleaner interface {
	StartCleaning(id int) error
	StopCleaning(id int) error
}

// PourRow is one booked pour as the history shows it.
type PourRow struct {
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Line      int       `json:"line"`
	Product   string    `json:"product,omitempty"`
	Mode      string    `json:"mode"`
	Payment   string    `json:"payment"`
	Volume    flow.Vol  `json:"volume_ml10"`
	Amount    int64     `json:"amount"`
	Reason    string    `json:"reason,omitempty"`
	Recovered bool      `json:"recovered,omitempty"`
}

// PourQuery selects pours; zero fields select everything.
type PourQuery struct {
	From, To time.Time
	Line     int
	Product  string
	Payment  string
	// Limit bounds the answer; 0 is MaxRows.
	Limit int
}

// MaxRows bounds any one history answer, so a page or a CSV export never
// holds more than this in memory.
const MaxRows = 5000

// History answers pour queries, newest first.
type History interface {
	Pours(q PourQuery) ([]PourRow, error)
}

// Outbox is what /metrics reads of the upload queue.
type Outbox interface {
	OutboxLen() (int, error)
	Outbox(after uint64, n int) ([]storage.Record, error)
}

// Component is one part of the device's health.
type Component struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}
