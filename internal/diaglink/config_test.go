package diaglink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
