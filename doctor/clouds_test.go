package doctor_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/doctor"
	"github.com/tapagent/tapagent/sim/simhost"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	tmemu "github.com/tapagent/tapagent/sim/telemetron"
)

// deadURL is a loopback address nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// board is a healthy simulated Raspberry Pi 4.
func board(t *testing.T) *simhost.Board {
	t.Helper()
	b, err := simhost.New("rpi4", "/var/lib/tapagent", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cloudReport runs doctor offline for everything but the cloud probes and
// returns the named check's finding.
func cloudReport(t *testing.T, cfg *config.Config, check string) doctor.Finding {
	t.Helper()
	o := doctor.Options{Config: cfg, Host: board(t), User: "tapagent", Timeout: 5 * time.Second}
	if cfg.SmartNow.URL != "" {
		o.SmartNow = doctor.SmartNowProbe(cfg)
	}
	if cfg.Telemetron.URL != "" {
		o.Telemetron = doctor.TelemetronProbe(cfg)
	}
	r := doctor.Run(context.Background(), o)
	for _, f := range r.Findings {
		if f.Check == check {
			return f
		}
	}
	t.Fatalf("no %s check in %+v", check, r.Findings)
	return doctor.Finding{}
}

// TestSmartNowProbe: doctor logs in to the SmartNow emulator and fetches
// the machine by hostname; a wrong password or hostname fails naming the
// key to fix, an unreachable cloud names the URL.
func TestSmartNowProbe(t *testing.T) {
	s, err := snemu.New(snemu.Options{Machines: []snemu.Machine{{ID: 7, Name: "Tap wall", Hostname: "tapwall-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	dead := deadURL(t)
	for _, tc := range []struct {
		name, url, password, hostname string
		status                        doctor.Status
		detail, fix                   string
	}{
		{"ok", url, "tapagent", "tapwall-1", doctor.OK, `(machine "tapwall-1")`, ""},
		{"wrong password", url, "not-the-pw", "tapwall-1", doctor.Fail, "wrong username or password", "smartnow.password"},
		{"unknown machine", url, "tapagent", "nobody", doctor.Fail, `machine "nobody" unknown`, "smartnow.hostname"},
		{"unreachable", dead, "tapagent", "tapwall-1", doctor.Fail, "connection refused", "smartnow.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := config.Default()
			cfg.SmartNow.URL, cfg.SmartNow.Username, cfg.SmartNow.Password, cfg.SmartNow.Hostname = tc.url, "tapagent", tc.password, tc.hostname
			f := cloudReport(t, cfg, "smartnow")
			if f.Status != tc.status || !strings.Contains(f.Detail, tc.detail) || !strings.Contains(f.Fix, tc.fix) {
				t.Fatalf("finding %+v, want %v with %q, fix naming %q", f, tc.status, tc.detail, tc.fix)
			}
			if strings.Contains(f.Detail, tc.password) && tc.password != "tapagent" {
				t.Fatalf("password in %q", f.Detail)
			}
		})
	}
}

// TestTelemetronProbe: doctor asks the Telemetron emulator for a token
// with the password grant and reads the machine; a wrong password or
// machine id fails naming the key to fix.
func TestTelemetronProbe(t *testing.T) {
	s, err := tmemu.New(tmemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	dead := deadURL(t)
	for _, tc := range []struct {
		name, url, password string
		machine             int64
		status              doctor.Status
		detail, fix         string
	}{
		{"ok", url, "tapagent", 123, doctor.OK, `(machine 123 "Tap wall")`, ""},
		{"wrong password", url, "wrong", 123, doctor.Fail, "token refused", "telemetron.password"},
		{"unknown machine", url, "tapagent", 555, doctor.Fail, "Vending machine not found", "telemetron.machine_id"},
		{"unreachable", dead, "tapagent", 123, doctor.Fail, "connection refused", "telemetron.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := config.Default()
			tm := &cfg.Telemetron
			tm.URL, tm.AuthURL, tm.MachineID = tc.url+"/v2", tc.url+"/auth/", tc.machine
			tm.ClientID, tm.ClientSecret, tm.Username, tm.Password = "tapagent", "tapagent-secret", "tapagent@example.com", tc.password
			f := cloudReport(t, cfg, "telemetron")
			if f.Status != tc.status || !strings.Contains(f.Detail, tc.detail) || !strings.Contains(f.Fix, tc.fix) {
				t.Fatalf("finding %+v, want %v with %q, fix naming %q", f, tc.status, tc.detail, tc.fix)
			}
		})
	}
}

// TestCloudChecksOnlyWhereSet: without [smartnow] and [telemetron] the
// report has no line for them.
func TestCloudChecksOnlyWhereSet(t *testing.T) {
	cfg, _ := config.Default()
	r := doctor.Run(context.Background(), doctor.Options{Config: cfg, Host: board(t), User: "tapagent"})
	for _, f := range r.Findings {
		if f.Check == "smartnow" || f.Check == "telemetron" {
			t.Fatalf("unconfigured cloud checked: %+v", f)
		}
	}
}
