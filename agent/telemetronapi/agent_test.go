package telemetronapi_test

import (
	"testing"

	"github.com/tapagent/tapagent/agent/telemetronapi"
	"github.com/tapagent/tapagent/config"
)

// TestBusFromTheConfiguration: the modem's bus is exe where [exe] is set
// (a port or items, even beside an MDB terminal), mdb where only [mdb]
// is, and empty without either.
func TestBusFromTheConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*config.Config)
		want string
	}{
		{"none", func(*config.Config) {}, ""},
		{"mdb port", func(c *config.Config) { c.MDB.Port = "/dev/ttyAMA0" }, "mdb"},
		{"mdb lines (simulated terminal)", func(c *config.Config) { c.MDB.Lines = []int{1} }, "mdb"},
		{"exe port", func(c *config.Config) { c.MDB.Port, c.EXE.Port = "/dev/ttyAMA0", "/dev/ttyUSB1" }, "exe"},
		{"exe items beside mdb lines", func(c *config.Config) {
			c.MDB.Lines = []int{1}
			c.EXE.Items = []config.EXEItem{{Selection: 1, PLU: 7, Price: 250}}
		}, "exe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Default()
			if err != nil {
				t.Fatal(err)
			}
			// The default is the simulator's wall, with both buses.
			cfg.MDB.Port, cfg.MDB.Lines, cfg.EXE.Port, cfg.EXE.Items = "", nil, "", nil
			tc.set(cfg)
			o, err := telemetronapi.ForAgent(cfg, nil, nil, nil, "test", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if o.Machine.Bus != tc.want {
				t.Fatalf("bus %q, want %q", o.Machine.Bus, tc.want)
			}
		})
	}
}

// TestMeLastLoginCarriesTheOffset: /v2/me gives last_login as ISO 8601
// with the wall's offset, like every other time the API writes.
func TestMeLastLoginCarriesTheOffset(t *testing.T) {
	r := newRig(t)
	var me struct {
		LastLogin string `json:"last_login"`
	}
	call(t, "GET", r.url+"/v2/me", login(t, r.url).AccessToken, nil).json(t, &me)
	if me.LastLogin != "2026-11-22T21:00:00+03:00" {
		t.Fatalf("last_login %q, want 2026-11-22T21:00:00+03:00", me.LastLogin)
	}
}
