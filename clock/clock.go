// Package clock gives every package one injectable source of time.
//
// Two readings matter on a controller: wall time for records (which may jump
// when NTP syncs) and a monotonic reading that orders edges and timers. GPIO
// edge timestamps from the kernel are CLOCK_MONOTONIC, so the system clock
// reads the same clock for Mono and timers can be compared with edges.
package clock

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the time source the agent reads.
type Clock interface {
	// Now is wall-clock time, used for records.
	Now() time.Time
	// Mono is a monotonic reading on the same base as edge timestamps.
	Mono() time.Duration
}

// System reads the operating system clocks.
type System struct{}

// Now returns the wall-clock time.
func (System) Now() time.Time { return time.Now() }

// Mono returns CLOCK_MONOTONIC, the base the kernel uses for GPIO edge events.
func (System) Mono() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		// CLOCK_MONOTONIC cannot fail on Linux; fall back to Go's clock anyway.
		return time.Duration(time.Now().UnixNano())
	}
	return time.Duration(ts.Nano())
}

// Manual is a virtual clock that only moves when told to. The simulator and
// tests drive it so that minutes of pouring run in milliseconds.
type Manual struct {
	mu    sync.Mutex
	wall0 time.Time
	mono  time.Duration
}

// NewManual returns a virtual clock whose wall time starts at wall0 and whose
// monotonic reading starts at one second (zero is reserved for "never").
func NewManual(wall0 time.Time) *Manual {
	return &Manual{wall0: wall0, mono: time.Second}
}

// Now returns the virtual wall time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wall0.Add(m.mono - time.Second)
}

// Mono returns the virtual monotonic reading.
func (m *Manual) Mono() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mono
}

// Set moves the clock to mono; it never goes backwards.
func (m *Manual) Set(mono time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mono > m.mono {
		m.mono = mono
	}
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d > 0 {
		m.mono += d
	}
}
