package voucherpay

import (
	"fmt"
	"testing"
	"time"
)

// TestGuessSourcesBounded: the sources remembered stay within maxSources;
// the one seen least recently is forgotten first, so a source locked out
// just now is kept.
func TestGuessSourcesBounded(t *testing.T) {
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }})
	for i := range 3 * maxSources {
		s.guessRefused(fmt.Sprintf("web:user%d", i), now)
		now = now.Add(time.Millisecond)
	}
	for range GuessesPerWindow {
		s.guessRefused("scanner", now)
	}
	if n := len(s.guesses); n > maxSources {
		t.Fatalf("%d sources remembered, at most %d", n, maxSources)
	}
	if s.guessLocked("scanner", now) == "" {
		t.Fatal("the source locked out just now was forgotten")
	}
}
