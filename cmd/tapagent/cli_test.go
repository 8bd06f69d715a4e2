package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/NAME (go test -update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (go test -update):\n%s", path, got)
	}
}

// runMain runs the command line in-process with no installed
// configuration, returning the exit status and stdout followed by stderr.
func runMain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	t.Setenv(configEnv, "/nonexistent/tapagent.toml")
	t.Setenv("TAPAGENT_OPERATOR_KEY", "")
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String() + errb.String()
}

// TestHelp: `tapagent -h`, every command's -h and every subcommand's -h
// exit 0 with that command's own usage (golden files); a command added to
// the table without its golden help fails here.
func TestHelp(t *testing.T) {
	code, out := runMain(t, "-h")
	if code != 0 {
		t.Fatalf("tapagent -h: exit %d", code)
	}
	golden(t, "help/tapagent.golden", out)
	for _, c := range commands() {
		calls := [][]string{{c.name, "-h"}}
		for _, s := range c.subs {
			calls = append(calls, []string{c.name, s, "-h"})
		}
		for _, args := range calls {
			t.Run(strings.Join(args[:len(args)-1], " "), func(t *testing.T) {
				code, out := runMain(t, args...)
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				if strings.Contains(out, "usage: a command is needed") {
					t.Fatalf("help reported as a usage error:\n%s", out)
				}
				golden(t, "help/"+strings.Join(args[:len(args)-1], "-")+".golden", out)
			})
		}
	}
}

// TestCommandErrors: the errors a new user meets first, with their exit
// status (golden files).
func TestCommandErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"no-command", nil, 2},
		{"unknown-command", []string{"pour"}, 2},
		{"ttg-no-subcommand", []string{"ttg"}, 2},
		{"ttg-flag-first", []string{"ttg", "--config", "x.toml"}, 2},
		{"ttg-unknown-subcommand", []string{"ttg", "nosuch"}, 2},
		{"ttg-outbox-no-config", []string{"ttg", "outbox"}, 2},
		{"card-other-subcommands-flag", []string{"card", "read", "--amount", "5"}, 2},
		{"sim-unknown-scenario", []string{"sim", "--scenario", "nosuch"}, 1},
		{"sim-negative-speed", []string{"sim", "--speed", "-1"}, 2},
		{"dex-parse-no-file", []string{"dex", "parse"}, 2},
		{"dex-parse-not-evadts", []string{"dex", "parse", "testdata/not-evadts.txt"}, 1},
		{"dex-parse-mentions-dxs", []string{"dex", "parse", "testdata/mentions-dxs.txt"}, 1},
		{"doctor-unknown-board", []string{"doctor", "--sim", "vax"}, 2},
		{"doctor-unknown-fault", []string{"doctor", "--sim", "rpi4", "--fault", "gremlins"}, 2},
		{"run-bad-flag", []string{"run", "--bogus"}, 2},
		{"run-stray-argument", []string{"run", "extra", "--config", "x.toml"}, 2},
		{"pours-bad-flag", []string{"pours", "--bogus"}, 2},
		{"pours-stray-argument", []string{"pours", "extra", "--sim"}, 2},
		{"kegs-bad-flag", []string{"kegs", "--bogus"}, 2},
		{"keg-unknown-subcommand", []string{"keg", "frob"}, 2},
		{"keg-other-subcommands-flag", []string{"keg", "empty", "--line", "1", "--size", "50L"}, 2},
		{"line-bad-flag", []string{"line", "lock", "--bogus"}, 2},
		{"outbox-stray-argument", []string{"outbox", "extra", "--sim"}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, before := os.Stat("data")
			code, out := runMain(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			golden(t, "errors/"+c.name+".golden", out)
			// A refused command leaves nothing behind (it once wrote the
			// simulator's dashboard login into ./data).
			if _, after := os.Stat("data"); before != nil && after == nil {
				os.RemoveAll("data")
				t.Error("the refused command created ./data")
			}
		})
	}
}

// TestReadmeListsEveryCommand: README's command table has a row for each
// command of the table.
func TestReadmeListsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if !bytes.Contains(readme, []byte("| `tapagent "+c.name+" ")) && !bytes.Contains(readme, []byte("| `tapagent "+c.name+"`")) &&
			!bytes.Contains(readme, []byte("`tapagent "+c.name+"` |")) && !bytes.Contains(readme, []byte("/ `tapagent "+c.name+"`")) {
			t.Errorf("README's command table has no row for tapagent %s", c.name)
		}
	}
}

// TestDexParseOutput: an audit read by `dex parse` shows its money with
// the file's decimals and currency (1978 is EUR), not bare minor units.
func TestDexParseOutput(t *testing.T) {
	code, out := runMain(t, "dex", "parse", "testdata/audit.dex")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	golden(t, "output/dex-parse.golden", out)
}
