package telemetron

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/evadts"
)

// TestSnapshotHasNoSecret: every secret the configuration holds, in any
// section, is absent from the snapshot; the rest is there.
func TestSnapshotHasNoSecret(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]*string{"ttg": &cfg.TTG.Password, "pos": &cfg.POS.APIKey, "control": &cfg.Control.Token,
		"mqtt": &cfg.MQTT.Password, "picc": &cfg.Cards.PICCKey, "issuer": &cfg.Cards.IssuerKey, "tap": &cfg.Cards.TapKey,
		"charger": &cfg.Cards.ChargerKey, "smartnow": &cfg.SmartNow.Password, "telemetron": &cfg.Telemetron.Password,
		"client": &cfg.Telemetron.ClientSecret, "metrics": &cfg.Web.MetricsToken}
	for name, p := range secrets {
		*p = "SECRET-" + name
	}
	cfg.MQTT.Broker = "tcp://diag:SECRET-broker@10.0.0.9:1883"
	cfg.MQTT.OperatorKeys = []string{"SECRET-operator"}
	doc, err := Snapshot(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "SECRET") {
		t.Fatalf("the snapshot carries a secret: %s", raw)
	}
	mqtt, _ := doc["mqtt"].(map[string]any)
	lines, _ := doc["line"].([]any)
	if mqtt["broker"] != "tcp://10.0.0.9:1883" || len(lines) != len(cfg.Lines) || doc["device"] == nil {
		t.Fatalf("snapshot %s", raw)
	}
}

// TestCP1251Table: every letter the audit writes as Windows-1251 reads
// back as the same letter.
func TestCP1251Table(t *testing.T) {
	for _, r := range "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюяЁё" {
		var esc strings.Builder
		buf := make([]byte, 4)
		for _, b := range buf[:utf8.EncodeRune(buf, r)] {
			fmt.Fprintf(&esc, "^%02X^", b)
		}
		cp := evadts.Encode([]byte(esc.String()), true, false)
		if len(cp) != 1 || fromCP1251(cp) != string(r) {
			t.Errorf("%c: cp1251 %x reads %q", r, cp, fromCP1251(cp))
		}
	}
}

// TestEncodeReport: the three encodings carry the same Windows-1251 file,
// with the query flags that say how.
func TestEncodeReport(t *testing.T) {
	raw := []byte("DXS*TAP0000001*VA*V0/6*1\r\nPA101*101*^D0^^9F^^D0^^B8^^D0^^B2^^D0^^BE^\r\nDXE*1*1\r\n")
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	text, q, err := EncodeReport(raw, at, nil, 1, config.ReportText)
	if err != nil || len(q) != 0 || !strings.Contains(text.Data, "PA101*101*Пиво\r\n") || text.Date != "2026-12-01T12:00:00Z" || text.Port != 1 {
		t.Fatalf("text %+v %v %v", text, q, err)
	}
	b64, q, err := EncodeReport(raw, at, nil, 1, config.ReportBase64)
	dec, _ := base64.StdEncoding.DecodeString(b64.Data)
	if err != nil || q.Encode() != "base64=1" || string(dec) != text.Data {
		t.Fatalf("base64 %q %v %v", dec, q, err)
	}
	cp, q, err := EncodeReport(raw, at, nil, 1, config.ReportCP1251Base64)
	dec, _ = base64.StdEncoding.DecodeString(cp.Data)
	if err != nil || q.Encode() != "base64=1&cp1251=1" || fromCP1251(dec) != text.Data || !strings.Contains(string(dec), "\xcf\xe8\xe2\xee") {
		t.Fatalf("cp1251 %q %v %v", dec, q, err)
	}
	if _, _, err := EncodeReport(raw, at, nil, 1, "cp1251"); err == nil {
		t.Fatal("cp1251 without base64 accepted")
	}
}
