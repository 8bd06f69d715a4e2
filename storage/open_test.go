package storage

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tapagent/tapagent/internal/fsfault"
)

// seed makes a database at path holding n outbox records and an open pour
// on line 3, and closes it.
func seed(t testing.TB, path string, n int) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < n; i++ {
		if _, err := s.Book(Booking{Record: pourRecord(fmt.Sprint("r", i), 1, 10)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateIntent(7, Intent{Line: 3}); err != nil {
		t.Fatal(err)
	}
}

// leftInPlace checks that Open failed with want in its message and that the
// file is where it was, untouched, with nothing moved aside beside it.
func leftInPlace(t *testing.T, path string, before []byte, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("open succeeded")
	}
	t.Logf("open: %v", err)
	if errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "left in place") {
		t.Fatalf("error %q: want %q, not corruption, file left in place", err, want)
	}
	if before != nil {
		if now, rerr := os.ReadFile(path); rerr != nil || string(now) != string(before) {
			t.Fatalf("file changed or gone: %v", rerr)
		}
	}
	siblings, _ := filepath.Glob(path + ".*")
	if len(siblings) != 0 {
		t.Fatalf("something was moved or built beside the file: %v", siblings)
	}
}

// TestPermissionDeniedIsNotCorruption opens, as an unprivileged user, a
// database only root may read: an error naming the cause, nothing moved.
func TestPermissionDeniedIsNotCorruption(t *testing.T) {
	if !fsfault.InChild(t, fsfault.AsNobody, func(t *testing.T, cmd *exec.Cmd) {
		dir := fsfault.PublicDir(t)
		seed(t, filepath.Join(dir, "tapagent.db"), 5)
		cmd.Env = append(cmd.Env, "FSFAULT_DIR="+dir)
	}) {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatal("the child runs as root")
	}
	path := filepath.Join(os.Getenv("FSFAULT_DIR"), "tapagent.db")
	_, err := Open(path, Options{OpenTimeout: time.Second})
	leftInPlace(t, path, nil, err, "permission denied")
}

// TestLockedDatabaseIsNotCorruption: another process, or another handle
// in this one, holds the lock; Open times out with ErrLocked and moves nothing.
func TestLockedDatabaseIsNotCorruption(t *testing.T) {
	cases := map[string]func(t *testing.T, path string) (release func()){
		"second bolt handle": func(t *testing.T, path string) func() {
			db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return func() { db.Close() }
		},
		"another process": func(t *testing.T, path string) func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
			cmd.Env = append(os.Environ(), "HOLD_LOCK="+path)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
				t.Fatalf("helper: %q %v", line, err)
			}
			return func() { stdin.Close(); cmd.Wait() }
		},
	}
	for name, hold := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tapagent.db")
			seed(t, path, 3)
			before, _ := os.ReadFile(path)
			release := hold(t, path)
			_, err := Open(path, Options{OpenTimeout: 100 * time.Millisecond})
			release()
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("open: %v", err)
			}
			leftInPlace(t, path, before, err, "locked")
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("after the lock is released: %v", err)
			}
			defer s.Close()
			if n, _ := s.OutboxLen(); n != 3 {
				t.Fatalf("outbox %d after reopen", n)
			}
		})
	}
}

// TestHelperHoldLock is the other process of TestLockedDatabaseIsNotCorruption:
// it holds the database until its stdin closes.
func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv("HOLD_LOCK")
	if path == "" {
		t.Skip("helper process only")
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// TestReadOnlyFileSystemIsNotCorruption mounts a tmpfs, makes a database on
// it, remounts it read-only and opens the database.
func TestReadOnlyFileSystemIsNotCorruption(t *testing.T) {
	if !fsfault.InChild(t, fsfault.OwnMounts) {
		return
	}
	dir := t.TempDir()
	readOnly := fsfault.Tmpfs(t, dir)
	path := filepath.Join(dir, "tapagent.db")
	seed(t, path, 5)
	before, _ := os.ReadFile(path)
	if err := readOnly(); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	_, err := Open(path, Options{OpenTimeout: time.Second})
	leftInPlace(t, path, before, err, "read-only file system")
}

// TestIOErrorIsNotCorruption cuts the block device under a database so that
// reading it fails with EIO, as a dying SD card does. bbolt reports an
// unreadable meta page as an invalid database; reading the file back tells
// the two apart.
func TestIOErrorIsNotCorruption(t *testing.T) {
	if !fsfault.InChild(t, fsfault.OwnMounts) {
		return
	}
	disk := fsfault.NewFailingDisk(t)
	path := filepath.Join(disk.Dir, "tapagent.db")
	seed(t, path, 50)
	if err := disk.Fail("tapagent.db"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{OpenTimeout: time.Second})
	leftInPlace(t, path, nil, err, "input/output error")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("file gone: %v", err)
	}
	if _, err := os.ReadFile(path); !errors.Is(err, syscall.EIO) {
		t.Fatalf("the device still reads: %v", err)
	}
}
