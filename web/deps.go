package web

import (
	"context"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// Wall is the part of the agent the dashboard reads and acts on.
// *device.Agent satisfies it; the simulated wall wraps it so a keg change
// also connects a fresh simulated keg. Each operation is audited by the
// agent with the actor it is given.
type Wall interface {
	Status() []device.LineStatus
	ChangeKeg(by device.Actor, c device.KegChange) error
	AdjustKeg(by device.Actor, line int, remaining flow.Vol) error
	MarkEmpty(by device.Actor, line int) error
	SetLocked(by device.Actor, line int, locked bool) error
	SetCleaning(by device.Actor, line int, on bool) error
}

// History answers the pour history (*history.Log).
type History interface {
	Find(ctx context.Context, q history.Query) ([]history.Entry, error)
	Totals(ctx context.Context, q history.Query, by string) ([]history.Total, error)
}

// Outbox is what /metrics reads of the upload queue.
type Outbox interface {
	OutboxLen() (int, error)
	Outbox(after uint64, n int) ([]storage.Record, error)
	// SinkStatuses is what waits for each sink (storage.Store.SinkStatuses).
	SinkStatuses() ([]storage.SinkStatus, error)
}

// Component is one part of the device's health.
type Component struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}
