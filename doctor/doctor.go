// Package doctor checks that a controller can run the agent as configured:
// the board profile matches the board, the GPIO lines and ports are there
// and free, the service user may open them, the server and the broker
// answer, the clock is synchronised and the disk has room. Every finding
// says what to fix; nothing is changed.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
)

// Host is what the checks read of the machine. System reads a real one;
// the simulator provides a board with faults to inject.
type Host interface {
	// Compatible returns the device-tree compatible strings, or
	// fs.ErrNotExist on a machine without a device tree.
	Compatible() ([]string, error)
	// Chips lists the GPIO chips with the lines in use.
	Chips() ([]board.ChipInfo, error)
	// Node describes a file or device node, or returns fs.ErrNotExist.
	Node(path string) (board.Node, error)
	// Account looks up the user the service runs as.
	Account(name string) (board.Account, error)
	// Clock reports whether the kernel clock is synchronised.
	Clock() (synced bool, maxError time.Duration, err error)
	// Disk reports the space on the file system holding path.
	Disk(path string) (free, total uint64, err error)
	// SerialAdapters lists /dev/serial/by-id names and their targets.
	SerialAdapters() (map[string]string, error)
}

// Probe checks a peer (server, broker, reader); nil means it answered,
// and the string says more (a reader's firmware).
type Probe func(ctx context.Context) (string, error)

// Options configure a run.
type Options struct {
	Config *config.Config
	// ConfigPath is the file config.set rewrites; its directory must be
	// writable for the service user.
	ConfigPath string
	Host       Host
	// User is the account the service runs as ("tapagent").
	User string
	// TTG and MQTT probe the server and the broker; nil skips the check
	// (offline, or not configured).
	TTG, MQTT Probe
	// TouchTopUp reads company_details of each configured company with
	// the API key; checked only where [touchtopup] is set.
	TouchTopUp Probe
	// SmartNow logs in and fetches the machine's configuration by
	// hostname; checked only where [smartnow] is set.
	SmartNow Probe
	// Telemetron asks for a token and reads the machine; checked only
	// where [telemetron] is set.
	Telemetron Probe
	// Reader asks the card reader for its firmware; nil when none is
	// configured.
	Reader Probe
	// MDB runs the card terminal's power-up sequence and names it; nil
	// when no terminal is configured.
	MDB Probe
	// EXE asks the EXE machine behind its bridge for its STATUS; nil when
	// none is configured.
	EXE Probe
	// Timeout bounds each probe; default 10 s.
	Timeout time.Duration
}

// Status grades a finding.
type Status int

// Finding grades, worst last.
const (
	OK Status = iota
	Warn
	Fail
)

// String names the grade as the report prints it.
func (s Status) String() string {
	return [...]string{"ok", "warn", "FAIL"}[s]
}

// MarshalText writes the status as its name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one result.
type Finding struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every finding of a run.
type Report struct {
	Findings []Finding `json:"findings"`
}

// Worst is the worst status found.
func (r Report) Worst() Status {
	w := OK
	for _, f := range r.Findings {
		w = max(w, f.Status)
	}
	return w
}

// Write prints the report for a technician: one line per finding, the fix
// indented below it.
func (r Report) Write(w io.Writer) {
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-5s %-12s %s\n", f.Status, f.Check, f.Detail)
		if f.Fix != "" {
			fmt.Fprintf(w, "%-18s fix: %s\n", "", f.Fix)
		}
	}
	n := map[Status]int{}
	for _, f := range r.Findings {
		n[f.Status]++
	}
	fmt.Fprintf(w, "%d ok, %s, %s\n", n[OK], flow.Count(n[Warn], "warning", "warnings"), flow.Count(n[Fail], "failure", "failures"))
}

