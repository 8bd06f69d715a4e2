package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tapagent/tapagent/board"
)

// Thresholds for the disk and clock checks.
const (
	diskFail      = 64 << 20  // below this the outbox may not fit a day offline
	diskWarn      = 256 << 20 // or below 10 % of the file system
	clockMaxError = 500 * time.Millisecond
)

// access is what the service user needs of a path.
type access struct {
	path, what string
	write      bool
	dir        bool
}

// permissions checks that the service user can open what it needs: the
// GPIO chips of the configured lines, the serial ports, the data
// directory and the configuration directory (config.set rewrites it).
func (c *checker) permissions(p *board.Profile) {
	acct, err := c.o.Host.Account(c.o.User)
	if err != nil {
		c.add("permissions", Fail, "install the package (it creates the user) or pass --user", "service user %q: %v", c.o.User, err)
		return
	}
	var need []access
	if p != nil {
		need = append(need, c.chipNodes(p)...)
	}
	if port := c.o.Config.DEX.Port; port != "" {
		need = append(need, access{path: port, what: "DEX port", write: true})
	}
	if port := c.o.Config.MDB.Port; port != "" {
		need = append(need, access{path: port, what: "MDB port", write: true})
	}
	if port := c.o.Config.EXE.Port; port != "" {
		need = append(need, access{path: port, what: "EXE bridge", write: true})
	}
	if port := readerTarget(c.o); port != "" {
		need = append(need, access{path: port, what: "reader port", write: true})
	}
	need = append(need, access{path: c.o.Config.Device.DataDir, what: "data directory", write: true, dir: true})
	if c.o.ConfigPath != "" {
		need = append(need, access{path: filepath.Dir(c.o.ConfigPath), what: "configuration directory", write: true, dir: true})
	}
	bad := false
	for _, a := range need {
		n, err := c.o.Host.Node(a.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the ports and gpio checks report what is missing
		}
		if err != nil {
			c.add("permissions", Fail, "", "%s %s: %v", a.what, a.path, err)
			bad = true
			continue
		}
		if !allowed(n, acct, a) {
			c.add("permissions", Fail, fixFor(a, n, acct), "%s %s (%s, owner %d:%d) is not %s for %s",
				a.what, a.path, lsMode(n.Mode), n.UID, n.GID, map[bool]string{true: "writable", false: "readable"}[a.write], acct.Name)
			bad = true
		}
	}
	if !bad {
		c.add("permissions", OK, "", "%s can open the GPIO chips, ports, data and configuration", acct.Name)
	}
}

// chipNodes are the /dev nodes of the chips the configured lines use.
func (c *checker) chipNodes(p *board.Profile) []access {
	chips, _ := c.o.Host.Chips()
	seen := map[string]bool{}
	var out []access
	for _, l := range c.o.Config.Lines {
		pins, ok := p.Line(l.ID)
		if !ok {
			continue
		}
		for _, chip := range []string{pins.Meter.Chip, pins.Valve.Chip} {
			ch, err := board.MatchChip(chip, chips)
			if err != nil || seen[ch.Name] {
				continue
			}
			seen[ch.Name] = true
			out = append(out, access{path: "/dev/" + ch.Name, what: "GPIO chip", write: true})
		}
	}
	return out
}

// allowed applies the owner/group/other permission bits as the kernel
// would for this account (root is not special: the service never is).
func allowed(n board.Node, a board.Account, need access) bool {
	want := fs.FileMode(0o4)
	if need.write {
		want |= 0o2
	}
	if need.dir {
		want |= 0o1
	}
	perm := n.Mode.Perm()
	switch {
	case n.UID == a.UID:
		return (perm>>6)&want == want
	case slices.Contains(a.GIDs, n.GID):
		return (perm>>3)&want == want
	default:
		return perm&want == want
	}
}

func fixFor(a access, n board.Node, acct board.Account) string {
	switch a.what {
	case "GPIO chip":
		return "add the user to the chip's group (usermod -aG gpio " + acct.Name + ") or install the package's udev rules"
	case "DEX port", "reader port", "MDB port", "EXE bridge":
		return "add the user to the port's group (usermod -aG dialout " + acct.Name + ", or i2c for an I2C bus)"
	}
	return fmt.Sprintf("chown %s:%s %s", acct.Name, acct.Name, a.path)
}

