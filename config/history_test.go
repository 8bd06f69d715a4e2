package config

import (
	"strings"
	"testing"
	"time"
)

func TestHistoryDefaultsAndBounds(t *testing.T) {
	c, err := Parse([]byte("[[line]]\nid = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h := c.History; h.Retention() != 90*24*time.Hour || h.MaxBytes != 64<<20 || h.MaxDeadLetters != 1000 ||
		h.DeadLetterRetention() != 90*24*time.Hour || h.POSRetention() != 30*24*time.Hour || h.PruneInterval.Duration != time.Hour {
		t.Fatalf("defaults %+v", h)
	}
	for _, tc := range []struct{ name, toml, want string }{
		{"unbounded", "retention_days = 0\nmax_bytes = 0", "history.max_bytes: retention_days and max_bytes are both 0"},
		{"tiny bytes", "max_bytes = 1000", "history.max_bytes: must be at least"},
		{"negative bytes", "max_bytes = -1", "history.max_bytes: must not be negative"},
		{"days", "retention_days = 4000", "history.retention_days"},
		{"dead letter days", "dead_letter_days = 0", "history.dead_letter_days"},
		{"dead letters", "max_dead_letters = 0", "history.max_dead_letters"},
		{"pos days", "pos_days = -3", "history.pos_days"},
		{"interval", "prune_interval = \"1s\"", "history.prune_interval"},
		{"unknown key", "keep_forever = true", `unknown key "history.keep_forever"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("[history]\n" + tc.toml + "\n[[line]]\nid = 1\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
	c, err = Parse([]byte("[history]\nretention_days = 0\nmax_bytes = 2097152\n[[line]]\nid = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.History.Retention() != 0 || c.History.MaxBytes != 2<<20 {
		t.Fatalf("size bound alone: %+v", c.History)
	}
}
