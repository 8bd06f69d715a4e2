// Package fsfault lets tests meet file-system failures for real, as the
// kernel produces them: a file the process may not open (another uid), a
// read-only mount, a block device that fails its reads. Such conditions
// bind a whole process (its credentials, its mount namespace), so the test
// body runs in a child copy of the test binary; the tests run as root,
// which file modes alone do not stop. A child that cannot get the condition
// from the OS skips, and the parent skips with it.
package fsfault

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const childEnv = "TAPAGENT_FSFAULT_CHILD"

// Setup prepares the child's command (credentials, namespaces).
type Setup func(t *testing.T, cmd *exec.Cmd)

// InChild reruns the calling test in a child process prepared by each setup.
// In the parent it waits for the child, fails t if the child failed, skips t
// if the child skipped, and returns false; in the child it returns true and
// the caller runs the test body.
func InChild(t *testing.T, setups ...Setup) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexpPath(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	for _, s := range setups {
		s(t, cmd)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("--- SKIP: "+t.Name())) {
		t.Skipf("child process skipped:\n%s", out)
	}
	t.Logf("child process:\n%s", out)
	return false
}

// regexpPath anchors every level of a (sub)test name for -test.run.
func regexpPath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = regexpQuote(p)
	}
	return strings.Join(parts, "$/^")
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Nobody is the unprivileged uid and gid the AsNobody child runs as.
const Nobody = 65534

// AsNobody runs the child as the unprivileged user nobody, so that file
// permissions bind it. The test binary is copied to a directory that user
// may enter, because the go tool builds it in one only root may.
func AsNobody(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	dir := PublicDir(t)
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	if err := copyFile(os.Args[0], bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Path, cmd.Args[0] = bin, bin
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: Nobody, Gid: Nobody}
	cmd.Dir = dir
}

// PublicDir is a temporary directory every user may enter and read, removed
// after the test.
func PublicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fsfault-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// OwnMounts runs the child in a mount namespace of its own, so that what it
// mounts is invisible to every other process and goes away with it.
func OwnMounts(t *testing.T, cmd *exec.Cmd) {
	cmd.SysProcAttr.Unshareflags |= syscall.CLONE_NEWNS
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
