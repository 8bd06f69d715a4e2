package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a user may do on the dashboard.
type Role string

// Roles: staff run the bar (tap list, history, keg change); an operator
// may do everything.
const (
	RoleStaff    Role = "staff"
	RoleOperator Role = "operator"
)

// Limits of the users file: a dashboard has a handful of users, and a
// password longer than bcrypt's 72 bytes would be silently cut.
const (
	MaxUsers       = 64
	MaxNameLen     = 32
	MinPasswordLen = 8
	MaxPasswordLen = 72
	maxUsersFile   = 64 << 10
	bcryptCost     = 10
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleStaff, RoleOperator:
		return Role(s), nil
	}
	return "", fmt.Errorf("role %q is not staff or operator", s)
}

// User is one dashboard login. Hash is a bcrypt hash; the password itself
// is never stored.
type User struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	Hash string `json:"hash"`
}

// usersDoc is the users file.
type usersDoc struct {
	V     int    `json:"v"`
	Users []User `json:"users"`
}

// ParseUsers decodes a users file, refusing anything malformed so a
// damaged file never logs someone in with the wrong role.
func ParseUsers(b []byte) ([]User, error) {
	if len(b) > maxUsersFile {
		return nil, fmt.Errorf("users file is %d bytes, more than %d", len(b), maxUsersFile)
	}
	var d usersDoc
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	if d.V != 1 {
		return nil, fmt.Errorf("users file: version %d, want 1", d.V)
	}
	if len(d.Users) > MaxUsers {
		return nil, fmt.Errorf("users file: %d users, at most %d", len(d.Users), MaxUsers)
	}
	seen := map[string]bool{}
	for i, u := range d.Users {
		if err := checkName(u.Name); err != nil {
			return nil, fmt.Errorf("users file: user %d: %w", i, err)
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("users file: user %q twice", u.Name)
		}
		seen[u.Name] = true
		if _, err := ParseRole(string(u.Role)); err != nil {
			return nil, fmt.Errorf("users file: user %q: %w", u.Name, err)
		}
		if _, err := bcrypt.Cost([]byte(u.Hash)); err != nil {
			return nil, fmt.Errorf("users file: user %q: hash: %w", u.Name, err)
		}
	}
	return d.Users, nil
}

func checkName(n string) error {
	if n == "" || len(n) > MaxNameLen {
		return fmt.Errorf("name %q must be 1..%d characters", n, MaxNameLen)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("name %q: only letters, digits, '-', '_' and '.'", n)
		}
	}
	return nil
}

// LoadUsers reads the users file; a missing file is no users.
func LoadUsers(path string) ([]User, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return ParseUsers(b)
}

// SetUser adds a user or replaces the password and role of one, writing
// the file atomically (a temporary file renamed into place, mode 0600).
func SetUser(path, name string, role Role, password []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if len(password) < MinPasswordLen || len(password) > MaxPasswordLen {
		return fmt.Errorf("password must be %d..%d bytes", MinPasswordLen, MaxPasswordLen)
	}
	users, err := LoadUsers(path)
	if err != nil {
		return err
	}
	h, err := bcrypt.GenerateFromPassword(password, bcryptCost)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	u := User{Name: name, Role: role, Hash: string(h)}
	if i := slices.IndexFunc(users, func(x User) bool { return x.Name == name }); i >= 0 {
		users[i] = u
	} else if len(users) >= MaxUsers {
		return fmt.Errorf("users file already holds %d users", MaxUsers)
	} else {
		users = append(users, u)
	}
	return writeUsers(path, users)
}

// RemoveUser deletes a user; removing one that does not exist is an error.
func RemoveUser(path, name string) error {
	users, err := LoadUsers(path)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(users, func(x User) bool { return x.Name == name })
	if i < 0 {
		return fmt.Errorf("no user %q", name)
	}
	return writeUsers(path, slices.Delete(users, i, i+1))
}

func writeUsers(path string, users []User) error {
	b, err := json.MarshalIndent(usersDoc{V: 1, Users: users}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".web-users-*")
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := sameOwnerAsDir(tmp, filepath.Dir(path)); err != nil {
		tmp.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	return nil
}

// NewPassword is a random 16-character password (96 bits).
func NewPassword() string { return token()[:16] }

// sameOwnerAsDir gives a file written as root the owner of its directory:
// `sudo tapagent web user add` in the service's data directory must leave
// a file the service user can read.
func sameOwnerAsDir(f *os.File, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return nil
	}
	return f.Chown(int(sys.Uid), int(sys.Gid))
}
