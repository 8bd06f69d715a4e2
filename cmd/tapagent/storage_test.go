package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/fsfault"
	"github.com/tapagent/tapagent/sim/ttgserver"
)

// seedData runs the demo without a server so that a database with unsent
// records is left in a fresh data directory.
func seedData(t *testing.T, data string) {
	t.Helper()
	if out, err := exec.Command(binary, "sim", "--json", "--speed", "0", "--no-ttg", "--duration", "30s", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("seeding: %v\n%s", err, out)
	}
}

// simFailsLeavingDatabase runs `tapagent sim` on data and checks that it
// exits non-zero naming want, with the database untouched and nothing moved.
func simFailsLeavingDatabase(t *testing.T, cmd *exec.Cmd, data, want string) {
	t.Helper()
	path := filepath.Join(data, "tapagent.db")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() == 0 || !strings.Contains(string(out), want) || !strings.Contains(string(out), "left in place") {
		t.Fatalf("sim: %v, output %q; want a non-zero exit naming %q", err, out, want)
	}
	if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, before) {
		t.Fatalf("database changed or gone: %v", err)
	}
	if moved, _ := filepath.Glob(path + ".*"); len(moved) != 0 {
		t.Fatalf("moved aside: %v", moved)
	}
	t.Logf("sim said: %s", bytes.TrimSpace(out))
}

func simArgs(data string) []string {
	return []string{"sim", "--plain", "--speed", "0", "--no-ttg", "--web", "off", "--scenario", "none", "--duration", "1s", "--data", data}
}

// TestSimLeavesALockedDatabaseInPlace: another agent holds the database.
func TestSimLeavesALockedDatabaseInPlace(t *testing.T) {
	data := t.TempDir()
	seedData(t, data)
	db, err := bolt.Open(filepath.Join(data, "tapagent.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	simFailsLeavingDatabase(t, exec.Command(binary, simArgs(data)...), data, "locked")
}

// TestSimLeavesAnUnreadableDatabaseInPlace runs the agent as a user that
// may not open the database (the service user after a restore done as root).
func TestSimLeavesAnUnreadableDatabaseInPlace(t *testing.T) {
	data := filepath.Join(fsfault.PublicDir(t), "data")
	seedData(t, data)
	os.Chmod(data, 0o755)
	bin := filepath.Join(filepath.Dir(data), "tapagent")
	if out, err := exec.Command("cp", binary, bin).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cmd := exec.Command(bin, simArgs(data)...)
	cmd.Dir = filepath.Dir(data)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: fsfault.Nobody, Gid: fsfault.Nobody}}
	simFailsLeavingDatabase(t, cmd, data, "permission denied")
}

// TestSimLeavesADatabaseOnAReadOnlyFileSystemInPlace mounts the data
// directory read-only (in a mount namespace of the test's own).
func TestSimLeavesADatabaseOnAReadOnlyFileSystemInPlace(t *testing.T) {
	if !fsfault.InChild(t, fsfault.OwnMounts) {
		return
	}
	data := t.TempDir()
	readOnly := fsfault.Tmpfs(t, data)
	seedData(t, data)
	if err := readOnly(); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	simFailsLeavingDatabase(t, exec.Command(binary, simArgs(data)...), data, "read-only file system")
}

// demoRun runs 30 s of the demo on data and returns its events.
func demoRun(t *testing.T, data string, extra ...string) []device.Event {
	t.Helper()
	out, err := exec.Command(binary, append([]string{"sim", "--json", "--speed", "0", "--duration", "30s", "--data", data}, extra...)...).Output()
	if err != nil {
		t.Fatalf("sim %v: %v", extra, err)
	}
	return readEvents(t, bytes.NewReader(out))
}

// TestSimSalvagesACorruptDatabase: a wall delivers its pours to the
// (embedded) server, then books more while the server is away; then the
// database's event log is scribbled over. The agent moves the file aside,
// carries the unsent records over and delivers them, and its next pours get
// ids the server has not seen: no pour id arrives as external_id twice.
func TestSimSalvagesACorruptDatabase(t *testing.T) {
	data := t.TempDir()
	demoRun(t, data)
	demoRun(t, data, "--no-ttg")
	_, waiting := openIntents(t, data)
	if len(waiting) == 0 {
		t.Fatal("nothing left to send")
	}
	path := filepath.Join(data, "tapagent.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	db.View(func(tx *bolt.Tx) error { root = int64(tx.Bucket([]byte("events")).Root()); return nil })
	ps := int64(db.Info().PageSize)
	db.Close()
	if root == 0 {
		t.Fatal("event log is inline")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xde, 0xad}, int(ps/2)), root*ps)
	f.Close()

	evs := demoRun(t, data)
	if n := countType(evs, device.EventStorageCorruptMoved); n != 1 {
		t.Fatalf("%d storage_corrupt_moved events", n)
	}
	if _, left := openIntents(t, data); len(left) != 0 {
		t.Fatalf("%d records still waiting", len(left))
	}
	srv, err := ttgserver.New(ttgserver.Options{DataDir: filepath.Join(data, "ttg-server")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ids := map[string]int{}
	for _, tx := range srv.Transactions() {
		ids[tx.Tx.ExternalID]++
	}
	for id, n := range ids {
		if n > 1 && strings.HasPrefix(id, "1001-") {
			t.Errorf("external_id %s arrived %d times", id, n)
		}
	}
	sent := 0
	for _, r := range waiting {
		// A record without a card or a reference of its own goes to the
		// server under its pour id.
		if r.Kind != "unattributed" && r.Ref.ExternalID == "" && r.Ref.CardID == "" {
			if ids[r.ID] != 1 {
				t.Errorf("salvaged record %s reached the server %d times", r.ID, ids[r.ID])
			}
			sent++
		}
	}
	if sent == 0 {
		t.Fatal("no salvaged record to follow")
	}
	t.Logf("%d records salvaged, %d of them followed to the server", len(waiting), sent)
}
