package serversync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapagent/tapagent/config"
)

// host is where the host's zone is read from: the TZ variable and a root
// holding etc/localtime and etc/timezone ("/" on the device).
type host struct {
	getenv func(string) (string, bool)
	root   string
}

// systemHost is the real host.
func systemHost() host { return host{getenv: os.LookupEnv, root: "/"} }

// emulatorZone is the IANA name of the agent's ttg.time_zone, which the
// embedded emulator is set to on every start. "Local" (and empty) is the
// host's zone, named as Go finds it: TZ when set, else the zone file
// /etc/localtime links to, else /etc/timezone; without /etc/localtime Go
// runs in UTC, and so does the emulator. A host whose zone has no name to
// be found is refused, since an emulator guessing another zone would read
// every wire timestamp wrong.
func emulatorZone(t config.TTG, h host) (string, error) {
	if t.TimeZone != "" && t.TimeZone != "Local" {
		return t.TimeZone, nil
	}
	name, err := h.zoneName()
	if err != nil {
		return "", fmt.Errorf("ttg.time_zone = %q: %w; set ttg.time_zone to an IANA name such as Europe/Berlin", t.TimeZone, err)
	}
	if _, err := time.LoadLocation(name); err != nil {
		return "", fmt.Errorf("ttg.time_zone = %q: the host's zone %q does not load (%w); set ttg.time_zone to an IANA name such as Europe/Berlin", t.TimeZone, name, err)
	}
	return name, nil
}

// ZoneName is the IANA name of ttg.time_zone, the wall's zone: the
// configured name, or for "Local" the host's zone as Go finds it.
func ZoneName(t config.TTG) (string, error) { return emulatorZone(t, systemHost()) }

// zoneName names the zone Go uses as Local on this host.
func (h host) zoneName() (string, error) {
	if tz, set := h.getenv("TZ"); set {
		tz = strings.TrimPrefix(tz, ":")
		switch {
		case tz == "" || tz == "UTC":
			return "UTC", nil
		case filepath.IsAbs(tz):
			if name, ok := afterZoneinfo(tz); ok {
				return name, nil
			}
			return "", fmt.Errorf("TZ=%q is a file outside a zoneinfo directory", tz)
		}
		return tz, nil
	}
	localtime := filepath.Join(h.root, "etc", "localtime")
	target, err := os.Readlink(localtime)
	switch {
	case err == nil:
		if name, ok := afterZoneinfo(target); ok {
			return name, nil
		}
		return "", fmt.Errorf("/etc/localtime links to %q, outside a zoneinfo directory", target)
	case errors.Is(err, fs.ErrNotExist):
		return "UTC", nil // Go's Local without /etc/localtime
	}
	if b, err := os.ReadFile(filepath.Join(h.root, "etc", "timezone")); err == nil {
		if name := strings.TrimSpace(string(b)); name != "" {
			return name, nil
		}
	}
	return "", errors.New("/etc/localtime is not a link to a named zone and /etc/timezone names none")
}

// afterZoneinfo is the zone name in a path like /usr/share/zoneinfo/Europe/Berlin.
func afterZoneinfo(p string) (string, bool) {
	_, name, found := strings.Cut(filepath.ToSlash(p), "zoneinfo/")
	return name, found && name != ""
}
