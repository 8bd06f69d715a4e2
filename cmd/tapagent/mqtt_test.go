package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/tapagent/tapagent/internal/mqtttest"
)

// inboxClient is a technician's MQTT client.
type inboxClient struct {
	c  mqtt.Client
	mu sync.Mutex
	m  map[string][]string
}

func mqttBroker(t *testing.T) string { return mqtttest.Broker(t) }

func technician(t *testing.T, addr string) *inboxClient {
	ic := &inboxClient{m: map[string][]string{}}
	ic.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("tech"))
	if tok := ic.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	ic.c.Subscribe("tapagent/v1/1001/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		ic.mu.Lock()
		ic.m[m.Topic()] = append(ic.m[m.Topic()], string(m.Payload()))
		ic.mu.Unlock()
	}).Wait()
	t.Cleanup(func() { ic.c.Disconnect(100) })
	return ic
}

func (ic *inboxClient) waitFor(t *testing.T, topic, substr string) string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ic.mu.Lock()
		msgs := ic.m[topic]
		ic.mu.Unlock()
		for i := len(msgs) - 1; i >= 0; i-- {
			if strings.Contains(msgs[i], substr) {
				return msgs[i]
			}
		}
	}
	t.Fatalf("nothing on %s containing %q", topic, substr)
	return ""
}

func (ic *inboxClient) call(t *testing.T, id, method, params string) map[string]any {
	t.Helper()
	req := fmt.Sprintf(`{"method": %q, "params": %s}`, method, params)
	ic.c.Publish("tapagent/v1/1001/cmd/req/"+id, 1, false, req).Wait()
	var res map[string]any
	json.Unmarshal([]byte(ic.waitFor(t, "tapagent/v1/1001/cmd/res/"+id, "status")), &res)
	return res
}

