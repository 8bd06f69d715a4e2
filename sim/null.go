package sim

import "github.com/tapagent/tapagent/board"

// NullMeter is a meter that never pulses, for benches that feed edges to
// the agent directly.
type NullMeter struct{}

// Start accepts the handler and never calls it.
func (NullMeter) Start(func(board.Edge)) error { return nil }

// Close does nothing.
func (NullMeter) Close() error { return nil }

// NullValve is a valve with no mechanics, for benches that only count calls.
type NullValve struct{}

// Open does nothing.
func (NullValve) Open() error { return nil }

// Close does nothing.
func (NullValve) Close() error { return nil }
