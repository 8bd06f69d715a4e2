package scannersim_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/sim/scannersim"
)

// read opens the scanner by name, as the agent does, and reads n bytes.
func read(t *testing.T, path string, n int) string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := pty.File{File: f}
	if err := p.SetReadTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(p, buf); err != nil {
		t.Fatal(err)
	}
	return string(buf)
}

func TestTypeVanishPlug(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scanner")
	s, err := scannersim.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Type("ABC-1", scannersim.CRLF); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path, 7); got != "ABC-1\r\n" {
		t.Fatalf("read %q", got)
	}
	s.Vanish()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the device name stayed: %v", err)
	}
	if err := s.Type("X", scannersim.CR); !errors.Is(err, scannersim.ErrVanished) {
		t.Fatalf("typing while unplugged: %v", err)
	}
	if err := s.Plug(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send([]byte("\x02junk\n")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path, 6); got != "\x02junk\n" {
		t.Fatalf("read %q after plugging in again", got)
	}
}
