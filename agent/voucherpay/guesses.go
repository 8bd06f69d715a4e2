package voucherpay

import (
	"fmt"
	"time"
)

// Code guessing is bounded per source (the via a caller names: the
// scanner, a dashboard user, MQTT): SmartNow answers every made-up code,
// and a code that happens to exist pours. A source that has
// GuessesPerWindow codes refused by SmartNow within GuessWindow is locked
// out for GuessLockout, doubling with each lockout up to MaxGuessLockout;
// a source quiet for MaxGuessLockout after its lockout starts afresh.
const (
	GuessesPerWindow = 5
	GuessWindow      = time.Minute
	GuessLockout     = time.Minute
	MaxGuessLockout  = time.Hour
	// maxSources bounds the sources remembered; beyond it the one seen
	// least recently is forgotten (sources are few: one per scanner,
	// dashboard user and way in).
	maxSources = 256
)

// guesser is one source's recent refusals and lockout.
type guesser struct {
	fails   []time.Time // refusals within the window, at most GuessesPerWindow
	strikes int         // lockouts so far
	until   time.Time   // locked out until
	last    time.Time   // last seen
}

// guessLocked says why source may not try a code at now, or "".
func (s *Service) guessLocked(source string, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.guesses[source]
	if !ok || !now.Before(g.until) {
		return ""
	}
	return fmt.Sprintf("too many unknown or invalid codes from %s; try again in %s", source, g.until.Sub(now).Round(time.Second))
}

// guessRefused counts a code SmartNow refused for source; it returns the
// lockout it starts (0: none).
func (s *Service) guessRefused(source string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.guesses[source]
	if !ok {
		if len(s.guesses) >= maxSources {
			s.forgetQuietest()
		}
		g = &guesser{}
		s.guesses[source] = g
	}
	g.last = now
	if g.strikes > 0 && now.Sub(g.until) >= MaxGuessLockout {
		g.strikes = 0 // a long good behaviour forgives
	}
	cut := now.Add(-GuessWindow)
	kept := g.fails[:0]
	for _, t := range g.fails {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	g.fails = append(kept, now)
	if len(g.fails) < GuessesPerWindow {
		return 0
	}
	g.fails = g.fails[:0]
	lock := MaxGuessLockout
	if g.strikes < 7 { // 1 min << 6 = 64 min: capped from there on
		lock = min(GuessLockout<<g.strikes, MaxGuessLockout)
	}
	g.strikes++
	g.until = now.Add(lock)
	return lock
}

// forgetQuietest drops the source seen least recently (s.mu held).
func (s *Service) forgetQuietest() {
	var oldest string
	var at time.Time
	for k, g := range s.guesses {
		if oldest == "" || g.last.Before(at) {
			oldest, at = k, g.last
		}
	}
	delete(s.guesses, oldest)
}
