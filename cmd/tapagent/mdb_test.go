package main

import (
	"context"
	"flag"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/testwait"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/ttg"
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

// TestSimMDBScenario: `tapagent sim --scenario mdb` sells portions through
// the simulated terminal on the Qibixx adapter protocol: one delivered
// (VEND SUCCESS, a TTG transaction of card type 61 at the approved price),
// one denied, one refunded after the keg ran dry (booked at nothing), and
// a can of the EXE machine beside the wall paid at the same terminal.
func TestSimMDBScenario(t *testing.T) {
	data := t.TempDir()
	out, err := exec.Command(binary, "sim", "--json", "--speed", "4", "--scenario", "mdb", "--data", data).Output()
	if err != nil {
		t.Fatalf("sim: %v", err)
	}
	n := map[device.EventType]int{}
	for _, e := range readEvents(t, strings.NewReader(string(out))) {
		n[e.Type]++
	}
	if n[device.EventMDBReady] != 1 || n[device.EventMDBVendSuccess] != 2 || n[device.EventMDBVendDenied] != 1 || n[device.EventMDBVendRefunded] != 1 ||
		n[device.EventEXEReady] != 1 || n[device.EventEXEVend] != 1 || n[device.EventVendBooked] != 1 {
		t.Fatalf("events %v\n%s", n, out)
	}
	srv, err := ttgserver.New(ttgserver.Options{DataDir: filepath.Join(data, "ttg-server")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var money []int32
	for _, tx := range srv.Transactions() {
		if tx.Tx.CardType != ttg.CardMDBPre {
			t.Fatalf("transaction %+v", tx.Tx)
		}
		money = append(money, tx.Tx.Money)
	}
	if len(money) != 3 || money[0] != 390 || money[1] != 0 || money[2] != 250 {
		t.Fatalf("server transactions: money %v", money)
	}
	if can := srv.Transactions()[2].Tx; can.PLU != 201 || can.Servings != 100 || can.Volume != 0 {
		t.Fatalf("the can's transaction %+v", can)
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		port string
		rest []string
	}{
		{[]string{"--port", "P", "12", "1400"}, "P", []string{"12", "1400"}},
		{[]string{"12", "1400", "--port", "P"}, "P", []string{"12", "1400"}},
		{[]string{"12", "--port=P", "1400"}, "P", []string{"12", "1400"}},
		{[]string{"--port", "P", "--", "12", "--port"}, "P", []string{"12", "--port"}},
		{nil, "", nil},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		port := fs.String("port", "", "")
		rest, err := parseInterspersed(fs, tc.args)
		if err != nil || *port != tc.port || !slices.Equal(rest, tc.rest) {
			t.Errorf("%q: port %q rest %q, %v", tc.args, *port, rest, err)
		}
	}
}

// TestMDBToolFlagsAfterHexAndWarnings: `mdb raw` takes its flags after the
// hex blocks; `mdb vend` and `mdb log` print what the reader bends (the PAX
// D200's FF after BEGIN SESSION). The reader answers in the commands' own
// responses, which the tool takes as well.
func TestMDBToolFlagsAfterHexAndWarnings(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	defer s.Close()
	r := mdbsim.New(mdb.Cashless1)
	r.F.TrailingFF, r.Immediate = true, true
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mdbsim.ServeQibixx(ctx, m, r); close(done) }()
	defer func() { stop(); m.Close(); <-done }()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"mdb"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mdb %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("raw", "10", "12", "--port", s.Name()); !strings.Contains(out, "10 -> ACK") || !strings.Contains(out, "12 -> 00") {
		t.Fatalf("raw with the flags last:\n%s", out)
	}
	r.PresentCard(1000)
	if out := run("vend", "--port", s.Name(), "--price", "390", "--wait", "5s"); !strings.Contains(out, "vend approved for 390") ||
		!strings.Contains(out, "warning     empty diagnostic byte FF") {
		t.Fatalf("vend:\n%s", out)
	}
	// The log resets the reader: the card comes once it is enabled again.
	r.PowerCycle()
	var out strings.Builder
	cmd := exec.Command(binary, "mdb", "log", "--port", s.Name(), "--for", "2s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "the reader enabled", func() bool { return r.State() == mdb.Enabled })
	r.PresentCard(1000)
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "BeginSession") || !strings.Contains(out.String(), "warning empty diagnostic byte FF") {
		t.Fatalf("log: %v\n%s", err, out.String())
	}
}

// FuzzParseInterspersed: any argument list parses or fails cleanly, and
// what is left over keeps its order.
func FuzzParseInterspersed(f *testing.F) {
	f.Add("12\x001400\x00--port\x00P")
	f.Add("--port\x00P\x00--\x00--x")
	f.Add("-port=\x00-\x00--")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("port", "", "")
		rest, err := parseInterspersed(fs, args)
		if err != nil {
			return
		}
		i := 0
		for _, a := range args {
			if i < len(rest) && a == rest[i] {
				i++
			}
		}
		if i != len(rest) {
			t.Fatalf("%q: left over %q is not in order", args, rest)
		}
	})
}
