// Package sdnotify speaks systemd's notify protocol: readiness, status,
// stopping and watchdog pings, each one datagram to $NOTIFY_SOCKET. Outside
// systemd (no socket) every call does nothing, so the agent runs the same
// from a terminal.
package sdnotify

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// Notifier sends to one notify socket; the zero value sends nothing.
type Notifier struct {
	addr string
}

// FromEnv reads $NOTIFY_SOCKET through getenv (os.Getenv in the agent).
func FromEnv(getenv func(string) string) Notifier {
	return Notifier{addr: getenv("NOTIFY_SOCKET")}
}

// Enabled says whether a service manager listens.
func (n Notifier) Enabled() bool { return n.addr != "" }

// Send writes one message, e.g. "READY=1" or "STATUS=pouring".
func (n Notifier) Send(state string) error {
	if n.addr == "" {
		return nil
	}
	addr := n.addr
	if addr[0] == '@' { // abstract namespace
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ping sends a watchdog keep-alive only while healthy: a stuck main loop
// stops the pings and systemd restarts the agent, whose start closes
// every valve.
func (n Notifier) Ping(healthy bool) error {
	if !healthy {
		return nil
	}
	return n.Send("WATCHDOG=1")
}

// WatchdogInterval is how often to ping: half of $WATCHDOG_USEC, as
// systemd advises; ok is false when no watchdog is set for this process.
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, bool) {
	us, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0, false
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0, false // meant for another process
	}
	return time.Duration(us) * time.Microsecond / 2, true
}
