package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tapagent/tapagent/doctor"
	"github.com/tapagent/tapagent/sim/simhost"
)

// doctorReport is doctor's JSON report as a script reads it.
type doctorReport struct {
	Findings []struct{ Check, Status, Detail string }
}

// runDoctor runs `tapagent doctor` in-process and decodes its report.
func runDoctor(t *testing.T, args ...string) (int, doctorReport) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(append([]string{"doctor", "--json"}, args...), nil, &out, &errb)
	var r doctorReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("doctor %v: exit %d, not a JSON report: %v\n%s%s", args, code, err, out.String(), errb.String())
	}
	return code, r
}

// TestDoctorSimHealthy: `tapagent doctor --sim rpi4` as README and
// docs/install.md write it, with no configuration on this machine, is all
// ok on both models: no warning, and no server or broker contacted.
func TestDoctorSimHealthy(t *testing.T) {
	for _, model := range []string{"rpi4", "rpi5"} {
		code, r := runDoctor(t, "--sim", model)
		for _, f := range r.Findings {
			if f.Status != doctor.OK.String() {
				t.Errorf("%s: %s is %s: %s", model, f.Check, f.Status, f.Detail)
			}
			if (f.Check == "ttg" || f.Check == "mqtt") && f.Detail != "not configured" {
				t.Errorf("%s: %s contacted: %s", model, f.Check, f.Detail)
			}
		}
		if code != 0 {
			t.Errorf("%s: exit %d", model, code)
		}
	}
}

// TestDoctorSimWithConfig: `--sim rpi4 --config FILE` checks the file on
// the simulated board, as docs/install.md says: the simulated controller's
// own configuration written to a file is all ok there, and a setting the
// file changes shows (a broker in clear with a password).
func TestDoctorSimWithConfig(t *testing.T) {
	b, err := simhost.Config("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tapagent.toml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, r := runDoctor(t, "--sim", "rpi4", "--config", path)
	for _, f := range r.Findings {
		if f.Status != doctor.OK.String() {
			t.Errorf("%s is %s: %s", f.Check, f.Status, f.Detail)
		}
	}
	if code != 0 || len(r.Findings) == 0 {
		t.Fatalf("exit %d, %d findings", code, len(r.Findings))
	}
	b = append(b, "\n[mqtt]\nbroker = \"tcp://mqtt.example.net:1883\"\nusername = \"1\"\npassword = \"pw\"\n"...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, r := runDoctor(t, "--sim", "rpi4", "--config", path); code == 0 || !hasFinding(r, "mqtt", doctor.Fail.String()) {
		t.Fatalf("a password in clear on the simulated board: exit %d, %+v", code, r.Findings)
	}
}

func hasFinding(r doctorReport, check, status string) bool {
	for _, f := range r.Findings {
		if f.Check == check && f.Status == status {
			return true
		}
	}
	return false
}

// TestDoctorSimFaults: every fault --fault accepts makes the check it
// names fail, and only that check (and the probe of a device whose port
// is gone); each check is reported once, as many as on a healthy board.
func TestDoctorSimFaults(t *testing.T) {
	checks := map[string][]string{
		"wrong-board":    {"board"},
		"pin-busy":       {"gpio"},
		"gpio-root-only": {"permissions"},
		"uart-off":       {"ports", "mdb"},
		"dex-unplugged":  {"ports"},
		"user-groups":    {"permissions"},
		"clock-unsynced": {"clock"},
		"disk-full":      {"disk"},
		"reader-silent":  {"reader"},
		"mdb-silent":     {"mdb"},
	}
	_, healthy := runDoctor(t, "--sim", "rpi4")
	for _, fault := range simhost.Faults() {
		t.Run(fault, func(t *testing.T) {
			want, ok := checks[fault]
			if !ok {
				t.Fatalf("fault %s has no expected check in this table", fault)
			}
			code, r := runDoctor(t, "--sim", "rpi4", "--fault", fault)
			var failed []string
			seen := map[string]bool{}
			for _, f := range r.Findings {
				if seen[f.Check] {
					t.Errorf("check %s reported twice", f.Check)
				}
				seen[f.Check] = true
				if f.Status != doctor.OK.String() {
					failed = append(failed, f.Check)
				}
			}
			if len(r.Findings) != len(healthy.Findings) {
				t.Errorf("%d checks, the healthy run has %d", len(r.Findings), len(healthy.Findings))
			}
			if code != 1 || !slices.Equal(failed, want) {
				t.Fatalf("exit %d, not-ok checks %v; want %v", code, failed, want)
			}
		})
	}
}
