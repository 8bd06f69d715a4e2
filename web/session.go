package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/netip"
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
	hash    string // the password hash it logged in with: a reset ends it
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
	ss := &session{id: token(), user: u.Name, role: u.Role, hash: u.Hash, csrf: token(), expires: now.Add(s.ttl)}
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

// limiter counts failed logins per client in fixed one-minute windows,
// and bounds the password checks of all clients together per second.
type limiter struct {
	mu     sync.Mutex
	max    int
	now    func() time.Time
	window time.Time
	fails  map[string]*tries
	// second and checks count the password checks in the current second.
	second    time.Time
	checks    int
	perSecond int
}

// tries is one client's count in the current window.
type tries struct {
	n    int
	last time.Time // the latest attempt, to evict the stalest when full
}

// maxTracked bounds the clients counted in one window; a new client in a
// full table evicts the one that failed least recently, so nobody shares a
// count with an attacker.
const maxTracked = 1024

// maxChecksPerSecond bounds bcrypt compares from all clients together: one
// costs tens of milliseconds on the controller, and the wall must keep
// pouring while someone floods the login.
const maxChecksPerSecond = 10

func newLimiter(max int, now func() time.Time) *limiter {
	return &limiter{max: max, now: now, fails: map[string]*tries{}, perSecond: maxChecksPerSecond}
}

// clientKey is the unit one client controls: an IPv4 address, or the /64
// of an IPv6 address (a single host is routinely given a whole /64).
func clientKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

func (l *limiter) roll(now time.Time) {
	if w := now.Truncate(time.Minute); !w.Equal(l.window) {
		l.window, l.fails = w, map[string]*tries{}
	}
	if sec := now.Truncate(time.Second); !sec.Equal(l.second) {
		l.second, l.checks = sec, 0
	}
}

// entry returns the client's count, evicting the least recently used
// entry when the table is full.
func (l *limiter) entry(key string) *tries {
	if t, ok := l.fails[key]; ok {
		return t
	}
	if len(l.fails) >= maxTracked {
		var stale string
		var at time.Time
		for k, t := range l.fails {
			if stale == "" || t.last.Before(at) {
				stale, at = k, t.last
			}
		}
		delete(l.fails, stale)
	}
	t := &tries{}
	l.fails[key] = t
	return t
}

// limitReason says why a login attempt was refused before its check.
type limitReason int

const (
	limitNone   limitReason = iota
	limitClient             // this client used its attempts for the minute
	limitBusy               // all clients together used this second's checks
)

// reserve counts an attempt from addr before its password is checked, so
// parallel requests cannot all pass; a successful login refunds it.
func (l *limiter) reserve(addr string) limitReason { return l.take(addr, true) }

// take counts an attempt from addr; hashing says the attempt costs a
// password check, bounded per second for all clients together.
func (l *limiter) take(addr string, hashing bool) limitReason {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.roll(now)
	key := clientKey(addr)
	if t, ok := l.fails[key]; ok && t.n >= l.max {
		return limitClient
	}
	if hashing {
		if l.checks >= l.perSecond {
			return limitBusy
		}
		l.checks++
	}
	t := l.entry(key)
	t.n++
	t.last = now
	return limitNone
}

// refund gives back the attempt of a login that succeeded.
func (l *limiter) refund(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.fails[clientKey(addr)]; ok && t.n > 0 {
		t.n--
	}
}
