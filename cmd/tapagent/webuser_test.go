package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/web"
)

// TestWebUser: `tapagent web user add NAME --role R` reads the password
// from stdin and stores only its hash; the role is checked; a user can be
// listed and removed; then `run --check-config` on the network passes.
func TestWebUser(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tapagent.toml")
	writeFile(t, cfgPath, fmt.Sprintf("[device]\ndata_dir = %q\n[web]\nlisten = \"0.0.0.0:8080\"\n[[line]]\nid = 1\n", dir))
	run := func(stdin string, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := Main(append(args, "--config", cfgPath), strings.NewReader(stdin), &out, &errb)
		return out.String() + errb.String(), code
	}
	if out, code := run("", "run", "--check-config"); code == 0 {
		t.Fatalf("check-config without a user passed: %s", out)
	}
	if out, code := run("a-long-password\n", "web", "user", "add", "ann", "--role", "root"); code != 2 || !strings.Contains(out, "staff or operator") {
		t.Fatalf("bad role: %d %s", code, out)
	}
	if out, code := run("short\n", "web", "user", "add", "ann", "--role", "operator"); code == 0 || !strings.Contains(out, "password must be") {
		t.Fatalf("short password: %d %s", code, out)
	}
	if out, code := run("a-long-password\n", "web", "user", "add", "ann", "--role", "operator"); code != 0 {
		t.Fatalf("add: %d %s", code, out)
	}
	users, err := web.LoadUsers(filepath.Join(dir, "web-users.json"))
	if err != nil || len(users) != 1 || users[0].Role != web.RoleOperator || strings.Contains(users[0].Hash, "a-long-password") {
		t.Fatalf("users file %+v %v", users, err)
	}
	if out, code := run("", "web", "user", "list"); code != 0 || !strings.Contains(out, "ann\toperator") {
		t.Fatalf("list: %s", out)
	}
	if out, code := run("", "run", "--check-config"); code != 0 {
		t.Fatalf("check-config with a user: %s", out)
	}
	if out, code := run("", "web", "user", "remove", "ann"); code != 0 {
		t.Fatalf("remove: %s", out)
	}
	if out, code := run("", "web", "user", "remove", "ann"); code == 0 || !strings.Contains(out, "no user") {
		t.Fatalf("remove twice: %s", out)
	}
}