func TestMQTTDiagnosticsAndWillAfterKill(t *testing.T) {
	addr := mqttBroker(t)
	tech := technician(t, addr)
	data := t.TempDir()
	sc := filepath.Join(t.TempDir(), "long.toml")
	writeFile(t, sc, longPour)
	start := func() *exec.Cmd {
		cmd := exec.Command(binary, "sim", "--plain", "--speed", "1", "--no-ttg", "--scenario", sc, "--data", data, "--mqtt", "tcp://"+addr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	tech.waitFor(t, "tapagent/v1/1001/status", `"state":"online","session":1`)
	if res := tech.call(t, "p1", "diag.ping", "{}"); res["status"].(float64) != 200 {
		t.Fatalf("ping: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/events", `"type":"reader_ready"`)
	if res := tech.call(t, "s1", "diag.snapshot", "{}"); res["status"].(float64) != 200 || !strings.Contains(fmt.Sprint(res["body"]), "Helles") || !strings.Contains(fmt.Sprint(res["body"]), "PN532 v1.6") {
		t.Fatalf("snapshot: %v", res)
	}
	res := tech.call(t, "d1", "dex.report", `{"read": true, "base64": true}`)
	body, _ := res["body"].([]any)
	if res["status"].(float64) != 200 || len(body) != 1 {
		t.Fatalf("dex.report: %v", res)
	}
	rep, _ := base64.StdEncoding.DecodeString(body[0].(map[string]any)["data"].(string))
	if !strings.HasPrefix(string(rep), "DXS*TAP0001001") {
		t.Fatalf("report over MQTT: %q", rep)
	}
	if res := tech.call(t, "l1", "line.lock", `{"line": 9}`); res["status"].(float64) != 404 {
		t.Fatalf("lock of a missing line: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/events", `"type":"pour_authorised"`)
	// Service mode: a valve test only on a locked line.
	if res := tech.call(t, "v1", "valve.test", `{"line": 4, "seconds": 1}`); res["status"].(float64) != 409 {
		t.Fatalf("valve test on a line in service to customers: %v", res)
	}
	tech.call(t, "l4", "line.lock", `{"line": 4}`)
	if res := tech.call(t, "v2", "valve.test", `{"line": 4, "seconds": 1}`); res["status"].(float64) != 202 {
		t.Fatalf("valve test: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/events", `"line":4,"pour_id"`)
	tech.call(t, "u4", "line.unlock", `{"line": 4}`)
	// The simulator has no configuration file to keep a desired one in.
	if res := tech.call(t, "c1", "config.set", `{"version": 1, "toml": "[[line]]\nid = 1\n"}`); res["status"].(float64) != 400 ||
		!strings.Contains(fmt.Sprint(res["body"]), "without a configuration file") {
		t.Fatalf("config.set in the simulator: %v", res)
	}
	// The technician's tool against the same broker.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"diag", "devices", "--broker", "tcp://" + addr}, "1001\tonline\tsession 1"},
		{[]string{"diag", "call", "--broker", "tcp://" + addr, "--device", "1001", "outbox.stats"}, `"waiting"`},
		{[]string{"diag", "call", "--broker", "tcp://" + addr, "--device", "1001", "backlight.set", `{"brightness": 30}`}, `"brightness": 30`},
		{[]string{"diag", "call", "--broker", "tcp://" + addr, "--device", "1001", "db.check"}, `"ok": true`},
		{[]string{"diag", "call", "--broker", "tcp://" + addr, "--device", "1001", "logs.tail", `{"n": 50}`}, `agent_started`},
		{[]string{"diag", "status", "--broker", "tcp://" + addr, "--device", "1001", "--timeout", "1s"}, `"state":"online"`},
	} {
		out, err := exec.Command(binary, c.args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: %v\n%s", c.args, err, out)
		}
	}
	if out, err := exec.Command(binary, "diag", "call", "--broker", "tcp://"+addr, "--device", "1001", "no.such").CombinedOutput(); err == nil || !strings.Contains(string(out), "404") {
		t.Errorf("unknown method: %v %s", err, out)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	tech.waitFor(t, "tapagent/v1/1001/status", `"state":"offline","session":1`)
	cmd = start()
	tech.waitFor(t, "tapagent/v1/1001/status", `"state":"online","session":2`)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	tech.waitFor(t, "tapagent/v1/1001/status", `"state":"offline","session":2`)
}

// TestMQTTFirmwareUpdateAndConfigSet: a bench wall with a configuration
// file takes a desired configuration into that file, and a firmware update
// drains the wall, hands over to the installer and reports every step.
func TestMQTTFirmwareUpdateAndConfigSet(t *testing.T) {
	addr := mqttBroker(t)
	tech := technician(t, addr)
	dir := t.TempDir()
	base, err := os.ReadFile(filepath.Join("..", "..", "config", "sim.toml"))
	if err != nil {
		t.Fatal(err)
	}
	installer := filepath.Join(dir, "install.sh")
	writeFile(t, installer, "#!/bin/sh\necho \"installing $TAPAGENT_FIRMWARE_URL\"\ncp \"$TAPAGENT_FIRMWARE_FILE\" \""+dir+"/installed\"\n")
	rel := filepath.Join(dir, "tapagent-1.2.0")
	writeFile(t, rel, "release 1.2.0\n")
	sum := sha256.Sum256([]byte("release 1.2.0\n"))
	if err := os.Chmod(installer, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "bench.toml")
	writeFile(t, cfgPath, string(base)+fmt.Sprintf("\n[firmware]\ninstaller = [%q]\n", installer))
	cmd := exec.Command(binary, "sim", "--plain", "--speed", "1", "--no-ttg", "--scenario", "none", "--duration", "60s",
		"--config", cfgPath, "--data", filepath.Join(dir, "data"), "--mqtt", "tcp://"+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	tech.waitFor(t, "tapagent/v1/1001/status", `"state":"online"`)

	bad, _ := json.Marshal(map[string]any{"version": 2, "toml": string(base) + "\n[firmware]\ninstall_timeout = \"0s\"\n"})
	if res := tech.call(t, "c1", "config.set", string(bad)); res["status"].(float64) != 400 || !strings.Contains(fmt.Sprint(res["body"]), "firmware.install_timeout") {
		t.Fatalf("invalid desired configuration: %v", res)
	}
	newCfg := string(base) + "\n[firmware]\ninstaller = [\"/usr/local/sbin/tapagent-install\"]\n"
	good, _ := json.Marshal(map[string]any{"version": 3, "toml": newCfg})
	if res := tech.call(t, "c2", "config.set", string(good)); res["status"].(float64) != 202 {
		t.Fatalf("valid desired configuration: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/config/reported", `"version":3,"status":"accepted"`)
	if b, _ := os.ReadFile(cfgPath); string(b) != newCfg {
		t.Fatal("the accepted configuration is not in the file")
	}

	if res := tech.call(t, "f1", "firmware.update", `{"url": "https://updates.example/t-1.2.0", "sha256": "00", "version": "1.2.0"}`); res["status"].(float64) != 400 {
		t.Fatalf("bad checksum accepted: %v", res)
	}
	req := fmt.Sprintf(`{"url": "file://%s", "sha256": "%x", "version": "1.2.0"}`, rel, sum)
	if res := tech.call(t, "f2", "firmware.update", req); res["status"].(float64) != 202 {
		t.Fatalf("firmware.update: %v", res)
	}
	for _, step := range []string{`"detail":"checksum verified"`, `"detail":"draining`, `"detail":"installer: installing file://`, `"type":"firmware_installed"`} {
		tech.waitFor(t, "tapagent/v1/1001/events", step)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "installed")); string(b) != "release 1.2.0\n" {
		t.Fatalf("installer wrote %q", b)
	}
}
