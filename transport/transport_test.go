package transport

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/payment/mdb"
)

// TestNothingConfigured: every opener says which key to set, and opens
// nothing, when the configuration names no port.
func TestNothingConfigured(t *testing.T) {
	_, err1 := ReaderPort(config.Reader{}, "")
	_, err2 := OpenMDB(context.Background(), config.MDB{}, "")
	_, err3 := OpenEXE(config.EXE{}, "")
	_, err4 := OpenDEX(config.DEX{})
	for i, c := range []struct {
		err error
		key string
	}{{err1, "[reader]"}, {err2, "[mdb] port"}, {err3, "[exe] port"}, {err4, "[dex] port"}} {
		if !errors.Is(c.err, ErrNotConfigured) || !strings.Contains(c.err.Error(), c.key) {
			t.Errorf("opener %d: %v", i, c.err)
		}
	}
}

// TestMDBMaster: tapagent's VMC identity from the configuration.
func TestMDBMaster(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.ID, cfg.MDB.Device = 1001, 2
	m := MDBMaster(cfg, nil, "1.12.3")
	if m.Addr != mdb.Cashless2 || string(m.ID.Manufacturer[:]) != "TAP" || string(m.ID.Serial[:]) != "000000001001" || m.ID.Software != 0x0112 {
		t.Fatalf("%+v", m.ID)
	}
	for v, want := range map[string]uint16{"dev": 0, "2.0": 0x0200, "100.1": 0, "v1.2": 0} {
		if got := bcdVersion(v); got != want {
			t.Errorf("bcdVersion(%q) = %04x, want %04x", v, got, want)
		}
	}
}

// TestMQTTTLS: plain without files, a clear error for a CA file that is
// missing or holds no certificate.
func TestMQTTTLS(t *testing.T) {
	if c, err := MQTTTLS(config.MQTT{}); c != nil || err != nil {
		t.Fatalf("plain: %v %v", c, err)
	}
	if _, err := MQTTTLS(config.MQTT{CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil || !strings.Contains(err.Error(), "mqtt.ca_file") {
		t.Fatalf("missing CA file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := MQTTTLS(config.MQTT{CAFile: bad}); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Fatalf("CA file without a certificate: %v", err)
	}
}

// A port that cannot be opened is named as what it is for.
func TestOpenErrorsNameThePort(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ttyNONE")
	if _, err := OpenScanner(config.SmartNow{Scanner: missing}); err == nil ||
		!strings.HasPrefix(err.Error(), "scanner: serial port "+missing) {
		t.Errorf("scanner: %v", err)
	}
	if _, err := OpenDEX(config.DEX{Port: missing}); err == nil || !strings.HasPrefix(err.Error(), "dex: serial port "+missing) {
		t.Errorf("dex: %v", err)
	}
}
