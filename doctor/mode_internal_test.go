package doctor

import (
	"io/fs"
	"testing"
)

// TestLsMode: modes read as ls -l prints them, not as Go's FileMode.String
// ("Dcrw-------" for a serial port).
func TestLsMode(t *testing.T) {
	for _, c := range []struct {
		mode fs.FileMode
		want string
	}{
		{fs.ModeDevice | fs.ModeCharDevice | 0o600, "crw-------"},
		{fs.ModeDevice | 0o660, "brw-rw----"},
		{fs.ModeDir | 0o755, "drwxr-xr-x"},
		{fs.ModeSymlink | 0o777, "lrwxrwxrwx"},
		{0o644, "-rw-r--r--"},
	} {
		if got := lsMode(c.mode); got != c.want {
			t.Errorf("lsMode(%v) = %q, want %q", c.mode, got, c.want)
		}
	}
}
