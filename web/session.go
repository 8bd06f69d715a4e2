package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// maxSessions bounds the logins held at once; the oldest goes first.
const maxSessions = 256

// session is one login.
type session struct {
	id      string
	user    string
	role    Role
	csrf    string
	expires time.Time
}

// sessions holds logins in memory: a restart logs everyone out.
type sessions struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	m   map[string]*session
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[string]*session{}}
}

// token is 32 random bytes, URL-safe.
func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for a user who just proved their password.
func (s *sessions) create(u User) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	for len(s.m) >= maxSessions {
		s.dropOldest()
	}
	ss := &session{id: token(), user: u.Name, role: u.Role, csrf: token(), expires: now.Add(s.ttl)}
	s.m[ss.id] = ss
	return ss
}

// get returns the live session with this id.
func (s *sessions) get(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return session{}, false
	}
	if !s.now().Before(ss.expires) {
		delete(s.m, id)
		return session{}, false
	}
	return *ss, true
}

// end logs a session out.
func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (s *sessions) sweep(now time.Time) {
	for id, ss := range s.m {
		if !now.Before(ss.expires) {
			delete(s.m, id)
		}
	}
}

func (s *sessions) dropOldest() {
	var oldest *session
	for _, ss := range s.m {
		if oldest == nil || ss.expires.Before(oldest.expires) {
			oldest = ss
		}
	}
	delete(s.m, oldest.id)
}

// csrfOK compares a submitted token with the session's in constant time.
func (ss session) csrfOK(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

// limiter counts failed logins per address in fixed one-minute windows.
type limiter struct {
	mu     sync.Mutex
	max    int
	now    func() time.Time
	window time.Time
	fails  map[string]int
}

// maxTracked bounds the addresses counted in one window; beyond it every
// new address shares one count, so a flood from many addresses is limited
// as one.
const maxTracked = 1024

func newLimiter(max int, now func() time.Time) *limiter {
	return &limiter{max: max, now: now, fails: map[string]int{}}
}

func (l *limiter) key(addr string) string {
	if _, ok := l.fails[addr]; !ok && len(l.fails) >= maxTracked {
		return "*"
	}
	return addr
}

func (l *limiter) roll() {
	if w := l.now().Truncate(time.Minute); !w.Equal(l.window) {
		l.window, l.fails = w, map[string]int{}
	}
}

// allowed reports whether addr may try a login now.
func (l *limiter) allowed(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	return l.fails[l.key(addr)] < l.max
}

// failed counts a wrong password from addr.
func (l *limiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	l.fails[l.key(addr)]++
}