// ports checks the configured serial ports and the profile's peripherals.
func (c *checker) ports(p *board.Profile) {
	type port struct{ path, what, fix string }
	var want []port
	if d := c.o.Config.DEX.Port; d != "" {
		want = append(want, port{d, "DEX port (dex.port)", "plug in the DEX adapter, or bind it in /etc/udev/rules.d/61-tapagent-local.rules (docs/install.md)"})
	}
	if m := c.o.Config.MDB.Port; m != "" {
		fix := "plug in the MDB adapter, or bind it in /etc/udev/rules.d/61-tapagent-local.rules (docs/install.md)"
		if c.o.Config.MDB.Transport == "uart" {
			fix = "enable the UART (docs/boards.md: dtoverlay=disable-bt on a Pi 4, dtparam=uart0=on on a Pi 5)"
		}
		want = append(want, port{m, "MDB terminal (mdb.port)", fix})
	}
	if e := c.o.Config.EXE.Port; e != "" {
		want = append(want, port{e, "EXE bridge (exe.port)", "plug in the EXE bridge, or bind it in /etc/udev/rules.d/61-tapagent-local.rules (docs/install.md)"})
	}
	if r := readerTarget(c.o); r != "" {
		want = append(want, port{r, "card reader (reader.port / reader.i2c)", "plug in the reader, or bind its adapter in /etc/udev/rules.d/61-tapagent-local.rules (docs/install.md)"})
	}
	var optional []port
	if p != nil {
		if p.Ports.MDB != "" {
			optional = append(optional, port{p.Ports.MDB, "MDB UART", "enable the UART (docs/boards.md: dtoverlay=disable-bt on a Pi 4, dtparam=uart0=on on a Pi 5)"})
		}
		if p.Ports.ReaderI2C != "" {
			optional = append(optional, port{p.Ports.ReaderI2C, "reader I2C bus", "enable I2C (dtparam=i2c_arm=on) and load i2c-dev"})
		}
		if p.Ports.Reader != "" {
			optional = append(optional, port{p.Ports.Reader, "reader port", "plug in the reader or bind its adapter in udev"})
		}
	}
	found := []string{}
	c.missing = map[string]bool{}
	check := func(pt port, missing Status) {
		n, err := c.o.Host.Node(pt.path)
		switch {
		case err != nil:
			c.add("ports", missing, pt.fix, "%s %s: not present", pt.what, pt.path)
		case n.Mode&fs.ModeCharDevice == 0:
			c.add("ports", missing, "point the setting at the device node", "%s %s is not a character device (%s)", pt.what, pt.path, lsMode(n.Mode))
		default:
			found = append(found, pt.path)
			return
		}
		if missing == Fail {
			c.missing[pt.path] = true
		}
	}
	for _, pt := range want {
		check(pt, Fail)
	}
	for _, pt := range optional {
		if !slices.ContainsFunc(want, func(w port) bool { return w.path == pt.path }) {
			check(pt, Warn)
		}
	}
	adapters, _ := c.o.Host.SerialAdapters()
	names := make([]string, 0, len(adapters))
	for id, target := range adapters {
		names = append(names, id+" -> "+target)
	}
	sort.Strings(names)
	var parts []string
	if len(found) > 0 {
		parts = append(parts, "present: "+strings.Join(found, ", "))
	}
	if len(names) > 0 {
		parts = append(parts, "USB serial adapters: "+strings.Join(names, ", "))
	}
	if len(parts) > 0 {
		c.add("ports", OK, "", "%s", strings.Join(parts, "; "))
	}
}

// probe runs a network check unless the peer is not configured.
func (c *checker) probe(ctx context.Context, name, target string, p Probe, fix string) {
	if target == "" {
		c.add(name, OK, "", "not configured")
		return
	}
	if c.missing[target] {
		// Whatever answers elsewhere, the agent would find no device here.
		c.add(name, Fail, "see the ports check", "%s: not probed, the port is not present", target)
		return
	}
	if p == nil {
		c.add(name, Warn, "run without --offline to check it", "%s not checked (offline)", target)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	start := time.Now()
	info, err := p(ctx)
	if err != nil {
		var fe *fixError
		if errors.As(err, &fe) {
			fix = fe.fix
		}
		c.add(name, Fail, fix, "%s: %v", target, err)
		return
	}
	if info != "" {
		info = " (" + info + ")"
	}
	c.add(name, OK, "", "%s answered in %d ms%s", target, time.Since(start).Milliseconds(), info)
}

// clock checks the kernel's synchronisation state: transactions, happy
// hours and audit reads carry its time.
func (c *checker) clock() {
	synced, maxErr, err := c.o.Host.Clock()
	switch {
	case err != nil:
		c.add("clock", Warn, "", "cannot read the clock state: %v", err)
	case !synced:
		c.add("clock", Fail, "enable time synchronisation (timedatectl set-ntp true) and let NTP through; a board without RTC starts at its last shutdown",
			"system clock not synchronised")
	case maxErr > clockMaxError:
		c.add("clock", Warn, "check the NTP servers", "synchronised, but the kernel's maximum error is %v", maxErr)
	default:
		c.add("clock", OK, "", "synchronised (maximum error %v)", maxErr)
	}
}

// disk checks the space where the database and the reports live.
func (c *checker) disk() {
	dir := c.o.Config.Device.DataDir
	free, total, err := c.o.Host.Disk(dir)
	if err != nil {
		c.add("disk", Fail, "create the data directory (the package does) or fix device.data_dir", "%s: %v", dir, err)
		return
	}
	mib := func(b uint64) uint64 { return b >> 20 }
	switch {
	case free < diskFail:
		c.add("disk", Fail, "free space on that file system: transactions are refused when the disk is full", "%s: %d MiB free of %d MiB", dir, mib(free), mib(total))
	case free < diskWarn || free*10 < total:
		c.add("disk", Warn, "free space before the outbox needs it", "%s: %d MiB free of %d MiB", dir, mib(free), mib(total))
	default:
		c.add("disk", OK, "", "%s: %d MiB free of %d MiB", dir, mib(free), mib(total))
	}
}

// lsMode writes a file mode as ls -l does ("crw-rw----" for a serial
// port), the way a technician reads it, not Go's "Dcrw-rw----".
func lsMode(m fs.FileMode) string {
	kind := "-"
	switch {
	case m&fs.ModeCharDevice != 0:
		kind = "c"
	case m&fs.ModeDevice != 0:
		kind = "b"
	case m.IsDir():
		kind = "d"
	case m&fs.ModeSymlink != 0:
		kind = "l"
	}
	return kind + m.Perm().String()[1:]
}
