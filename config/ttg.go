package config

import (
	"strings"
	"time"
)

// validate checks [ttg].
func (t TTG) validate(bad badFunc) {
	if t.URL != "" && !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
		bad("ttg.url", "%q must start with http:// or https://", t.URL)
	}
	if t.Batch < 1 || t.Batch > 1000 {
		bad("ttg.batch", "must be 1..1000")
	}
	if t.Refresh.Duration < time.Second || t.StampPoll.Duration < time.Second || t.Timeout.Duration < 100*time.Millisecond {
		bad("ttg.refresh", "refresh and stamp_poll must be >= 1s, timeout >= 100ms")
	}
	if _, err := t.Location(); err != nil {
		bad("ttg.time_zone", "%v", err)
	}
	if a := t.OnlineCardAlcohol; a != "" && a != "allow" && a != "refuse" {
		bad("ttg.online_card_alcohol", "must be allow or refuse")
	}
}
