package main

import (
	"crypto/ed25519"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/diag"
)

const shortPour = `
name = "short pour"
duration = "60s"
[[step]]
at = "1s"
line = 1
action = "authorise"
[[step]]
at = "1.2s"
line = 1
action = "pour"
flow_ml_s = 60
duration = "4s"
`

// TestHomeAssistantDiscoveryAndKegChangeOverMQTT: with [mqtt]
// homeassistant = true the simulator publishes, retained, a discovery
// document per entity (keg level, line state, last pour) with the agent's
// status as availability and keeps each line's state current; a signed
// keg.change through the broker changes the keg and the state follows.
func TestHomeAssistantDiscoveryAndKegChangeOverMQTT(t *testing.T) {
	addr := mqttBroker(t)
	tech := technician(t, addr)
	var mu sync.Mutex
	got := map[string]string{}
	ha := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("homeassistant"))
	if tok := ha.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer ha.Disconnect(100)
	ha.Subscribe("homeassistant/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got[m.Topic()] = string(m.Payload())
		mu.Unlock()
	}).Wait()
	key, _, cfgPath := operator(t, "homeassistant = true")
	sc := filepath.Join(t.TempDir(), "short.toml")
	writeFile(t, sc, shortPour)
	cmd := exec.Command(binary, "sim", "--plain", "--speed", "1", "--no-ttg", "--scenario", sc, "--data", t.TempDir(), "--mqtt", "tcp://"+addr, "--config", cfgPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	tech.waitFor(t, "tapagent/v1/1001/status", `"state":"online"`)
	state := tech.waitFor(t, "tapagent/v1/1001/ha/line/1", `"last_pour_kind":"pour"`)
	var st map[string]any
	if err := json.Unmarshal([]byte(state), &st); err != nil || st["last_pour_ml10"].(float64) < 2000 || st["keg_permille"].(float64) >= 1000 {
		t.Fatalf("line state %s", state)
	}
	mu.Lock()
	n := len(got)
	doc := got["homeassistant/sensor/tapagent_1001/line1_keg/config"]
	mu.Unlock()
	if n != 12 || !strings.Contains(doc, `"availability_topic":"tapagent/v1/1001/status"`) || !strings.Contains(doc, `"unit_of_measurement":"%"`) {
		t.Fatalf("%d discovery documents; keg: %s", n, doc)
	}
	if res := tech.call(t, "k0", "keg.change", `{"line": 2, "size": "30L"}`); res["status"].(float64) != 403 {
		t.Fatalf("unsigned keg.change: %v", res)
	}
	if res := tech.signedCall(t, key, "k1", "keg.change", `{"line": 2, "size": "30L", "by": "anna"}`); res["status"].(float64) != 200 {
		t.Fatalf("keg.change: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/ha/line/2", `"keg_remaining_ml10":300000`)
	// The audit names the key that signed the change beside the name the
	// params claim.
	res := tech.signedCall(t, key, "k2", "pours.query", `{"kinds": ["operation"], "line": 2}`)
	want := "mqtt " + diag.KeyID(key.Public().(ed25519.PublicKey))
	if b, _ := json.Marshal(res["body"]); res["status"].(float64) != 200 || !strings.Contains(string(b), `"name":"anna"`) ||
		!strings.Contains(string(b), `"via":"`+want+`"`) {
		t.Fatalf("the keg change's audit: %v, want by anna via %q", res, want)
	}
}
