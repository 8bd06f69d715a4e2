package simwall_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/simwall"
)

// exampleFile is examples/tapagent.toml, the site's file an operator
// starts from, with its data and listeners moved where a test may put
// them.
func exampleFile(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("../examples/tapagent.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.Control.Listen, cfg.POS.Listen, cfg.Web.Listen = "127.0.0.1:0", "127.0.0.1:0", ""
	return cfg
}

func runFile(cfg *config.Config) (string, string, error) {
	var out, logs bytes.Buffer
	_, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Duration: 2 * time.Second, Out: &out,
		Output: simwall.OutputLines, NoTTG: true, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	return out.String(), logs.String(), err
}

// TestSiteFileRunsInTheSim: `tapagent sim --config examples/tapagent.toml`
// issues the simulated deck with the simulator's demo keys when the file
// gives no card keys (and says so), refuses a file with only some of them
// in one line naming the missing ones, and says in one line what to do
// about the MQTT certificates it cannot read.
func TestSiteFileRunsInTheSim(t *testing.T) {
	t.Run("missing mqtt certificates", func(t *testing.T) {
		_, _, err := runFile(exampleFile(t))
		if err == nil || !strings.Contains(err.Error(), "mqtt.ca_file") || !strings.Contains(err.Error(), "--mqtt off") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("err %v, want one line naming mqtt.ca_file and --mqtt off", err)
		}
	})
	t.Run("no card keys: the simulator's", func(t *testing.T) {
		cfg := exampleFile(t)
		cfg.MQTT.Broker = "" // --mqtt off
		out, logs, err := runFile(cfg)
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		if !strings.Contains(logs, "simulator's demo AES keys") || !strings.Contains(out, "reader ready") {
			t.Fatalf("out %s\nlogs %s", out, logs)
		}
		if cfg.Cards.TapKey == "" {
			t.Fatal("the agent reads the deck without the keys it was issued with")
		}
	})
	t.Run("some card keys", func(t *testing.T) {
		cfg := exampleFile(t)
		cfg.MQTT.Broker = ""
		cfg.Cards.IssuerKey = "00112233445566778899aabbccddeeff"
		_, _, err := runFile(cfg)
		if err == nil || !strings.Contains(err.Error(), "cards.tap_key, cards.charger_key not set") || !strings.Contains(err.Error(), "AES") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("the file's own keys and card master key", func(t *testing.T) {
		cfg := exampleFile(t)
		cfg.MQTT.Broker = ""
		cfg.Cards.PICCKey = "0011223344556677"
		cfg.Cards.IssuerKey, cfg.Cards.TapKey, cfg.Cards.ChargerKey = "00112233445566778899aabbccddeeff", "102132435465768798a9babbdcddfeff", "ffeeddccbbaa99887766554433221100"
		out, logs, err := runFile(cfg)
		if err != nil || strings.Contains(logs, "demo AES keys") || !strings.Contains(out, "reader ready") {
			t.Fatalf("%v\nout %s\nlogs %s", err, out, logs)
		}
	})
}
