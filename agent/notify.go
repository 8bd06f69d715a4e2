package agent

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/tapagent/tapagent/internal/sdnotify"
)

// Health is what the watchdog asks of the wall: whether its main loop has
// ticked within the window.
type Health interface {
	Healthy(window time.Duration) bool
}

// tellServiceManager reports readiness once every part is up.
func (a *Agent) tellServiceManager(ctx context.Context) {
	n := sdnotify.FromEnv(os.Getenv)
	if a.o.Notifier != nil {
		n = *a.o.Notifier
	}
	if !n.Enabled() {
		a.set(PartWatchdog, StateOff)
	} else {
		a.set(PartWatchdog, StateRunning)
	}
	a.log.Info("tapagent running", "version", a.o.Version, "device", a.cfg.Device.ID, "lines", len(a.cfg.Lines), "board", a.cfg.Board.Profile)
	TellServiceManager(ctx, n, os.Getenv, a.run.dev, a.log)
}

// TellServiceManager reports readiness to systemd (Type=notify), pings its
// watchdog while the main loop ticks (WATCHDOG_USEC from getenv), and says
// when stopping begins (ctx ends). Without systemd it does nothing.
func TellServiceManager(ctx context.Context, n sdnotify.Notifier, getenv func(string) string, wall Health, log *slog.Logger) {
	if !n.Enabled() {
		return
	}
	if err := n.Send("READY=1\nSTATUS=pouring"); err != nil {
		log.Warn("telling systemd we are ready", "err", err)
	}
	iv, watchdog := sdnotify.WatchdogInterval(getenv, os.Getpid())
	go func() {
		var tick <-chan time.Time
		if watchdog {
			t := time.NewTicker(iv)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				_ = n.Send("STOPPING=1\nSTATUS=closing valves and booking pours")
				return
			case <-tick:
				// A loop that has not ticked for a whole interval is stuck: no ping.
				healthy := wall.Healthy(iv)
				if !healthy {
					log.Error("main loop stuck; withholding the watchdog ping")
				}
				_ = n.Ping(healthy)
			}
		}
	}()
}
