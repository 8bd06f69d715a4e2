package main

import (
	"bytes"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
)

// TestDexCommandsStopOnSignal: dex serve and dex read end promptly on
// SIGTERM or Ctrl-C (SIGINT) while they wait on the DEX port, though the
// spec's timers would keep a session waiting up to a minute.
func TestDexCommandsStopOnSignal(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		sig  syscall.Signal
	}{
		{"serve, SIGTERM", []string{"dex", "serve"}, syscall.SIGTERM},
		{"serve, Ctrl-C", []string{"dex", "serve"}, syscall.SIGINT},
		{"read, SIGTERM", []string{"dex", "read"}, syscall.SIGTERM},
		{"read, Ctrl-C", []string{"dex", "read"}, syscall.SIGINT},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, s, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			defer s.Close()
			cmd := exec.Command(binary, append(c.args, "--sim", "--port", s.Name(), "--data", t.TempDir())...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Get it into a session: dex read sends its ENQ; dex serve
			// answers ours with DLE '0' and then waits for our block.
			buf := make([]byte, 64)
			_ = m.SetReadDeadline(time.Now().Add(5 * time.Second))
			if c.args[1] == "serve" {
				for i := 0; ; i++ {
					if i == 25 {
						t.Fatalf("dex serve never answered ENQ: %s", stderr.String())
					}
					if _, err := m.Write([]byte{0x05}); err != nil {
						t.Fatal(err)
					}
					_ = m.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
					if n, _ := m.Read(buf); n > 0 {
						break // the machine's DLE '0'
					}
				}
			} else if _, err := m.Read(buf); err != nil {
				t.Fatalf("no ENQ from dex read: %v", err)
			}
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running 5 s after the signal: %s", stderr.String())
			}
		})
	}
}
