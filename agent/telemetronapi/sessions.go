package telemetronapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/tapagent/tapagent/web"
)

// Session table bounds: a few tools log in to one machine. Each user holds
// at most maxUserSessions at once (a new login ends that user's oldest),
// so the table, bounded by the users file's web.MaxUsers, never has to
// end one user's session to make room for another's.
const (
	maxUserSessions = 16
	maxSessions     = web.MaxUsers * maxUserSessions
	refreshTTL      = 30 * 24 * time.Hour
)

// errSessionsFull refuses a login when every place holds a live session
// of a user still in the users file (the file changed under the table).
var errSessionsFull = errors.New("too many sessions: log out somewhere or try again later")

// session is one login: a password grant starts it, each refresh
// continues it with a new pair of tokens and ends the pair it replaces,
// a logout ends it. It holds exactly one access and one refresh token.
type session struct {
	user string
	// hash is the user's password hash at the login: the session ends when
	// the user is removed or their password changes.
	hash string
	// client is the OAuth2 client it was issued to: only that client may
	// refresh it (RFC 6749 §6).
	client        string
	access        string
	refresh       string
	accessExpires time.Time
	// expires is the refresh token's end, the session's.
	expires time.Time
	// issued orders the issues (a counter, not a time: two logins in one
	// clock tick still have an order): a user's oldest goes first.
	issued uint64
}

// still says whether a user still logs in with the password hash a
// session was started with (web.Logins.Still).
type still func(user, hash string) bool

// tokens are the sessions and their tokens, in memory only: a restart of
// the agent logs everyone out.
type tokens struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	access  map[string]*session
	refresh map[string]*session
	// issues counts the pairs issued; it cannot wrap in the agent's life.
	issues uint64
}

func newTokens(ttl time.Duration, now func() time.Time) *tokens {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &tokens{ttl: ttl, now: now, access: map[string]*session{}, refresh: map[string]*session{}}
}

// randomToken is 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start begins a session for user, who logged in through client with the
// password hash hash. A user at maxUserSessions loses their own oldest;
// a full table first drops the sessions of users ok no longer accepts.
func (t *tokens) start(user, hash, client string, ok still) (tokenReply, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.sweep(func(s *session) bool { return !now.Before(s.expires) })
	if oldest, n := t.oldest(user); n >= maxUserSessions {
		t.end(oldest)
	}
	if len(t.refresh) >= maxSessions {
		t.sweep(func(s *session) bool { return !ok(s.user, s.hash) })
	}
	if len(t.refresh) >= maxSessions {
		return tokenReply{}, errSessionsFull
	}
	s := &session{user: user, hash: hash, client: client}
	return t.issue(s, now), nil
}

// renew continues the session of the refresh token rt, presented by
// client: it ends the session's tokens and issues the next pair. A token
// issued to another client is refused and stays good for its own; one of
// a user ok no longer accepts ends its session.
func (t *tokens) renew(rt, client string, ok still) (tokenReply, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	s, found := t.refresh[rt]
	switch {
	case !found || s.client != client:
		return tokenReply{}, false
	case !now.Before(s.expires) || !ok(s.user, s.hash):
		t.end(s)
		return tokenReply{}, false
	}
	delete(t.access, s.access)
	delete(t.refresh, s.refresh)
	return t.issue(s, now), true
}

// issue gives s a fresh pair of tokens and files it under both.
func (t *tokens) issue(s *session, now time.Time) tokenReply {
	s.access, s.refresh = randomToken(), randomToken()
	t.issues++
	s.accessExpires, s.expires, s.issued = now.Add(t.ttl), now.Add(refreshTTL), t.issues
	t.access[s.access], t.refresh[s.refresh] = s, s
	return tokenReply{TokenType: "Bearer", ExpiresIn: int64(t.ttl / time.Second), AccessToken: s.access, RefreshToken: s.refresh}
}

// grant is the session a valid access token belongs to (a copy).
func (t *tokens) grant(at string) (session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.access[at]
	if !ok || !t.now().Before(s.accessExpires) {
		return session{}, false
	}
	return *s, true
}

// logout ends the whole session of the access token at.
func (t *tokens) logout(at string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.access[at]; ok {
		t.end(s)
	}
}

// end forgets s and both its tokens; the caller holds mu.
func (t *tokens) end(s *session) {
	delete(t.access, s.access)
	delete(t.refresh, s.refresh)
}

// oldest is user's session issued longest ago and how many user holds.
func (t *tokens) oldest(user string) (*session, int) {
	var first *session
	n := 0
	for _, s := range t.refresh {
		if s.user != user {
			continue
		}
		n++
		if first == nil || s.issued < first.issued {
			first = s
		}
	}
	return first, n
}

// sweep ends every session drop selects.
func (t *tokens) sweep(drop func(*session) bool) {
	for _, s := range t.refresh {
		if drop(s) {
			t.end(s)
		}
	}
}

// sessions is how many sessions are held.
func (t *tokens) sessions() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.refresh)
}
