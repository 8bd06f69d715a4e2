package board

import "io/fs"

// Node is a file's or device node's type, mode and owner, as the checks
// of a controller (tapagent doctor) read it.
type Node struct {
	Mode fs.FileMode
	UID  uint32
	GID  uint32
}

// Account is a user of the controller with its groups.
type Account struct {
	Name string
	UID  uint32
	GIDs []uint32
}
