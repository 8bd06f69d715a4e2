package telemetronapi

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A full table (every user at the cap) refuses a new login rather than
// end another user's session; it first drops the sessions of users no
// longer in the users file, and expired sessions always go.
func TestFullTableDropsOnlyStaleSessions(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	tk := newTokens(time.Hour, func() time.Time { return now })
	everyone := func(string, string) bool { return true }
	for i := range maxSessions {
		if _, err := tk.start(fmt.Sprintf("user-%d", i/maxUserSessions), "hash", "tool", everyone); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	if _, err := tk.start("newcomer", "hash", "tool", everyone); !errors.Is(err, errSessionsFull) {
		t.Fatalf("a full table took another session: %v", err)
	}
	removed := func(user, _ string) bool { return user != "user-0" }
	if _, err := tk.start("newcomer", "hash", "tool", removed); err != nil {
		t.Fatalf("a removed user's sessions kept the table full: %v", err)
	}
	if n := tk.sessions(); n != maxSessions-maxUserSessions+1 {
		t.Fatalf("%d sessions, want %d", n, maxSessions-maxUserSessions+1)
	}
	now = now.Add(refreshTTL)
	if _, err := tk.start("newcomer", "hash", "tool", everyone); err != nil {
		t.Fatal(err)
	}
	if n := tk.sessions(); n != 1 {
		t.Fatalf("%d sessions after every other expired, want 1", n)
	}
}

// BenchmarkStartAtTheCap: a login into a full table by a user at the cap
// (the scan for that user's oldest session, its end, the new session).
func BenchmarkStartAtTheCap(b *testing.B) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	tk := newTokens(time.Hour, func() time.Time { return now })
	everyone := func(string, string) bool { return true }
	for i := range maxSessions {
		if _, err := tk.start(fmt.Sprintf("user-%d", i/maxUserSessions), "hash", "tool", everyone); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := tk.start("user-0", "hash", "tool", everyone); err != nil {
			b.Fatal(err)
		}
	}
}
