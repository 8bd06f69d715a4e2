package main

import (
	"os/user"

	"github.com/tapagent/tapagent/device"
)

// cliActor is the person at this terminal, as keg and line operations
// audit them: the login name, in role.
func cliActor(role string) device.Actor {
	name := "unknown user"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return device.Actor{Name: name, Role: role, Via: "cli"}
}
