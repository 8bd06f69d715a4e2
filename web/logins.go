package web

import (
	"crypto/subtle"
	"errors"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Logins are the dashboard's password checks for another listener that
// takes user names and passwords (the Telemetron API's OAuth2 password
// grant): a users file in the dashboard's format (SetUser writes it),
// re-read when it changes, and the same limits on failed attempts per
// client and on bcrypt checks per second.
type Logins struct {
	file  userFile
	limit *limiter
	dummy []byte
}

// Refusals of Logins.Check before the password is looked at.
var (
	// ErrTooManyAttempts: this client used its attempts for the minute.
	ErrTooManyAttempts = errors.New("too many failed logins from this address: wait a minute")
	// ErrBusy: all clients together used this second's password checks.
	ErrBusy = errors.New("too many logins at once: try again in a second")
)

// NewLogins checks against the users file at path, allowing attempts
// failed logins per client and minute.
func NewLogins(path string, attempts int, now func() time.Time) *Logins {
	l := &Logins{limit: newLimiter(attempts, now)}
	l.file.path = path
	l.dummy, _ = bcrypt.GenerateFromPassword([]byte("no user has this password"), bcryptCost)
	return l
}

// Check counts an attempt from the client address addr (the
// connection's IP, never a header's) and checks name and password; a
// success gives the attempt back. A users file that cannot be read is an
// error and logs nobody in.
func (l *Logins) Check(addr, name string, password []byte) (User, bool, error) {
	switch l.limit.reserve(addr) {
	case limitClient:
		return User{}, false, ErrTooManyAttempts
	case limitBusy:
		return User{}, false, ErrBusy
	}
	users, err := l.file.current()
	u, ok := checkPassword(users, name, password, l.dummy)
	if ok {
		l.limit.refund(addr)
	}
	return u, ok, err
}

// Attempt counts an attempt from the client address addr at a credential
// that is not a password (a refresh token) against the same attempts per
// client and minute as Check, then runs check; a success gives the
// attempt back. check hashes nothing, so the bound on password checks per
// second does not apply: a client that keeps presenting valid refresh
// tokens is never refused, one that guesses them is, as one that guesses
// passwords.
func (l *Logins) Attempt(addr string, check func() bool) (bool, error) {
	if l.limit.take(addr, false) != limitNone {
		return false, ErrTooManyAttempts
	}
	ok := check()
	if ok {
		l.limit.refund(addr)
	}
	return ok, nil
}

// HasUsers reports whether the users file holds a user.
func (l *Logins) HasUsers() (bool, error) {
	users, err := l.file.current()
	return len(users) > 0, err
}

// checkPassword finds name in users and compares its hash; an unknown
// name costs the same bcrypt work (dummy), so timing does not reveal users.
func checkPassword(users []User, name string, password, dummy []byte) (User, bool) {
	for _, u := range users {
		if u.Name == name && len(password) <= MaxPasswordLen {
			return u, bcrypt.CompareHashAndPassword([]byte(u.Hash), password) == nil
		}
	}
	_ = bcrypt.CompareHashAndPassword(dummy, password[:min(len(password), MaxPasswordLen)])
	return User{}, false
}

// Still reports whether name is still in the users file with the password
// hash it logged in with: removing a user or changing their password ends
// what was issued to them, as it ends their dashboard sessions.
func (l *Logins) Still(name, hash string) bool {
	users, err := l.file.current()
	if err != nil {
		return false
	}
	for _, u := range users {
		if u.Name == name {
			return subtle.ConstantTimeCompare([]byte(u.Hash), []byte(hash)) == 1
		}
	}
	return false
}
