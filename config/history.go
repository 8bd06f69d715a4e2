package config

import "time"

// History bounds what the agent keeps on its own disk: the history of
// booked pours, card actions, keg changes, cleanings and alarms, the dead
// letters, and the cash register's settled credits. The agent prunes at
// start and every PruneInterval, oldest first, in small commits.
type History struct {
	// RetentionDays keeps history entries this many days (0: no age bound).
	RetentionDays int `toml:"retention_days"`
	// MaxBytes bounds the history's keys and values (0: no size bound);
	// the oldest go first when it is exceeded.
	MaxBytes int64 `toml:"max_bytes"`
	// DeadLetterDays keeps records the server refused for good this long.
	DeadLetterDays int `toml:"dead_letter_days"`
	// MaxDeadLetters keeps at most this many of them, the newest.
	MaxDeadLetters int `toml:"max_dead_letters"`
	// POSDays keeps the cash register's used-up credits and the
	// tombstones of deleted credits and collected debits this long.
	POSDays int `toml:"pos_days"`
	// PruneInterval is how often the agent prunes.
	PruneInterval Duration `toml:"prune_interval"`
}

// defaultHistory suits a Raspberry Pi's SD card: 90 days, at most 64 MiB
// of history (a busy four-line wall books about 6,000 pours a day), and
// the dead letters of 90 days, at most 1,000.
func defaultHistory() History {
	return History{RetentionDays: 90, MaxBytes: 64 << 20, DeadLetterDays: 90, MaxDeadLetters: 1000, POSDays: 30,
		PruneInterval: dur(time.Hour)}
}

// Retention is RetentionDays as a duration (0: none).
func (h History) Retention() time.Duration { return days(h.RetentionDays) }

// DeadLetterRetention is DeadLetterDays as a duration.
func (h History) DeadLetterRetention() time.Duration { return days(h.DeadLetterDays) }

// POSRetention is POSDays as a duration.
func (h History) POSRetention() time.Duration { return days(h.POSDays) }

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// maxRetentionDays bounds every day count: ten years, far past any SD
// card's life, and far from overflowing a duration.
const maxRetentionDays = 3650

func (h History) validate(bad badFunc) {
	for _, d := range []struct {
		key string
		v   int
		min int
	}{{"history.retention_days", h.RetentionDays, 0}, {"history.dead_letter_days", h.DeadLetterDays, 1}, {"history.pos_days", h.POSDays, 1}} {
		if d.v < d.min || d.v > maxRetentionDays {
			bad(d.key, "must be %d..%d", d.min, maxRetentionDays)
		}
	}
	switch {
	case h.MaxBytes < 0:
		bad("history.max_bytes", "must not be negative")
	case h.MaxBytes > 0 && h.MaxBytes < 1<<20:
		bad("history.max_bytes", "must be at least 1048576 (1 MiB), or 0 for no size bound")
	case h.MaxBytes == 0 && h.RetentionDays == 0:
		bad("history.max_bytes", "retention_days and max_bytes are both 0: the history would grow without bound")
	}
	if h.MaxDeadLetters < 1 || h.MaxDeadLetters > 100_000 {
		bad("history.max_dead_letters", "must be 1..100000")
	}
	if p := h.PruneInterval.Duration; p < time.Minute || p > 24*time.Hour {
		bad("history.prune_interval", "must be between 1m and 24h")
	}
}