// Run performs every check.
func Run(ctx context.Context, o Options) Report {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	c := &checker{o: o}
	prof := c.profile()
	if prof != nil {
		c.gpio(prof)
	}
	c.permissions(prof)
	c.ports(prof)
	c.probe(ctx, "ttg", o.Config.TTG.URL, o.TTG, "check ttg.url, ttg.username and ttg.password, and that the server is reachable from this network")
	if o.Config.TouchTopUp.URL != "" {
		c.probe(ctx, "touchtopup", o.Config.TouchTopUp.URL, o.TouchTopUp, "check touchtopup.url, touchtopup.api_key and touchtopup.key_header, the accounts' company ids, and that the API is reachable from this network")
	}
	if o.Config.SmartNow.URL != "" {
		c.probe(ctx, "smartnow", o.Config.SmartNow.URL, o.SmartNow, "check smartnow.url and that SmartNow is reachable from this network")
	}
	if o.Config.Telemetron.URL != "" {
		c.probe(ctx, "telemetron", o.Config.Telemetron.URL, o.Telemetron, "check telemetron.url and telemetron.auth_url, and that Telemetron is reachable from this network")
	}
	if err := o.Config.MQTT.LinkRefusal(); err != nil && o.Config.MQTT.Broker != "" {
		// The agent keeps the link off with these settings: no probe can pass.
		c.add("mqtt", Fail, "use ssl:// (with mqtt.ca_file) or a broker on this host, then restart; the wall pours without the link meanwhile",
			"%v: the agent keeps its MQTT link off", err)
	} else {
		c.probe(ctx, "mqtt", o.Config.MQTT.Broker, o.MQTT, "check mqtt.broker, the certificates and that port is open to this network")
	}
	if err := o.Config.Firmware.ManifestRefusal(); err != nil {
		c.add("firmware", Warn, "set firmware.allow_file_urls = true, or an https:// manifest_url", "%v", err)
	} else if f := o.Config.Firmware; len(f.Installer) > 0 && f.PublicKey == "" {
		// The updater refuses every release without a key to check it
		// against: safe, but the installer an installer set up never runs.
		c.add("firmware", Warn, "set firmware.public_key to the release key (`tapagent release keygen` makes one), or remove firmware.installer",
			"firmware.installer is set but firmware.public_key is empty: every update is refused")
	}
	c.probe(ctx, "reader", readerTarget(o), o.Reader, "check reader.port (or reader.i2c), the cable and the reader's power; `tapagent doctor --json` shows the error")
	c.probe(ctx, "mdb", o.Config.MDB.Port, o.MDB, "check mdb.port and mdb.transport, mdb.device (1 = 10H, 2 = 60H), the bus cable and the terminal's power; `tapagent mdb log --port PORT` shows the bus")
	c.probe(ctx, "exe", o.Config.EXE.Port, o.EXE, "check exe.port, the bridge's cable to the machine and that the machine is set to EXE; `tapagent exe status --port PORT` asks it")
	c.clock()
	c.disk()
	return Report{Findings: c.out}
}

type checker struct {
	o   Options
	out []Finding
	// missing is the configured ports the ports check found absent: a
	// probe of the device behind one fails naming it instead of running.
	missing map[string]bool
}

// add records a finding. A check reports once: a second finding of the
// same check joins the first (details and distinct fixes in order, the
// worse status), so a report has as many lines as a healthy one.
func (c *checker) add(check string, s Status, fix string, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	for i := range c.out {
		f := &c.out[i]
		if f.Check != check {
			continue
		}
		f.Status = max(f.Status, s)
		f.Detail += "; " + detail
		switch {
		case fix == "" || strings.Contains(f.Fix, fix):
		case f.Fix == "":
			f.Fix = fix
		default:
			f.Fix += "; " + fix
		}
		return
	}
	c.out = append(c.out, Finding{Check: check, Status: s, Detail: detail, Fix: fix})
}

