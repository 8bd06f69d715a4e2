// Package scannersim is a simulated USB-serial QR/barcode scanner on a
// real pseudo-terminal. It types each code then its terminator (CR, CR
// LF or LF, as scanners are configured), can send a partial line or junk,
// and can vanish (unplugged: both ends closed, its device name gone) and
// come back on a new pseudo-terminal under the same name. The agent opens
// Path, a symbolic link to the current slave, by name, as it opens a real
// scanner's /dev/ttyACM0.
package scannersim

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/tapagent/tapagent/internal/pty"
)

// Terminators scanners end a code with.
const (
	CR   = "\r"
	CRLF = "\r\n"
	LF   = "\n"
)

// Scanner is one simulated scanner.
type Scanner struct {
	// Path is the scanner's device name: a link to the current slave.
	Path string

	mu            sync.Mutex
	master, slave *os.File // nil while vanished
}

// ErrVanished is a write to a scanner that is unplugged.
var ErrVanished = errors.New("scanner unplugged")

// New plugs a scanner in under path (a file name that must not exist).
func New(path string) (*Scanner, error) {
	s := &Scanner{Path: path}
	if err := s.Plug(); err != nil {
		return nil, err
	}
	return s, nil
}

// Plug connects the scanner on a new pseudo-terminal (after Vanish).
func (s *Scanner) Plug() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master != nil {
		return nil
	}
	m, sl, err := pty.Open()
	if err != nil {
		return err
	}
	_ = os.Remove(s.Path)
	if err := os.Symlink(sl.Name(), s.Path); err != nil {
		m.Close()
		sl.Close()
		return fmt.Errorf("scanner: %w", err)
	}
	// The scanner keeps the slave open too, so that what it types before
	// the agent opens the port is kept, as a USB-serial adapter's buffer.
	s.master, s.slave = m, sl
	return nil
}

// Vanish unplugs the scanner: the agent's reads fail, its name is gone.
func (s *Scanner) Vanish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master == nil {
		return
	}
	_ = os.Remove(s.Path)
	s.master.Close()
	s.slave.Close()
	s.master, s.slave = nil, nil
}

// Type scans code: its bytes, then the terminator.
func (s *Scanner) Type(code, terminator string) error { return s.Send([]byte(code + terminator)) }

// Send writes raw bytes (a partial line, junk, control bytes).
func (s *Scanner) Send(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master == nil {
		return ErrVanished
	}
	_, err := s.master.Write(b)
	return err
}

// Close unplugs the scanner for good.
func (s *Scanner) Close() { s.Vanish() }
