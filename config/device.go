package config

import (
	"time"
)

// validate checks [device].
func (d Device) validate(bad badFunc) {
	if d.ID <= 0 {
		bad("device.device_id", "must be > 0")
	}
	if d.DataDir == "" {
		bad("device.data_dir", "must be set")
	}
	if d.Decimals < 0 || d.Decimals > 4 {
		bad("device.decimals", "must be 0..4")
	}
	if d.Tick.Duration < time.Millisecond || d.Tick.Duration > time.Second {
		bad("device.tick", "must be between 1ms and 1s")
	}
}
