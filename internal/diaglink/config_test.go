package diaglink

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/config"
)

func TestConfigSetterApply(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapagent.toml")
	if err := os.WriteFile(path, []byte("# running config\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `{"version": 7, "toml": "[device]\ndevice_id = 42\n[[line]]\nid = 1\n"}`
	cases := []struct {
		name, path, doc, status, errHas string
	}{
		{"bad json", path, `{"version": 1, "toml": `, "rejected", "desired document"},
		{"empty toml", path, `{"version": 2, "toml": "  "}`, "rejected", "empty"},
		{"unknown key", path, `{"version": 3, "toml": "[device]\nidd = 1\n"}`, "rejected", "idd"},
		{"no file", "", good, "rejected", "without a configuration file"},
		{"accepted", path, good, "accepted", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadFile(path)
			r := ConfigSetter{Path: c.path}.Apply([]byte(c.doc))
			if r.Status != c.status {
				t.Fatalf("status %q, want %q (%+v)", r.Status, c.status, r)
			}
			after, _ := os.ReadFile(path)
			if c.status == "rejected" {
				if !strings.Contains(strings.Join(r.Errors, "; "), c.errHas) {
					t.Errorf("errors %q do not mention %q", r.Errors, c.errHas)
				}
				if string(after) != string(before) {
					t.Errorf("a rejected document changed the file")
				}
				return
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
				t.Errorf("file mode became %v", fi.Mode().Perm())
			}
			if r.Version != 7 || string(after) != "[device]\ndevice_id = 42\n[[line]]\nid = 1\n" {
				t.Errorf("accepted: %+v, file %q", r, after)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tapagent-config-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// FuzzDesired: any document is answered with reasons; one that parses
// gets as far as storing. (No file here: fsync per input would make the
// fuzzer measure the disk; storing is TestConfigSetterApply's job.)
func FuzzDesired(f *testing.F) {
	f.Add([]byte(`{"version": 1, "toml": "[[line]]\nid = 1\n"}`))
	f.Add([]byte(`{"version": 2, "toml": "[device]\ndevice_id = \"x\"\n"}`))
	f.Add([]byte(`{"toml": 5}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		r := ConfigSetter{}.Apply(doc)
		if r.Status != "rejected" || len(r.Errors) == 0 {
			t.Fatalf("no file to store in, yet %+v", r)
		}
		var d Desired
		parses := json.Unmarshal(doc, &d) == nil && strings.TrimSpace(d.TOML) != ""
		if parses {
			_, err := config.Parse([]byte(d.TOML))
			parses = err == nil
		}
		if reachedStore := strings.Contains(r.Errors[0], "without a configuration file"); reachedStore != parses {
			t.Fatalf("parses %v, but the answer was %q", parses, r.Errors)
		}
	})
}

// TestRedactedHidesSecrets: config.get never shows a password or a key.
func TestRedactedHidesSecrets(t *testing.T) {
	c, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	c.TTG.Password, c.POS.APIKey, c.MQTT.Password, c.Control.Token = "pw-ttg", "pw-pos", "pw-mqtt", "pw-control"
	c.Cards.TapKey, c.Cards.ChargerKey, c.Cards.IssuerKey = strings.Repeat("a1", 16), strings.Repeat("a2", 16), strings.Repeat("a0", 16)
	b, _ := json.Marshal(redacted(c))
	for _, secret := range []string{"pw-ttg", "pw-pos", "pw-mqtt", "pw-control", "a1a1", "a2a2", "a0a0", "0000000000000000"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("config.get shows %q", secret)
		}
	}
}
