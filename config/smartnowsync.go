package config

import (
	"slices"
	"strings"
	"time"
)

// The [smartnow] keys of the machine configuration and commands
// (agent/smartnowsync; docs/clouds.md, "SmartNow: configuration and
// commands"): prices, config_poll, command_poll, commands_allowed.

// SmartNowCommands are the commands the agent knows.
func SmartNowCommands() []string { return []string{"refresh", "lock", "unlock", "report", "clean"} }

func defaultCommandsAllowed() []string { return []string{"refresh", "lock", "unlock", "report"} }

// validateSync checks the machine configuration and command keys.
func (s SmartNow) validateSync(bad func(key, format string, a ...any), ttgURL string) {
	if s.Prices && s.MachineID <= 0 {
		bad("smartnow.prices", "the assortment is fetched by machine_id: set it")
	}
	if s.Prices && ttgURL != "" {
		bad("smartnow.prices", "the TTG server (ttg.url) prices the lines already: one price authority, set prices = false or drop ttg.url")
	}
	if s.ConfigPoll.Duration < 10*time.Second || s.CommandPoll.Duration < time.Second {
		bad("smartnow.config_poll", "config_poll must be at least 10s and command_poll at least 1s")
	}
	for _, c := range s.CommandsAllowed {
		if !slices.Contains(SmartNowCommands(), c) {
			bad("smartnow.commands_allowed", "%q is not a command tapagent knows (%s)", c, strings.Join(SmartNowCommands(), ", "))
		}
	}
}
