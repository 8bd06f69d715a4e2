package doctor_test

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/doctor"
	"github.com/tapagent/tapagent/internal/mqtttest"
	"github.com/tapagent/tapagent/sim/simhost"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// peers are a real TTG emulator on loopback and an in-process broker.
type peers struct {
	ttgURL string
	ttg    *ttgserver.Server
	broker string
}

func startPeers(t *testing.T) peers {
	t.Helper()
	srv, err := ttgserver.New(ttgserver.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })

	addr := mqtttest.Broker(t)
	return peers{ttgURL: hs.URL, ttg: srv, broker: "tcp://" + addr}
}

// setup writes a controller's configuration and returns it with a healthy
// simulated board of that model.
func setup(t *testing.T, model string, p peers) (*config.Config, string, *simhost.Board) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tapagent.toml")
	body := `[device]
device_id = 7
data_dir = "/var/lib/tapagent"
[board]
profile = "` + model + `"
[ttg]
url = "` + p.ttgURL + `"
username = "tapagent"
password = "tapagent"
timeout = "2s"
[mqtt]
broker = "` + p.broker + `"
[dex]
port = "/dev/tapagent-dex"
[reader]
port = "/dev/tapagent-reader"
[mdb]
port = "/dev/ttyAMA0"
transport = "uart"
[[line]]
id = 1
[[line]]
id = 2
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := simhost.New(model, "/var/lib/tapagent", dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path, b
}

func run(cfg *config.Config, path string, b *simhost.Board, online bool) doctor.Report {
	o := doctor.Options{Config: cfg, ConfigPath: path, Host: b, User: "tapagent", Timeout: 2 * time.Second}
	if online {
		o.TTG = doctor.TTGProbe(cfg, slog.New(slog.DiscardHandler))
		o.MQTT = doctor.MQTTProbe(cfg)
	}
	o.Reader = b.ReaderProbe
	o.MDB = func(ctx context.Context) (string, error) {
		bus, end, err := b.TerminalBus(ctx, transport.MDBAddress(cfg.MDB))
		if err != nil {
			return "", err
		}
		defer end()
		m := transport.MDBMaster(cfg, bus, "")
		m.Poll = time.Millisecond
		return doctor.AskTerminal(ctx, m)
	}
	return doctor.Run(context.Background(), o)
}

// normalise takes out what changes from run to run: times, temp dirs, ports.
func normalise(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "$CONF")
	s = regexp.MustCompile(`answered in \d+ ms`).ReplaceAllString(s, "answered in N ms")
	s = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(s, "127.0.0.1:PORT")
	return s
}

// TestHealthyBoards: both Raspberry Pi profiles on their own boards, with
// the server and the broker up, pass every check (golden output).
func TestHealthyBoards(t *testing.T) {
	p := startPeers(t)
	for _, model := range []string{"rpi4", "rpi5"} {
		t.Run(model, func(t *testing.T) {
			cfg, path, b := setup(t, model, p)
			r := run(cfg, path, b, true)
			var out bytes.Buffer
			r.Write(&out)
			if r.Worst() != doctor.OK {
				t.Fatalf("healthy board:\n%s", out.String())
			}
			got := normalise(out.String(), filepath.Dir(path))
			golden := filepath.Join("testdata", model+".golden")
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil || got != string(want) {
				t.Fatalf("output differs from %s (go test -update):\n%s", golden, got)
			}
		})
	}
}

// TestInjectedFaults: each fault a technician meets is named, graded and
// comes with a fix, and the other checks stay green; every check reports
// once, as many as on a healthy board.
func TestInjectedFaults(t *testing.T) {
	p := startPeers(t)
	healthyCfg, healthyPath, healthyBoard := setup(t, "rpi4", p)
	healthy := len(run(healthyCfg, healthyPath, healthyBoard, true).Findings)
	tests := []struct {
		fault  string // simhost fault, or a peer fault below
		check  string
		status doctor.Status
		detail string
		fix    string
		also   string // a check the fault rightly upsets too
	}{
		{"wrong-board", "board", doctor.Fail, "this board is raspberrypi,3-model-b-plus", "write a profile", ""},
		{"pin-busy", "gpio", doctor.Fail, `line 1 meter: gpiochip0:17 is held by "w1-gpio"`, "remove the overlay", ""},
		{"gpio-root-only", "permissions", doctor.Fail, "GPIO chip /dev/gpiochip0", "usermod -aG gpio tapagent", ""},
		{"uart-off", "ports", doctor.Fail, "MDB terminal (mdb.port) /dev/ttyAMA0: not present", "dtoverlay=disable-bt", "mdb"},
		{"mdb-silent", "mdb", doctor.Fail, "/dev/ttyAMA0: mdb: reader 10 does not answer RESET", "mdb.port", ""},
		{"dex-unplugged", "ports", doctor.Fail, "DEX port (dex.port) /dev/tapagent-dex: not present", "61-tapagent-local.rules", ""},
		{"user-groups", "permissions", doctor.Fail, "DEX port /dev/tapagent-dex", "usermod -aG dialout tapagent", ""},
		{"clock-unsynced", "clock", doctor.Fail, "not synchronised", "timedatectl set-ntp true", ""},
		{"disk-full", "disk", doctor.Fail, "12 MiB free", "free space", ""},
		{"server-down", "ttg", doctor.Fail, "login", "ttg.url", ""},
		{"bad-password", "ttg", doctor.Fail, "login", "ttg.password", ""},
		{"reader-silent", "reader", doctor.Fail, "/dev/tapagent-reader: pn532 command 02: no ACK", "reader.port", ""},
		{"broker-down", "mqtt", doctor.Fail, "connect", "mqtt.broker", ""},
		{"rpi5-profile-on-rpi4", "board", doctor.Fail, "profile rpi5 is for raspberrypi,5-model-b", `set board.profile = "rpi4"`, "gpio"},
		{"no-device-tree", "board", doctor.Warn, "cannot be confirmed", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			cfg, path, b := setup(t, "rpi4", p)
			switch tc.fault {
			case "server-down":
				p.ttg.SetFaults(ttgserver.Faults{FailAll: true})
				defer p.ttg.SetFaults(ttgserver.Faults{})
			case "bad-password":
				cfg.TTG.Password = "wrong"
			case "broker-down":
				cfg.MQTT.Broker = "tcp://127.0.0.1:1"
			case "rpi5-profile-on-rpi4":
				cfg.Board.Profile = "rpi5"
			case "no-device-tree":
				b.NoDT = true
			default:
				if err := b.Inject(tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			r := run(cfg, path, b, true)
			var out bytes.Buffer
			r.Write(&out)
			assertOncePerCheck(t, r, healthy)
			var hit bool
			for _, f := range r.Findings {
				if f.Check == tc.check && f.Status == tc.status &&
					strings.Contains(f.Detail, tc.detail) && strings.Contains(f.Fix, tc.fix) {
					hit = true
				}
				if f.Status != doctor.OK && f.Check != tc.check && f.Check != tc.also {
					t.Errorf("fault %s also upset %s: %+v", tc.fault, f.Check, f)
				}
			}
			if !hit {
				t.Fatalf("no %s %s finding with %q and fix %q:\n%s", tc.status, tc.check, tc.detail, tc.fix, out.String())
			}
			if r.Worst() != tc.status {
				t.Fatalf("worst %s, want %s", r.Worst(), tc.status)
			}
		})
	}
}

// TestOffline: without probes the network checks say they were skipped,
// and a peer that is not configured is not an error.
func TestOffline(t *testing.T) {
	p := startPeers(t)
	cfg, path, b := setup(t, "rpi4", p)
	cfg.MQTT.Broker = ""
	r := run(cfg, path, b, false)
	got := map[string]doctor.Finding{}
	for _, f := range r.Findings {
		got[f.Check] = f
	}
	if f := got["ttg"]; f.Status != doctor.Warn || !strings.Contains(f.Detail, "not checked (offline)") {
		t.Fatalf("ttg offline: %+v", f)
	}
	if f := got["mqtt"]; f.Status != doctor.OK || f.Detail != "not configured" {
		t.Fatalf("mqtt not configured: %+v", f)
	}
}

func TestUnknownFault(t *testing.T) {
	b, _ := simhost.New("rpi4", "/d", "/c")
	if err := b.Inject("gremlins"); err == nil || !strings.Contains(err.Error(), "disk-full") {
		t.Fatalf("unknown fault should list the known ones: %v", err)
	}
	if _, err := simhost.New("vax", "/d", "/c"); err == nil {
		t.Fatal("unknown model accepted")
	}
}

// TestRefusedSettingsAreShown: settings the agent runs with but refuses
// one part for (a password in clear, a file:// manifest) are findings,
// with or without the network.
func TestRefusedSettingsAreShown(t *testing.T) {
	p := startPeers(t)
	cfg, path, b := setup(t, "rpi4", p)
	cfg.MQTT.Broker, cfg.MQTT.Username, cfg.MQTT.Password = "tcp://mqtt.example.net:1883", "1001", "pw"
	cfg.Firmware.ManifestURL = "file:///var/lib/tapagent/manifest.json"
	for _, online := range []bool{false, true} {
		r := run(cfg, path, b, online)
		want := map[string]doctor.Status{"mqtt": doctor.Fail, "firmware": doctor.Warn}
		for _, f := range r.Findings {
			if s, ok := want[f.Check]; ok && f.Status == s && strings.Contains(f.Detail, map[string]string{"mqtt": "in clear", "firmware": "allow_file_urls"}[f.Check]) {
				delete(want, f.Check)
			}
		}
		if len(want) > 0 {
			var out bytes.Buffer
			r.Write(&out)
			t.Fatalf("online %v: missing %v in\n%s", online, want, out.String())
		}
	}
}

// TestInstallerWithoutKeyWarns: an installer without a release key can
// never install anything (every update is refused): the doctor says so.
func TestInstallerWithoutKeyWarns(t *testing.T) {
	p := startPeers(t)
	cfg, path, b := setup(t, "rpi4", p)
	cfg.Firmware.Installer = []string{"/usr/lib/tapagent/install"}
	found := false
	for _, f := range run(cfg, path, b, false).Findings {
		if f.Check == "firmware" && f.Status == doctor.Warn && strings.Contains(f.Detail, "public_key is empty") {
			found = true
		}
	}
	if !found {
		t.Fatal("no warning for an installer without firmware.public_key")
	}
	cfg.Firmware.PublicKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	for _, f := range run(cfg, path, b, false).Findings {
		if f.Check == "firmware" {
			t.Fatalf("with a key: %+v", f)
		}
	}
}

// assertOncePerCheck fails unless r has want findings, no check twice.
func assertOncePerCheck(t *testing.T, r doctor.Report, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if seen[f.Check] {
			t.Errorf("check %s reported twice", f.Check)
		}
		seen[f.Check] = true
	}
	if len(r.Findings) != want {
		t.Errorf("%d findings, a healthy board has %d", len(r.Findings), want)
	}
}

// TestProbeOfAMissingPort: a device whose configured port is absent is not
// reported as answering, whatever answers the probe.
func TestProbeOfAMissingPort(t *testing.T) {
	p := startPeers(t)
	cfg, path, b := setup(t, "rpi4", p)
	if err := b.Inject("uart-off"); err != nil {
		t.Fatal(err)
	}
	r := run(cfg, path, b, true)
	for _, f := range r.Findings {
		if f.Check == "mdb" && (f.Status != doctor.Fail || !strings.Contains(f.Detail, "/dev/ttyAMA0: not probed, the port is not present")) {
			t.Fatalf("mdb with its port missing: %+v", f)
		}
	}
}
