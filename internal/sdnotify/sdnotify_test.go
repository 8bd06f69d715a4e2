package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// listen is a service manager's end of the notify socket.
func listen(t *testing.T) (string, *net.UnixConn) {
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return path, c
}

func next(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 256)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifyAndWatchdog(t *testing.T) {
	path, c := listen(t)
	n := FromEnv(env{"NOTIFY_SOCKET": path}.Get)
	if !n.Enabled() {
		t.Fatal("socket not picked up")
	}
	for _, step := range []struct {
		send func() error
		want string
	}{
		{func() error { return n.Send("READY=1\nSTATUS=pouring") }, "READY=1\nSTATUS=pouring"},
		{func() error { return n.Ping(false) }, ""}, // a stuck loop sends nothing
		{func() error { return n.Ping(true) }, "WATCHDOG=1"},
		{func() error { return n.Send("STOPPING=1") }, "STOPPING=1"},
	} {
		if err := step.send(); err != nil {
			t.Fatal(err)
		}
		if step.want != "" {
			if got := next(t, c); got != step.want {
				t.Fatalf("got %q, want %q", got, step.want)
			}
		}
	}
}

func TestWithoutSystemd(t *testing.T) {
	n := FromEnv(func(string) string { return "" })
	if n.Enabled() || n.Send("READY=1") != nil || n.Ping(true) != nil {
		t.Fatal("without a socket, notifications must be no-ops")
	}
	if err := (Notifier{addr: filepath.Join(t.TempDir(), "gone")}).Send("READY=1"); err == nil {
		t.Fatal("a missing socket must be an error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want time.Duration
		ok   bool
	}{
		{map[string]string{"WATCHDOG_USEC": "10000000"}, 5 * time.Second, true},
		{map[string]string{"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "42"}, 5 * time.Second, true},
		{map[string]string{"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "43"}, 0, false},
		{map[string]string{"WATCHDOG_USEC": "soon"}, 0, false},
		{map[string]string{}, 0, false},
	}
	for _, c := range cases {
		got, ok := WatchdogInterval(env(c.env).Get, 42)
		if got != c.want || ok != c.ok {
			t.Errorf("%v: %v %v, want %v %v", c.env, got, ok, c.want, c.ok)
		}
	}
}

type env map[string]string

func (e env) Get(k string) string { return e[k] }
