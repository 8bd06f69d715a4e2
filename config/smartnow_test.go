package config

import (
	"strings"
	"testing"
)

func TestSmartNowSection(t *testing.T) {
	const line = "[[line]]\nid = 1\n"
	ok := "[smartnow]\nurl = \"https://api.smartnow.example\"\nusername = \"u\"\npassword = \"p\"\nhostname = \"wall-1\"\n"
	for _, tc := range []struct {
		name, toml, bad string
	}{
		{"off by default", "", ""},
		{"configured", ok, ""},
		{"password in clear", strings.Replace(ok, "https://api.smartnow.example", "http://10.0.0.5", 1), "smartnow.url"},
		{"loopback in clear", strings.Replace(ok, "https://api.smartnow.example", "http://127.0.0.1:8080", 1), ""},
		{"no hostname", strings.Replace(ok, "hostname = \"wall-1\"\n", "", 1), "smartnow.hostname"},
		{"no password", strings.Replace(ok, "password = \"p\"\n", "", 1), "smartnow.password"},
		{"offline", ok + "offline = \"maybe\"\n", "smartnow.offline"},
		{"path", ok + "[smartnow.paths]\nrevenue = \"revenuetransaction\"\n", "smartnow.paths.revenue"},
		{"prices", ok + "machine_id = 80\nprices = true\n", ""},
		{"prices without machine", ok + "prices = true\n", "smartnow.prices"},
		{"two price authorities", "[ttg]\nurl = \"https://ttg.example\"\n" + ok + "machine_id = 80\nprices = true\n", "smartnow.prices"},
		{"unknown command", ok + "commands_allowed = [\"refresh\", \"reboot\"]\n", "smartnow.commands_allowed"},
		{"clean allowed", ok + "commands_allowed = [\"lock\", \"clean\"]\n", ""},
		{"poll too fast", ok + "config_poll = \"1s\"\n", "smartnow.config_poll"},
		{"config path", ok + "[smartnow.paths]\nopening_hours = \"openinghours\"\n", "smartnow.paths.opening_hours"},
		{"vouchers", ok + "vouchers = true\n", ""},
		{"vouchers without url", "[smartnow]\nvouchers = true\n", "smartnow.vouchers"},
		{"short hold", ok + "vouchers = true\nvoucher_hold = \"1s\"\n", "smartnow.voucher_hold"},
		{"no portion", ok + "vouchers = true\nvoucher_portion_ml = 0\n", "smartnow.voucher_portion_ml"},
		{"offline max", ok + "vouchers = true\noffline_max = -1\n", "smartnow.offline_max"},
		{"scanner without line", ok + "vouchers = true\nscanner = \"/dev/ttyACM0\"\n", "smartnow.scanner_line"},
		{"scanner on a line", ok + "vouchers = true\nscanner = \"/dev/ttyACM0\"\nscanner_line = 1\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.toml + line))
			switch {
			case tc.bad == "" && err != nil:
				t.Fatal(err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("want an error naming %s, got %v", tc.bad, err)
			case tc.bad == "" && c.SmartNow.Paths.Revenue != "/revenuetransaction":
				t.Fatalf("paths %+v", c.SmartNow.Paths)
			}
		})
	}
}
