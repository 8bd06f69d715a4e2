// Package testwait lets a test wait for what happens in real time (a peer
// on a pty or a socket, another process, a server's goroutines): on a
// condition, never for a fixed time. Time the test controls is simulated
// instead (clock.Manual, testing/synctest).
package testwait

import (
	"testing"
	"time"
)

// poll is how often a condition is looked at: short against the peers'
// own timing (milliseconds), long enough not to starve them.
const poll = time.Millisecond

// For waits until cond holds or timeout passes, and says whether it held;
// unlike Until it may run on any goroutine.
func For(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(poll)
	}
	return true
}

// Until waits until cond holds; after timeout the test fails, naming what
// it waited for.
func Until(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !For(timeout, cond) {
		tb.Fatalf("after %s still waiting: %s", timeout, what)
	}
}
