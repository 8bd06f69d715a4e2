package diagcmd

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/firmware"
)

// TestPackagedDefaultIsSafe: the configuration the package installs, with
// the broker and the update installer turned on as its comments say, lets
// a broker client neither configure the device nor install firmware (the
// command table's refusals are diag's TestSignedCommands).
func TestPackagedDefaultIsSafe(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join("..", "..", "packaging", "tapagent.toml"))
	if err != nil {
		t.Fatal(err)
	}
	toml := string(shipped) + "\n[mqtt]\nbroker = \"ssl://mqtt.example.net:8883\"\nusername = \"1\"\n" +
		"[firmware]\ninstaller = [\"/usr/bin/tapagent\", \"firmware\", \"request\"]\n"
	path := filepath.Join(t.TempDir(), "tapagent.toml")
	if err := os.WriteFile(path, []byte(toml), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.MQTT.OperatorKeys) != 0 || cfg.MQTT.AcceptUnsignedConfig || cfg.Firmware.PublicKey != "" || cfg.Firmware.AllowFileURLs {
		t.Fatalf("shipped defaults: %+v %+v", cfg.MQTT, cfg.Firmware)
	}
	cfg.Device.DataDir = t.TempDir()
	u, err := NewUpdater(Parts{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	r := firmware.Request{URL: "https://updates.example/t.deb", SHA256: strings.Repeat("ab", 32), Version: "6.6.6"}
	if err := u.Start(context.Background(), r, nil); !errors.Is(err, firmware.ErrNoKey) {
		t.Fatalf("firmware without a release key: %v", err)
	}
	doc, _ := json.Marshal(Desired{Version: 1, TOML: strings.Replace(toml, "price = 650", "price = 1", 1)})
	keys, _ := cfg.MQTT.Operators()
	rep := ConfigSetter{Path: path, DeviceID: cfg.Device.ID, Keys: keys, AcceptUnsigned: cfg.MQTT.AcceptUnsignedConfig}.Apply(doc, false)
	if rep.Status != "rejected" || !strings.Contains(strings.Join(rep.Errors, ";"), "not signed") {
		t.Fatalf("an unsigned price change: %+v", rep)
	}
}
