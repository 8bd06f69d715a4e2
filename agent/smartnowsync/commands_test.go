package smartnowsync_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/smartnowsync"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/testwait"
	"github.com/tapagent/tapagent/sim/cloudemu"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
)

// hookWall runs before each lock on the wall the sync sees.
type hookWall struct {
	smartnowsync.Wall
	beforeLock func()
	afterLock  func()
}

func (h hookWall) SetLocked(by device.Actor, line int, locked bool) error {
	if h.beforeLock != nil {
		h.beforeLock()
	}
	err := h.Wall.SetLocked(by, line, locked)
	if h.afterLock != nil {
		h.afterLock()
	}
	return err
}

// TestCommands: each command runs once with its params and its result
// reaches SmartNow; unknown and not-allowed commands are answered
// success:false and change nothing; every outcome is a TA_COMMAND log.
func TestCommands(t *testing.T) {
	c := newCloud(t)
	r := newRig(t, c, monday, nil)
	r.attach()
	c.queue(t, "lock", 2)
	c.queue(t, "dance")
	c.queue(t, "clean", 1)
	c.queue(t, "report")
	c.queue(t, "lock")
	c.queue(t, "unlock", 0)
	if err := r.sync.PollCommands(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		state, message string
	}{
		{"done", "lines 2 locked"}, {"failed", "unknown command"},
		{"failed", "command clean is not allowed on this machine ([smartnow] commands_allowed)"},
		{"done", "state of 4 lines sent"}, {"done", "lines 1,2,3,4 locked"}, {"done", "lines 1,2,3,4 unlocked"},
	} {
		if got := c.command(t, i); got.State != want.state || got.Message != want.message {
			t.Errorf("command %d (%s): %s %q, want %s %q", i, got.Command, got.State, got.Message, want.state, want.message)
		}
	}
	if n := r.ev.Count(device.EventLineLocked); n != 5 {
		t.Errorf("%d line_locked events, want 5", n)
	}
	if r.ev.Count(device.EventCleaningStarted) != 0 {
		t.Error("a command not allowed started a cleaning")
	}
	st, ok := r.ev.Find(device.EventMachineState)
	if !ok || !json.Valid([]byte(st.Detail)) {
		t.Errorf("machine state %+v", st)
	}
	// A second poll finds nothing pending and runs nothing again.
	if err := r.sync.PollCommands(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := r.ev.Count(device.EventLineLocked); n != 5 {
		t.Errorf("after a second poll %d line_locked events", n)
	}
	if n := r.ev.Count(device.EventSmartNowCommand); n != 6 {
		t.Errorf("%d smartnow_command events, want 6", n)
	}
	p := r.pump()
	testwait.Until(t, 10*time.Second, "six TA_COMMAND logs and a TA_STATE log", func() bool {
		_ = p.Flush(ctx(t))
		n, state := 0, 0
		for _, lg := range c.emu.Logs() {
			switch lg.Code {
			case "TA_COMMAND":
				n++
			case "TA_STATE":
				state++
			}
		}
		return n == 6 && state == 1
	})
	for _, lg := range c.emu.Logs() {
		if lg.Code != "TA_COMMAND" {
			continue
		}
		var extra map[string]any
		if err := json.Unmarshal([]byte(*lg.ExtraData), &extra); err != nil || extra["command"] == nil || extra["params"] == nil || extra["outcome"] == nil {
			t.Errorf("TA_COMMAND extraData %v (%v)", *lg.ExtraData, err)
		}
	}
}

// TestCleanWhenAllowed: clean runs when commands_allowed lists it.
func TestCleanWhenAllowed(t *testing.T) {
	c := newCloud(t)
	r := newRig(t, c, monday, nil)
	r.cfg.SmartNow.CommandsAllowed = append(r.cfg.SmartNow.CommandsAllowed, "clean")
	r.restart()
	r.attach()
	c.queue(t, "clean", 1)
	if err := r.sync.PollCommands(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := c.command(t, 0); got.State != "done" {
		t.Errorf("clean: %s %q", got.State, got.Message)
	}
	if r.ev.Count(device.EventCleaningStarted) != 1 {
		t.Errorf("no cleaning started: %s", r.ev)
	}
}

// TestLostResultReply: SmartNow stores the result but its reply is lost;
// the next poll resends it, SmartNow answers 409 and the command counts
// as reported, having run once.
func TestLostResultReply(t *testing.T) {
	c := newCloud(t)
	r := newRig(t, c, monday, nil)
	r.hook = func(w smartnowsync.Wall) smartnowsync.Wall {
		return hookWall{Wall: w, afterLock: func() { c.emu.SetFaults(cloudemu.Faults{LoseReply: 1}) }}
	}
	r.attach()
	c.queue(t, "lock", 1)
	if err := r.sync.PollCommands(ctx(t)); err == nil {
		t.Fatal("the lost reply was not noticed")
	}
	if got := c.command(t, 0); got.State != "done" {
		t.Fatalf("the emulator did not store the first result: %+v", got)
	}
	if err := r.sync.PollCommands(ctx(t)); err != nil {
		t.Fatal(err)
	}
	j, err := r.sync.Journal()
	if err != nil || len(j) != 1 || j[0].State != "reported" {
		t.Errorf("journal %+v %v", j, err)
	}
	if n := r.ev.Count(device.EventLineLocked); n != 1 {
		t.Errorf("the command ran %d times", n)
	}
	if n := r.ev.Count(device.EventSmartNowCommand); n != 1 {
		t.Errorf("%d TA_COMMAND events", n)
	}
}

// TestResultWhileSmartNowIsDown: a command that ran while SmartNow went
// away is reported at the next poll after a restart, not run again.
func TestResultWhileSmartNowIsDown(t *testing.T) {
	c := newCloud(t)
	r := newRig(t, c, monday, nil)
	r.hook = func(w smartnowsync.Wall) smartnowsync.Wall {
		return hookWall{Wall: w, afterLock: func() { c.emu.SetFaults(cloudemu.Faults{Down: true}) }}
	}
	r.attach()
	c.queue(t, "lock", 4)
	if err := r.sync.PollCommands(ctx(t)); err == nil {
		t.Fatal("the result was sent to a cloud that is down")
	}
	c.emu.SetFaults(cloudemu.Faults{})
	r.hook = nil
	r.restart()
	r.attach()
	if err := r.sync.PollCommands(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := c.command(t, 0); got.State != "done" || got.Message != "lines 4 locked" {
		t.Errorf("command after the restart: %+v", got)
	}
	if !lineStatus(t, r.dev, 4).Locked {
		t.Error("line 4 not locked")
	}
	if n := r.ev.Count(device.EventLineLocked); n != 0 {
		t.Errorf("the command ran again after the restart (%d locks)", n)
	}
}

// crashEnv tells the test binary, run again as a child, to be the agent
// that is killed between the journal and the result.
const crashEnv = "SMARTNOWSYNC_CRASH"

// TestCrashBetweenJournalAndResult: the agent is killed while it runs a
// command (journalled, result not sent); the next start reports it as
// interrupted and does not run it again.
func TestCrashBetweenJournalAndResult(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		crashChild(t)
		return
	}
	c := newCloud(t)
	r := newRig(t, c, monday, nil)
	r.close()
	c.queue(t, "lock", 2)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashBetweenJournalAndResult$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+c.url+" "+r.cfg.Device.DataDir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("the child was not killed mid-command: %v\n%s", err, out)
	}
	if got := c.command(t, 0); got.State != "pending" {
		t.Fatalf("the child reported before dying: %+v", got)
	}
	r.open()
	r.attach()
	if err := r.sync.PollCommands(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := c.command(t, 0); got.State != "failed" || got.Message != smartnowsync.WhyInterrupted {
		t.Errorf("after the crash: %+v", got)
	}
	if n := r.ev.Count(device.EventLineLocked); n != 0 {
		t.Errorf("the command ran again (%d locks)", n)
	}
	if !lineStatus(t, r.dev, 2).Locked {
		t.Error("the lock the child made before it died is gone")
	}
}

// crashChild is the agent that dies: the lock commits, then the process
// exits before the outcome is journalled or sent.
func crashChild(t *testing.T) {
	var url, dir string
	for i, f := range splitOnce(os.Getenv(crashEnv)) {
		if i == 0 {
			url = f
		} else {
			dir = f
		}
	}
	c := &cloud{url: url}
	r := &rig{t: t, cloud: c, cfg: testConfig(t, url)}
	r.cfg.Device.DataDir = dir
	r.clk = newClock()
	var err error
	if r.wall, err = newWall(r); err != nil {
		t.Fatal(err)
	}
	r.open()
	r.hook = func(w smartnowsync.Wall) smartnowsync.Wall {
		return hookWall{Wall: w, afterLock: func() { os.Exit(3) }}
	}
	r.attach()
	_ = r.sync.PollCommands(ctx(t))
	t.Fatal("the child survived the command")
}

// TestStartPollsAtOnce: started, the sync fetches the configuration and
// runs a pending command without waiting for a poll interval.
func TestStartPollsAtOnce(t *testing.T) {
	c := newCloud(t, snemu.Product{PLU: 102, Name: "Pils", Price: 990})
	c.queue(t, "lock", 3)
	r := newRig(t, c, monday, nil)
	stop := r.sync.Start(ctx(t), r.dev)
	defer stop()
	testwait.Until(t, 10*time.Second, "the command run and the price applied", func() bool {
		p, _ := r.dev.PortionPrice(2, 5000)
		return c.emu.Commands()[0].State == "done" && p == 990
	})
}
