package main

import (
	"io"

	"github.com/tapagent/tapagent/config"
)

const telemetronUsage = `Usage:
  tapagent telemetron user add NAME
                      add a user of the machine's Telemetron API ([telemetron] listen),
                      or set a new password (read from the terminal without echo, or
                      from stdin); the API's tokens are issued to them
  tapagent telemetron user remove NAME
                      remove a user; the tokens they hold stay valid until they expire
                      or they log out (tokens are in memory: a restart ends them all)
  tapagent telemetron user list
                      the users
Flags: --config FILE (else the installed one), --sim (the simulator's users in ./data).`

// cmdTelemetron manages the Telemetron API's users file: `telemetron
// user add|remove|list`, in the dashboard's format (bcrypt hashes).
func cmdTelemetron(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return manageUsers(userFile{command: "telemetron", usage: telemetronUsage,
		path: func(c *config.Config) string { return c.Telemetron.UsersFile(c.Device.DataDir) }}, args, stdin, stdout, stderr)
}
