package diagcmd

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/storage"
)

func TestConfigSetterApply(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapagent.toml")
	running := "# running config\n[device]\ndevice_id = 42\n[[line]]\nid = 1\n"
	pub, priv := operatorKey(1)
	_, stranger := operatorKey(2)
	good := `{"version": 7, "toml": "[device]\ndevice_id = 42\n[[line]]\nid = 1\nidle_timeout = \"9s\"\n"}`
	price := `{"version": 7, "toml": "[device]\ndevice_id = 42\n[[line]]\nid = 1\nprice = 1\nnon_alcoholic = true\n"}`
	newKeyTOML := "[device]\ndevice_id = 42\n[mqtt]\noperator_keys = [\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"]\n[[line]]\nid = 1\n"
	newKey, _ := json.Marshal(Desired{Version: 9, TOML: newKeyTOML})
	evilTOML := "[device]\ndevice_id = 42\n[firmware]\ninstaller = [\"/bin/sh\", \"-c\", \"id > /tmp/owned\"]\n[pos]\nlisten = \"0.0.0.0:8080\"\napi_key = \"attacker-chosen-key-0123\"\n[ttg]\nurl = \"http://evil.example\"\n[[line]]\nid = 1\n"
	signedDoc := func(key ed25519.PrivateKey, device int64, toml string) string {
		d := Desired{Version: 8, TOML: toml}
		SignDesired(key, device, &d)
		b, _ := json.Marshal(d)
		return string(b)
	}
	evil, _ := json.Marshal(Desired{Version: 8, TOML: evilTOML})
	cases := []struct {
		name, path, doc string
		signed          bool
		status, errHas  string
		strict          bool // accept_unsigned_config off
	}{
		{"unsigned, strict", path, good, false, "rejected", "not signed", true},
		{"installer unsigned, strict", path, string(evil), false, "rejected", "firmware.installer: security-critical", true},
		{"signed document, strict", path, signedDoc(priv, 42, evilTOML), false, "accepted", "", true},
		{"bad json", path, `{"version": 1, "toml": `, false, "rejected", "desired document", false},
		{"empty toml", path, `{"version": 2, "toml": "  "}`, false, "rejected", "empty", false},
		{"unknown key", path, `{"version": 3, "toml": "[device]\nidd = 1\n"}`, false, "rejected", "idd", false},
		{"no file", "", good, false, "rejected", "without a configuration file", false},
		{"installer unsigned", path, string(evil), false, "rejected", "firmware.installer: security-critical", false},
		{"listener unsigned", path, string(evil), false, "rejected", "pos.listen: security-critical", false},
		{"server unsigned", path, string(evil), false, "rejected", "ttg.url: security-critical", false},
		{"signed by a stranger", path, signedDoc(stranger, 42, evilTOML), false, "rejected", "does not verify", false},
		{"signed for another device", path, signedDoc(priv, 43, evilTOML), false, "rejected", "does not verify", false},
		{"accepted", path, good, false, "accepted", "", false},
		{"signed document", path, signedDoc(priv, 42, evilTOML), false, "accepted", "", false},
		{"signed command", path, string(evil), true, "accepted", "", false},
		{"price and age unsigned", path, price, false, "rejected", "line.price: security-critical", false},
		{"age unsigned", path, price, false, "rejected", "line.non_alcoholic: security-critical", false},
		{"operator keys in a signed document", path, signedDoc(priv, 42, newKeyTOML), false, "rejected", "mqtt.operator_keys: set only in the configuration file", false},
		{"operator keys in a signed command", path, string(newKey), true, "rejected", "mqtt.operator_keys: set only in the configuration file", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(running), 0o644); err != nil {
				t.Fatal(err)
			}
			r := ConfigSetter{Path: c.path, DeviceID: 42, Keys: []ed25519.PublicKey{pub}, AcceptUnsigned: !c.strict}.Apply([]byte(c.doc), c.signed)
			if r.Status != c.status {
				t.Fatalf("status %q, want %q (%+v)", r.Status, c.status, r)
			}
			after, _ := os.ReadFile(path)
			if c.status == "rejected" {
				if !strings.Contains(strings.Join(r.Errors, "; "), c.errHas) {
					t.Errorf("errors %q do not mention %q", r.Errors, c.errHas)
				}
				if string(after) != running {
					t.Errorf("a rejected document changed the file")
				}
				return
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
				t.Errorf("file mode became %v", fi.Mode().Perm())
			}
			var d Desired
			json.Unmarshal([]byte(c.doc), &d)
			if r.Version != d.Version || string(after) != d.TOML {
				t.Errorf("accepted: %+v, file %q", r, after)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tapagent-config-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func operatorKey(n byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
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
		r := ConfigSetter{}.Apply(doc, false)
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

// TestDesiredNeverGoesBack: an older document, even one an operator
// signed (replayed from a capture), does not take the file back; the
// accepted one again (a retained document at reconnect) is answered
// accepted without writing the file again, so local edits made since stay;
// another file under an accepted version is refused. An unsigned document
// never holds back signed ones, whatever version it names.
func TestDesiredNeverGoesBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapagent.toml")
	if err := os.WriteFile(path, []byte("[device]\ndevice_id = 42\n[[line]]\nid = 1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(dir, "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub, priv := operatorKey(1)
	doc := func(v int64, idle string, sign bool) []byte {
		d := Desired{Version: v, TOML: fmt.Sprintf("[device]\ndevice_id = 42\n[[line]]\nid = 1\nidle_timeout = %q\n", idle)}
		if sign {
			SignDesired(priv, 42, &d)
		}
		b, _ := json.Marshal(d)
		return b
	}
	c := ConfigSetter{Path: path, DeviceID: 42, Keys: []ed25519.PublicKey{pub}, Store: st, AcceptUnsigned: true}
	const localEdit = "# the technician's key removed by hand\n"
	for _, step := range []struct {
		name     string
		doc      []byte
		status   string
		fileHas  string
		editFile bool
	}{
		{"first", doc(5, "7s", true), "accepted", "7s", true},
		{"the same again, after a local edit", doc(5, "7s", true), "accepted", localEdit, false},
		{"another file under the same version", doc(5, "8s", true), "rejected", localEdit, false},
		{"older", doc(4, "4s", true), "rejected", localEdit, false},
		{"unsigned, the highest version", doc(math.MaxInt64, "9s", false), "accepted", "9s", false},
		{"signed after it", doc(6, "6s", true), "accepted", "6s", false},
		{"unsigned older than the unsigned one", doc(math.MaxInt64-1, "3s", false), "rejected", "6s", false},
	} {
		r := c.Apply(step.doc, false)
		b, _ := os.ReadFile(path)
		if r.Status != step.status || !strings.Contains(string(b), step.fileHas) {
			t.Fatalf("%s: %+v, file %q; want %s with %q", step.name, r, b, step.status, step.fileHas)
		}
		if step.editFile {
			if err := os.WriteFile(path, append([]byte(localEdit), b...), 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRetainedDocumentAfterKeyRemoved: a technician's key removed by hand
// stays removed when the retained document that listed it comes again at
// a reconnect (answered accepted, not written); a new signed document that
// lists it again is refused.
func TestRetainedDocumentAfterKeyRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tapagent.toml")
	pub, priv := operatorKey(1)
	leaver, _ := operatorKey(2)
	keys := func(ks ...ed25519.PublicKey) string {
		var q []string
		for _, k := range ks {
			q = append(q, fmt.Sprintf("%q", base64.StdEncoding.EncodeToString(k)))
		}
		return "[device]\ndevice_id = 42\n[mqtt]\noperator_keys = [" + strings.Join(q, ", ") + "]\n[[line]]\nid = 1\n"
	}
	both := keys(pub, leaver)
	if err := os.WriteFile(path, []byte(both), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(dir, "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := ConfigSetter{Path: path, DeviceID: 42, Keys: []ed25519.PublicKey{pub, leaver}, Store: st}
	doc := func(v int64, toml string) []byte {
		d := Desired{Version: v, TOML: toml + "# v" + fmt.Sprint(v) + "\n"}
		SignDesired(priv, 42, &d)
		b, _ := json.Marshal(d)
		return b
	}
	retained := doc(3, both)
	if r := c.Apply(retained, false); r.Status != "accepted" {
		t.Fatalf("first: %+v", r)
	}
	if err := os.WriteFile(path, []byte(keys(pub)), 0o640); err != nil { // the leaver's key removed by hand
		t.Fatal(err)
	}
	for _, step := range []struct {
		name, status string
		doc          []byte
	}{{"the retained document again", "accepted", retained}, {"a new one listing the key again", "rejected", doc(4, both)}} {
		r := c.Apply(step.doc, false)
		b, _ := os.ReadFile(path)
		if r.Status != step.status || strings.Contains(string(b), base64.StdEncoding.EncodeToString(leaver)) {
			t.Fatalf("%s: %+v; file %s", step.name, r, b)
		}
	}
}
