// Package diskfull lets tests run out of disk for real: RLIMIT_FSIZE makes
// every write past the limit fail with EFBIG, exactly where a full disk
// fails with ENOSPC, without root or a special file system. Because the
// limit binds the whole process, the test body runs in a child copy of the
// test binary so the test framework's own files are never caught by it.
package diskfull

import (
	"syscall"
	"testing"

	"github.com/tapagent/tapagent/internal/fsfault"
)

// InChild reruns the calling test in a child process. In the parent it waits
// for the child, fails t if the child failed, and returns false; in the child
// it returns true and the caller runs the test body.
func InChild(t *testing.T) bool {
	t.Helper()
	return fsfault.InChild(t)
}

// Limit caps the size any file of this process may grow to; restore lifts
// the cap again, like freeing space on the disk.
func Limit(bytes int64) (restore func(), err error) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		return nil, err
	}
	lim := old
	lim.Cur = uint64(bytes)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return nil, err
	}
	return func() { _ = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) }, nil
}
