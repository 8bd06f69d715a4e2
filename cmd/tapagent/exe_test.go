package main

import (
	"github.com/tapagent/tapagent/internal/testwait"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/sim/exesim"
)

// TestEXETool drives `tapagent exe` through a pseudo-terminal to the
// simulated EXE machine, as through a bridge.
func TestEXETool(t *testing.T) {
	mc := &exesim.Machine{}
	b, err := mc.OnBridge()
	if err != nil {
		t.Skip(err)
	}
	defer b.Close()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"exe", args[0], "--port", b.Path}, args[1:]...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("exe %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("status"); !strings.Contains(out, "inhibited false, free vend false") || !strings.Contains(out, "request     none") {
		t.Fatalf("status:\n%s", out)
	}
	// The customer chooses once the vend command polls the machine.
	polled := mc.Answered()
	go func() {
		if testwait.For(5*time.Second, func() bool { return mc.Answered() > polled+1 }) {
			mc.Choose(7)
		}
	}()
	if out := run("vend", "--wait", "5s"); !strings.Contains(out, "selection 7 vended") {
		t.Fatalf("vend:\n%s", out)
	}
	if v, _ := mc.Vended(); !slices.Equal(v, []byte{7}) {
		t.Fatalf("vended %v", v)
	}
}
