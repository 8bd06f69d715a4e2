package clock

import (
	"errors"
	"time"
)

// Duration is a non-negative time.Duration written as text ("250ms", "3s")
// in configuration, profile and scenario files.
type Duration struct{ time.Duration }

// D wraps a time.Duration.
func D(d time.Duration) Duration { return Duration{d} }

// UnmarshalText parses a Go duration string and rejects negative values.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return errors.New("must not be negative")
	}
	d.Duration = v
	return nil
}

// MarshalText prints the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
