// Package board defines the hardware the agent drives (meters, valves) and
// its Linux implementation on the GPIO character device, plus board
// profiles that map tap lines to pins.
//
// The simulator in package sim implements the same interfaces, so the
// agent cannot tell a bench from a bar.
package board

import "time"

// Edge is one counted flow-meter edge as the kernel reported it.
type Edge struct {
	// Line is the tap line the meter belongs to (1-based).
	Line int
	// Time is the kernel's CLOCK_MONOTONIC timestamp of the edge.
	Time time.Duration
	// Seq is the per-line sequence number from the kernel (uAPI v2); a gap
	// means edges were discarded because the event buffer overflowed.
	// Zero means the source has no sequence numbers.
	Seq uint32
}

// PulseSource delivers a meter's edges.
type PulseSource interface {
	// Start begins delivery; h is called serially, must be short and must
	// not call Close.
	Start(h func(Edge)) error
	// Close stops delivery and releases the hardware.
	Close() error
}

// Valve is a line's solenoid valve. Close must be safe to call at any time,
// repeatedly, from any goroutine: it is the fail-safe path.
type Valve interface {
	Open() error
	Close() error
}
