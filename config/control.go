package config

import (
	"time"

	"github.com/tapagent/tapagent/httpguard"
)

// validateListeners refuses a cash-register or client-control listener
// that anyone on the network could use to pour: off loopback, it needs a
// real key (never the example's placeholder) or, for control, an allow-list.
func (c *Config) validateListeners(bad badFunc) {
	if p := c.POS; p.Listen != "" {
		local, err := httpguard.Loopback(p.Listen)
		switch {
		case err != nil:
			bad("pos.listen", "%v", err)
		case !local:
			if err := httpguard.CheckSecret(p.APIKey); err != nil {
				bad("pos.api_key", "%v; a key is required because pos.listen %q is reachable from the network", err, p.Listen)
			}
		case p.APIKey != "":
			if err := httpguard.CheckSecret(p.APIKey); err != nil {
				bad("pos.api_key", "%v", err)
			}
		}
	}
	k := c.Control
	if k.Listen == "" {
		return
	}
	if allow, err := httpguard.ParseAllow(k.Allow); err != nil {
		bad("control.allow", "%v", err)
	} else if err := httpguard.CheckAllow(allow); err != nil && k.Token == "" {
		// Alone, a list that admits everyone is no protection, wherever it listens.
		bad("control.allow", "%v", err)
	}
	if k.Token != "" {
		if err := httpguard.CheckSecret(k.Token); err != nil {
			bad("control.token", "%v", err)
		}
	}
	if local, err := httpguard.Loopback(k.Listen); err != nil {
		bad("control.listen", "%v", err)
	} else if !local && k.Token == "" && len(k.Allow) == 0 {
		bad("control.token", "control.listen %q is reachable from the network: set control.token (the TTG server's bearer token) and/or control.allow (its address)", k.Listen)
	}
	if d := k.RestartInterval.Duration; d < time.Second || d > 24*time.Hour {
		bad("control.restart_interval", "must be between 1s and 24h")
	}
}
