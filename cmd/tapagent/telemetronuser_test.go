package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/web"
)

// TestTelemetronUser: `tapagent telemetron user add NAME` stores an
// operator's bcrypt hash in the API's own users file, not the dashboard's;
// `run --check-config` refuses a network listen without TLS.
func TestTelemetronUser(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tapagent.toml")
	writeFile(t, cfgPath, fmt.Sprintf("[device]\ndata_dir = %q\n[telemetron]\nlisten = \"127.0.0.1:8091\"\nclients = [{ id = \"tool\", secret = \"tool-secret-0123456789\" }]\n[[line]]\nid = 1\n", dir))
	run := func(stdin string, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := Main(append(args, "--config", cfgPath), strings.NewReader(stdin), &out, &errb)
		return out.String() + errb.String(), code
	}
	if out, code := run("a-long-password\n", "telemetron", "user", "add", "ops", "--role", "staff"); code != 2 {
		t.Fatalf("--role is the dashboard's: %d %s", code, out)
	}
	if out, code := run("a-long-password\n", "telemetron", "user", "add", "ops"); code != 0 {
		t.Fatalf("add: %d %s", code, out)
	}
	users, err := web.LoadUsers(filepath.Join(dir, "telemetron-users.json"))
	if err != nil || len(users) != 1 || users[0].Role != web.RoleOperator || strings.Contains(users[0].Hash, "a-long-password") {
		t.Fatalf("users file %+v %v", users, err)
	}
	if dash, _ := web.LoadUsers(filepath.Join(dir, "web-users.json")); len(dash) != 0 {
		t.Fatal("the dashboard got the user")
	}
	if out, code := run("", "telemetron", "user", "list"); code != 0 || !strings.Contains(out, "ops\toperator") {
		t.Fatalf("list: %s", out)
	}
	if out, code := run("", "run", "--check-config"); code != 0 {
		t.Fatalf("check-config on loopback: %s", out)
	}
	if out, code := run("", "telemetron", "user", "remove", "ops"); code != 0 {
		t.Fatalf("remove: %s", out)
	}
}
