package main

import (
	"io"

	"github.com/tapagent/tapagent/config"
)

const telemetronUsage = `Usage:
  tapagent telemetron user add NAME
                      add a user of the machine's Telemetron API ([telemetron] listen),
                      or set a new password (read from the terminal without echo, or
                      from stdin; a new password ends the tokens issued before it)
  tapagent telemetron user remove NAME
                      remove a user; their tokens end at their next request
  tapagent telemetron user list
                      the users
Flags: --config FILE (else the installed one), --sim (the simulator's users in ./data).`

// cmdTelemetron manages the Telemetron API's users file: `telemetron
// user add|remove|list`, in the dashboard's format (bcrypt hashes).
func cmdTelemetron(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return manageUsers(userFile{command: "telemetron", usage: telemetronUsage,
		path: func(c *config.Config) string { return c.Telemetron.UsersFile(c.Device.DataDir) }}, args, stdin, stdout, stderr)
}
