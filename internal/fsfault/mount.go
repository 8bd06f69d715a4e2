package fsfault

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// Tmpfs mounts a small tmpfs at dir (in a child with OwnMounts) and
// returns a function that remounts it read-only; it skips t when the OS
// does not let this process mount.
func Tmpfs(t *testing.T, dir string) (readOnly func() error) {
	t.Helper()
	if err := syscall.Mount("fsfault", dir, "tmpfs", 0, "size=16m,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return func() error {
		return syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
	}
}

// FailingDisk is an ext4 file system on a loop device whose capacity can
// be cut below the blocks a file occupies, so that reading the file fails
// with EIO from the block layer, exactly as a dying SD card does.
type FailingDisk struct {
	// Dir is where the file system is mounted.
	Dir  string
	img  string
	loop string
}

// NewFailingDisk makes and mounts the file system (in a child with
// OwnMounts); it skips t when loop devices, mkfs.ext4 or mounting are not
// available.
func NewFailingDisk(t *testing.T) *FailingDisk {
	t.Helper()
	for _, tool := range []string{"losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	base := t.TempDir()
	d := &FailingDisk{Dir: filepath.Join(base, "mnt"), img: filepath.Join(base, "img")}
	if err := os.Mkdir(d.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(d.img, 16<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", d.img).Output()
	if err != nil {
		t.Skipf("no loop device: %v", err)
	}
	d.loop = strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", d.loop).Run() })
	if out, err := exec.Command("mkfs.ext4", "-q", d.loop).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v\n%s", err, out)
	}
	if err := d.mount(); err != nil {
		t.Skipf("cannot mount ext4 here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(d.Dir, syscall.MNT_DETACH) })
	return d
}

func (d *FailingDisk) mount() error {
	return syscall.Mount(d.loop, d.Dir, "ext4", 0, "errors=continue")
}

// Fail drops the file system's caches by mounting it again, looks up name
// (so its directory entry and inode stay cached), then cuts the device
// below the first block of its data: every read of its content now fails.
func (d *FailingDisk) Fail(name string) error {
	if err := syscall.Unmount(d.Dir, 0); err != nil {
		return fmt.Errorf("unmount: %w", err)
	}
	if err := d.mount(); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	path := filepath.Join(d.Dir, name)
	first, err := firstBlock(path)
	if err != nil {
		return err
	}
	if err := os.Truncate(d.img, first); err != nil {
		return err
	}
	if out, err := exec.Command("losetup", "-c", d.loop).CombinedOutput(); err != nil {
		return fmt.Errorf("losetup -c: %v: %s", err, out)
	}
	return nil
}

// firstBlock is the device offset of the file's first data block (FIBMAP).
func firstBlock(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	const fibmap = 1
	blk := int32(0)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fibmap, uintptr(unsafe.Pointer(&blk))); e != 0 {
		return 0, fmt.Errorf("FIBMAP %s: %w", path, e)
	}
	if blk == 0 {
		return 0, fmt.Errorf("%s has no data block", path)
	}
	return int64(blk) * int64(st.Bsize), nil
}
