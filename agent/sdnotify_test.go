package agent_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/sdnotify"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

// TestServiceManagerWatchdog: systemd hears READY once the agent is up,
// watchdog pings while the loop ticks, none once it is stuck, and STOPPING
// at shutdown.
func TestServiceManagerWatchdog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	sd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	clk := clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))
	wall, err := simwall.NewWall(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(cfg.Device.DataDir, "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	core, err := device.New(device.Options{Config: cfg, Clock: clk, Store: st, Valves: wall.Valves, Meters: wall.Meters,
		Emit: func(device.Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	wall.Board.Advance(10 * time.Millisecond)
	core.Tick()

	t.Setenv("WATCHDOG_USEC", "20000") // ping every 10 ms
	ctx, cancel := context.WithCancel(context.Background())
	agent.TellServiceManager(ctx, sdnotify.FromEnv(func(string) string { return sock }), os.Getenv, core, slog.New(slog.NewTextHandler(io.Discard, nil)))
	read := func(wait time.Duration) string {
		buf := make([]byte, 256)
		sd.SetReadDeadline(time.Now().Add(wait))
		n, err := sd.Read(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	if got := read(5 * time.Second); got != "READY=1\nSTATUS=pouring" {
		t.Fatalf("first message %q", got)
	}
	if got := read(5 * time.Second); got != "WATCHDOG=1" {
		t.Fatalf("no watchdog ping while ticking: %q", got)
	}
	wall.Board.Advance(time.Second)                    // a second passes without a tick: stuck
	for i := 0; read(50*time.Millisecond) != ""; i++ { // pings already sent
		if i == 20 {
			t.Fatal("a stuck loop is still pinged")
		}
	}
	cancel()
	if got := read(5 * time.Second); got != "STOPPING=1\nSTATUS=closing valves and booking pours" {
		t.Fatalf("a stuck loop still got pinged, or no STOPPING: %q", got)
	}
}
