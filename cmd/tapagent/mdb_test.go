package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
)

// TestMDBTool drives `tapagent mdb` through the Qibixx adapter protocol on
// a pseudo-terminal to the simulated cashless reader.
func TestMDBTool(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	defer s.Close()
	r := mdbsim.New(mdb.Cashless1)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mdbsim.ServeQibixx(ctx, m, r); close(done) }()
	defer func() { stop(); m.Close(); <-done }()
	run := func(args ...string) string {
		t.Helper()
		full := append([]string{"mdb", args[0], "--port", s.Name()}, args[1:]...)
		out, err := exec.Command(binary, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("mdb %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("probe"); !strings.Contains(out, "identity    SIM / TAPAGENT-SIM / 000000000042") || !strings.Contains(out, "level 1, enabled") {
		t.Fatalf("probe:\n%s", out)
	}
	// A card held at the terminal: the session opens once the tool has
	// reset and enabled the reader.
	r.PowerCycle()
	r.PresentCard(1000)
	if out := run("vend", "--price", "390", "--item", "102", "--wait", "5s"); !strings.Contains(out, "vend approved for 390") {
		t.Fatalf("vend:\n%s", out)
	}
	if len(r.Sales) != 1 || r.Sales[0] != 390 {
		t.Fatalf("sales %v", r.Sales)
	}
	if out := run("raw", "12", "1400"); !strings.Contains(out, "12 -> ") || !strings.Contains(out, "1400 -> ACK") {
		t.Fatalf("raw:\n%s", out)
	}
}
