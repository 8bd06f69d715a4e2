package serversync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/config"
)

// TestEmulatorZoneNamesTheHostZone: "Local" is resolved to the IANA name
// Go itself uses as the host's zone (TZ, the /etc/localtime link, then
// /etc/timezone), or refused when there is none to be found.
func TestEmulatorZoneNamesTheHostZone(t *testing.T) {
	if _, err := os.Stat("/usr/share/zoneinfo/Europe/Berlin"); err != nil {
		t.Skip("no zoneinfo on this host")
	}
	type fsSetup func(root string) error
	link := func(target string) fsSetup {
		return func(root string) error { return os.Symlink(target, filepath.Join(root, "etc", "localtime")) }
	}
	file := func(name, body string) fsSetup {
		return func(root string) error { return os.WriteFile(filepath.Join(root, "etc", name), []byte(body), 0o644) }
	}
	for _, c := range []struct {
		name    string
		setting string
		tz      *string
		fs      []fsSetup
		want    string // "" expects a refusal
	}{
		{"named in the config", "Asia/Kolkata", nil, nil, "Asia/Kolkata"},
		{"Local from the localtime link", "Local", nil, []fsSetup{link("/usr/share/zoneinfo/Europe/Berlin")}, "Europe/Berlin"},
		{"empty from a relative link", "", nil, []fsSetup{link("../usr/share/zoneinfo/America/St_Johns")}, "America/St_Johns"},
		{"TZ wins over the link", "Local", ptr("Pacific/Chatham"), []fsSetup{link("/usr/share/zoneinfo/Europe/Berlin")}, "Pacific/Chatham"},
		{"TZ with a colon", "Local", ptr(":Europe/Berlin"), nil, "Europe/Berlin"},
		{"TZ as a zoneinfo path", "Local", ptr("/usr/share/zoneinfo/Asia/Kolkata"), nil, "Asia/Kolkata"},
		{"TZ empty is UTC", "Local", ptr(""), nil, "UTC"},
		{"no localtime is UTC", "Local", nil, nil, "UTC"},
		{"copied localtime with etc/timezone", "Local", nil, []fsSetup{file("localtime", "TZif"), file("timezone", "Europe/Berlin\n")}, "Europe/Berlin"},
		{"copied localtime alone", "Local", nil, []fsSetup{file("localtime", "TZif")}, ""},
		{"link outside zoneinfo", "Local", nil, []fsSetup{link("/opt/myzone")}, ""},
		{"TZ naming no zone", "Local", ptr("Mars/Olympus"), nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, setup := range c.fs {
				if err := setup(root); err != nil {
					t.Fatal(err)
				}
			}
			h := host{root: root, getenv: func(k string) (string, bool) {
				if k != "TZ" || c.tz == nil {
					return "", false
				}
				return *c.tz, true
			}}
			got, err := emulatorZone(config.TTG{TimeZone: c.setting}, h)
			switch {
			case c.want == "" && (err == nil || !strings.Contains(err.Error(), "IANA name")):
				t.Fatalf("got %q, %v; want a refusal naming what to set", got, err)
			case c.want != "" && (err != nil || got != c.want):
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
