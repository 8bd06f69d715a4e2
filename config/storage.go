package config

import (
	"time"
)

// validate checks [storage].
func (s Storage) validate(bad badFunc) {
	if s.CheckpointInterval.Duration <= 0 || s.CheckpointInterval.Duration > 250*time.Millisecond {
		bad("storage.checkpoint_interval", "must be > 0 and at most 250ms")
	}
}
