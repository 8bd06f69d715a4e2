package web

import (
	"fmt"
	"testing"
	"time"
)

// TestFullLimiterTableLocksNobodyOut: a client that fills the table evicts
// its own stale entries; a new client keeps its own attempts.
func TestFullLimiterTableLocksNobodyOut(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 1, 0, time.UTC)
	l := newLimiter(5, func() time.Time { return now })
	l.perSecond = 1 << 20
	for i := range maxTracked {
		if l.reserve(fmt.Sprintf("2001:db8:%x::1", i)) != limitNone { // one /64 each
			t.Fatal("first attempt refused")
		}
	}
	for range 5 {
		l.reserve("2001:db8:ffff::1") // a client beyond the table
	}
	if got := l.reserve("192.0.2.10"); got != limitNone {
		t.Fatalf("a new client with no failed login is refused (%d)", got)
	}
	if len(l.fails) > maxTracked {
		t.Fatalf("%d clients tracked, at most %d", len(l.fails), maxTracked)
	}
}

// TestLimiterCountsAnIPv6SlashSixtyFourAsOneClient: the addresses of one
// /64 share a count; IPv4 addresses are counted one by one.
func TestLimiterCountsAnIPv6SlashSixtyFourAsOneClient(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 1, 0, time.UTC)
	l := newLimiter(5, func() time.Time { return now })
	for i := range 5 {
		if l.reserve(fmt.Sprintf("2001:db8:1:2::%x", i+1)) != limitNone {
			t.Fatalf("attempt %d refused", i)
		}
		if l.reserve(fmt.Sprintf("192.0.2.%d", i+1)) != limitNone {
			t.Fatalf("IPv4 attempt %d refused", i)
		}
		now = now.Add(time.Second)
	}
	if l.reserve("2001:db8:1:2:ffff::9") != limitClient {
		t.Fatal("another address of the same /64 got a sixth attempt")
	}
	if l.reserve("2001:db8:1:3::1") != limitNone {
		t.Fatal("the next /64 is refused")
	}
	if l.reserve("192.0.2.99") != limitNone {
		t.Fatal("another IPv4 address is refused")
	}
	now = now.Add(time.Minute)
	if l.reserve("2001:db8:1:2::1") != limitNone {
		t.Fatal("still refused in the next minute")
	}
}

// TestLimiterCapsPasswordChecksPerSecond: clients together get at most
// maxChecksPerSecond checks a second, and a success refunds its attempt.
func TestLimiterCapsPasswordChecksPerSecond(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 1, 0, time.UTC)
	l := newLimiter(5, func() time.Time { return now })
	for i := range maxChecksPerSecond {
		if l.reserve(fmt.Sprintf("198.51.100.%d", i+1)) != limitNone {
			t.Fatalf("check %d refused", i)
		}
	}
	if l.reserve("203.0.113.1") != limitBusy {
		t.Fatal("a check beyond the second's cap was allowed")
	}
	now = now.Add(time.Second)
	for range 10 {
		if l.reserve("203.0.113.1") == limitClient {
			t.Fatal("refunded attempts still count")
		}
		l.refund("203.0.113.1")
		now = now.Add(time.Second / 4)
	}
}

// TestLimiterCountsAttemptsWithoutAHash: an attempt that hashes nothing
// (a refresh token) counts against the client's attempts but not against
// the password checks of the second.
func TestLimiterCountsAttemptsWithoutAHash(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 1, 0, time.UTC)
	l := newLimiter(5, func() time.Time { return now })
	for i := range 2 * maxChecksPerSecond {
		if l.take("198.51.100.1", false) != limitNone {
			t.Fatalf("attempt %d refused", i)
		}
		l.refund("198.51.100.1")
	}
	for i := range 5 {
		if l.take("198.51.100.2", false) != limitNone {
			t.Fatalf("failed attempt %d refused", i)
		}
	}
	if l.take("198.51.100.2", false) != limitClient {
		t.Fatal("a sixth failed attempt in the minute was allowed")
	}
	if l.reserve("198.51.100.2") != limitClient {
		t.Fatal("failed attempts without a hash do not count for passwords")
	}
	if l.reserve("198.51.100.3") != limitNone {
		t.Fatal("attempts without a hash used the second's password checks")
	}
}

func TestSafeNextStaysOnSite(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/", "/"},
		{"/history?line=2&from=2026-11-01", "/history?line=2&from=2026-11-01"},
		{"/charts#week", "/charts#week"},
		{"", "/"},
		{"history", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example/", "/"},
		{"/\t/evil.example/x", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/x\x00", "/"},
		{"/x\x7f", "/"},
		{"/a\\b", "/"},
		{"https://evil.example/", "/"},
		{"/%zz", "/"},
	} {
		if got := safeNext(c.in); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
