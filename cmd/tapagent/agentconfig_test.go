package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/storage"
)

// agentCommands are the commands that read or change the agent's data;
// look marks those that only read it.
var agentCommands = []struct {
	args []string
	db   bool // opens the agent's database
	look bool // and only reads it
}{
	{[]string{"ttg", "outbox"}, true, true},
	{[]string{"ttg", "deadletters"}, true, true},
	{[]string{"ttg", "push", "--url", "http://127.0.0.1:1"}, true, false},
	{[]string{"ttg", "check", "--url", "http://127.0.0.1:1"}, false, false},
	{[]string{"dex", "serve", "--port", "/dev/null"}, false, false},
	{[]string{"dex", "read", "--port", "/dev/null"}, false, false},
	{[]string{"dex", "report"}, true, false},
	{[]string{"dex", "reports"}, true, true},
	{[]string{"outbox"}, true, true},
	{[]string{"card", "settle", "--uid", "04A1B2C3"}, true, true},
	{[]string{"card", "settle", "--uid", "04A1B2C3", "--paid"}, true, false},
	{[]string{"card", "read", "--wait", "1ms"}, false, false},
	{[]string{"calibrate", "--line", "1"}, false, false},
	{[]string{"doctor"}, false, false},
}

// runIn runs the binary in dir with env added, returning the exit status
// and the combined output.
func runIn(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// TestAgentCommandsNeedAConfiguration: without --config, --sim or an
// installed configuration, every command says where it looked and what to
// pass, and leaves nothing behind.
func TestAgentCommandsNeedAConfiguration(t *testing.T) {
	for _, c := range agentCommands {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			missing := filepath.Join(dir, "etc", "tapagent.toml")
			code, out := runIn(t, dir, []string{configEnv + "=" + missing}, c.args...)
			want := "no configuration: " + missing + " does not exist; pass --config FILE (or --sim for the simulated wall)"
			if code != 2 || !strings.Contains(out, want) {
				t.Fatalf("exit %d, want 2 and %q:\n%s", code, want, out)
			}
			assertEmptyDir(t, dir)
		})
	}
}

// TestReadOnlyCommandsCreateNothing: with the simulator's configuration on
// a machine where the agent never ran, the commands that need its database
// name the missing file instead of creating an empty one and reporting
// nothing (issue 18: `ttg outbox` printed "0 records").
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	for _, c := range agentCommands {
		if !c.db {
			continue
		}
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			code, out := runIn(t, dir, nil, append(c.args, "--sim")...)
			if code != 1 || !strings.Contains(out, filepath.Join("data", "tapagent.db")+": no database") {
				t.Fatalf("exit %d, want 1 naming data/tapagent.db:\n%s", code, out)
			}
			assertEmptyDir(t, dir)
		})
	}
}

// TestInstalledConfigurationIsFound: without --config the commands use the
// installed configuration, and its data directory.
func TestInstalledConfigurationIsFound(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "var")
	st, err := storage.Open(filepath.Join(data, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	conf := filepath.Join(dir, "tapagent.toml")
	if err := os.WriteFile(conf, []byte("[device]\ndata_dir = \""+data+"\"\n[[line]]\nid = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(data, "tapagent.db"))
	for _, args := range [][]string{{"ttg", "outbox"}, {"ttg", "outbox", "--config", conf}} {
		env := []string{configEnv + "=" + conf}
		if len(args) > 2 {
			env = nil
		}
		code, out := runIn(t, t.TempDir(), env, args...)
		if code != 0 || !strings.Contains(out, "0 records") {
			t.Fatalf("%v: exit %d:\n%s", args, code, out)
		}
	}
	after, _ := os.ReadFile(filepath.Join(data, "tapagent.db"))
	if !bytes.Equal(before, after) {
		t.Fatal("a read-only command changed the database")
	}
	code, out := runIn(t, dir, nil, "ttg", "outbox", "--config", conf, "--sim")
	if code != 2 || !strings.Contains(out, "--config and --sim exclude each other") {
		t.Fatalf("--config with --sim: exit %d:\n%s", code, out)
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("the command left %s behind", e.Name())
	}
}
