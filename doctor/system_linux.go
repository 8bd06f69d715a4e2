package doctor

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tapagent/tapagent/board"
)

// System is the running machine.
type System struct{}

// Compatible reads /proc/device-tree/compatible (NUL-separated strings).
func (System) Compatible() ([]string, error) {
	b, err := os.ReadFile("/proc/device-tree/compatible")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
		out = append(out, string(s))
	}
	return out, nil
}

// Chips lists the GPIO character devices.
func (System) Chips() ([]board.ChipInfo, error) { return board.ListChips() }

// Node stats path, following symlinks like an open would.
func (System) Node(path string) (board.Node, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return board.Node{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return board.Node{}, fmt.Errorf("%s: no owner information", path)
	}
	return board.Node{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid}, nil
}

// Account looks the user up in the system's user database.
func (System) Account(name string) (board.Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return board.Account{}, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return board.Account{}, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return board.Account{}, fmt.Errorf("user %s: groups: %w", name, err)
	}
	a := board.Account{Name: name, UID: uint32(uid)}
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil {
			a.GIDs = append(a.GIDs, uint32(g))
		}
	}
	return a, nil
}

// Clock asks the kernel (adjtimex) whether NTP keeps the clock in sync:
// TIME_ERROR or STA_UNSYNC means it does not.
func (System) Clock() (bool, time.Duration, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, 0, fmt.Errorf("adjtimex: %w", err)
	}
	synced := state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
	return synced, time.Duration(tx.Maxerror) * time.Microsecond, nil
}

// Disk reports the free space for unprivileged users (Bavail).
func (System) Disk(path string) (uint64, uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs: %w", err)
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, nil
}

// SerialAdapters lists /dev/serial/by-id, the names udev derives from USB
// adapters' vendor, product and serial number.
func (System) SerialAdapters() (map[string]string, error) {
	ents, err := os.ReadDir("/dev/serial/by-id")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range ents {
		p := filepath.Join("/dev/serial/by-id", e.Name())
		if t, err := filepath.EvalSymlinks(p); err == nil {
			out[strings.TrimPrefix(p, "/dev/serial/by-id/")] = t
		}
	}
	return out, nil
}
