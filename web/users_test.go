package web_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tapagent/tapagent/internal/fsfault"
	"github.com/tapagent/tapagent/web"
)

// TestUsersFileBelongsToTheDataDirsOwner: root adding a user in the
// service's data directory leaves a file the service user owns (mode 0600).
func TestUsersFileBelongsToTheDataDirsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to write as root into another user's directory")
	}
	dir := filepath.Join(fsfault.PublicDir(t), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, fsfault.Nobody, fsfault.Nobody); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "web-users.json")
	if err := web.SetUser(path, "ann", web.RoleOperator, []byte("long enough pw")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != fsfault.Nobody || st.Mode().Perm() != 0o600 {
		t.Fatalf("owner %d, mode %v", sys.Uid, st.Mode().Perm())
	}
}