// profile loads the board profile and compares it with the device tree.
func (c *checker) profile() *board.Profile {
	name := c.o.Config.Board.Profile
	p, err := board.LoadProfile(name)
	if err != nil {
		c.add("board", Fail, "set board.profile to one of "+strings.Join(board.BuiltinProfiles(), ", ")+" or a profile file (docs/boards.md)", "%v", err)
		return nil
	}
	compat, err := c.o.Host.Compatible()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.add("board", Warn, "", "profile %s; no device tree on this machine, so the board cannot be confirmed", p.Name)
		return p
	case err != nil:
		c.add("board", Warn, "", "profile %s; device tree unreadable: %v", p.Name, err)
		return p
	}
	if len(p.Compatible) == 0 {
		c.add("board", Warn, "add compatible = [...] to the profile", "profile %s names no compatible boards; this board is %s", p.Name, first(compat))
		return p
	}
	for _, want := range p.Compatible {
		for _, have := range compat {
			if want == have {
				c.add("board", OK, "", "profile %s matches this board (%s)", p.Name, first(compat))
				return p
			}
		}
	}
	c.add("board", Fail, suggestProfile(compat), "profile %s is for %s; this board is %s", p.Name, strings.Join(p.Compatible, ", "), strings.Join(compat, ", "))
	return p
}

func first(s []string) string {
	if len(s) == 0 {
		return "unknown"
	}
	return s[0]
}

// suggestProfile names the built-in profile made for this board, if any.
func suggestProfile(compat []string) string {
	for _, n := range board.BuiltinProfiles() {
		p, err := board.LoadProfile(n)
		if err != nil {
			continue
		}
		for _, want := range p.Compatible {
			for _, have := range compat {
				if want == have {
					return fmt.Sprintf("set board.profile = %q", n)
				}
			}
		}
	}
	return "write a profile for this board (docs/boards.md) and set board.profile to its path"
}

// gpio checks that every configured line's meter and valve pin exists on a
// chip and is not held by another driver.
func (c *checker) gpio(p *board.Profile) {
	chips, err := c.o.Host.Chips()
	if err != nil {
		c.add("gpio", Fail, "check that the gpio character devices exist and are readable", "listing GPIO chips: %v", err)
		return
	}
	bad := false
	missing := map[string]bool{} // a missing chip is reported once, not per pin
	for _, l := range c.o.Config.Lines {
		pins, ok := p.Line(l.ID)
		if !ok {
			c.add("gpio", Fail, "remove the line or use a profile that wires it", "line %d is configured but profile %s has no pins for it", l.ID, p.Name)
			bad = true
			continue
		}
		for _, pin := range []struct {
			role, chip string
			offset     int
		}{{"meter", pins.Meter.Chip, pins.Meter.Offset}, {"valve", pins.Valve.Chip, pins.Valve.Offset}} {
			if missing[pin.chip] {
				continue
			}
			if _, err := board.MatchChip(pin.chip, chips); err != nil {
				c.add("gpio", Fail, "check the profile's chip names against `gpiodetect`", "%v", err)
				missing[pin.chip], bad = true, true
				continue
			}
			if !c.pin(chips, l.ID, pin.role, pin.chip, pin.offset) {
				bad = true
			}
		}
	}
	if !bad {
		c.add("gpio", OK, "", "%d lines: every meter and valve pin present and free", len(c.o.Config.Lines))
	}
}

func (c *checker) pin(chips []board.ChipInfo, line int, role, chip string, offset int) bool {
	ch, _ := board.MatchChip(chip, chips)
	if offset >= ch.Lines {
		c.add("gpio", Fail, "check the profile's offsets", "line %d %s: %s has %d lines, no offset %d", line, role, ch.Name, ch.Lines, offset)
		return false
	}
	if who, used := ch.Used[offset]; used && !strings.HasPrefix(who, "tapagent") {
		c.add("gpio", Fail, "free the pin: remove the overlay or service that claims it (`gpioinfo` shows it), or rewire the line",
			"line %d %s: %s:%d is held by %q", line, role, ch.Name, offset, who)
		return false
	}
	return true
}

func timeUntil(t time.Time) time.Duration {
	if d := time.Until(t); d > 0 {
		return d
	}
	return time.Millisecond
}

func readerTarget(o Options) string {
	if o.Config.Reader.Port != "" {
		return o.Config.Reader.Port
	}
	return o.Config.Reader.I2C
}
