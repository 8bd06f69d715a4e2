// Package packaging holds the files that make tapagent a Debian package
// (nfpm.yaml, the systemd units, udev rules, maintainer scripts, the
// default configuration) and the tests that inspect the built packages.
package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"debug/elf"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/tapagent/tapagent/internal/testwait"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/firmware"
)

// debs returns the packages `make package` left in $TAPAGENT_TEST_DEBS.
// The suite proper does not build them (three cross builds and nfpm);
// `make package-test`, which CI runs, does.
func debs(t *testing.T) []string {
	t.Helper()
	dir := os.Getenv("TAPAGENT_TEST_DEBS")
	if dir == "" {
		t.Skip("TAPAGENT_TEST_DEBS not set: run `make package package-test`")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "tapagent_*.deb"))
	if len(files) != 3 {
		t.Fatalf("want the armhf, arm64 and amd64 packages in %s, found %v", dir, files)
	}
	return files
}

// deb is one package, unpacked in memory.
type deb struct {
	control map[string]string // control file fields
	ctl     map[string]entry  // control.tar members, as "/control"
	data    map[string]entry  // data.tar members, as "/usr/bin/tapagent"
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func readDeb(path string) (*deb, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	members, err := readAr(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if string(members["debian-binary"]) != "2.0\n" {
		return nil, fmt.Errorf("%s: debian-binary is %q", path, members["debian-binary"])
	}
	d := &deb{}
	if d.ctl, err = readTarGz(members["control.tar.gz"]); err != nil {
		return nil, fmt.Errorf("%s: control.tar.gz: %w", path, err)
	}
	if d.data, err = readTarGz(members["data.tar.gz"]); err != nil {
		return nil, fmt.Errorf("%s: data.tar.gz: %w", path, err)
	}
	d.control = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(d.ctl["/control"].body))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(k, " ") {
			d.control[k] = v
		}
	}
	return d, nil
}

// readAr reads the members of a System V ar archive (the .deb container).
func readAr(r io.Reader) (map[string][]byte, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, errors.New("not an ar archive")
	}
	out := map[string][]byte{}
	for {
		hdr := make([]byte, 60)
		if _, err := io.ReadFull(br, hdr); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("ar header: %w", err)
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		var size int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(hdr[48:58])), &size); err != nil {
			return nil, fmt.Errorf("ar member %s: size: %w", name, err)
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, fmt.Errorf("ar member %s: %w", name, err)
		}
		if size%2 == 1 {
			br.ReadByte()
		}
		out[name] = body
	}
}

func readTarGz(b []byte) (map[string]entry, error) {
	if b == nil {
		return nil, errors.New("missing (only gzip-compressed members are expected)")
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	out := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		// Members are "./etc/..." in data.tar and "./control" in
		// control.tar: both are keyed as absolute paths.
		out["/"+strings.Trim(strings.TrimPrefix(h.Name, "."), "/")] = entry{hdr: *h, body: body}
	}
}

// elfMachine is the CPU the binary must be built for, by Debian arch.
var elfMachine = map[string]elf.Machine{
	"armhf": elf.EM_ARM,
	"arm64": elf.EM_AARCH64,
	"amd64": elf.EM_X86_64,
}

// TestPackageContents checks each package: control fields, conffiles,
// maintainer scripts, that every shipped file is the one in the tree, and
// that the binary is a static executable for the package's architecture.
func TestPackageContents(t *testing.T) {
	for _, path := range debs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			d, err := readDeb(path)
			if err != nil {
				t.Fatal(err)
			}
			arch := d.control["Architecture"]
			if !strings.HasSuffix(path, "_"+arch+".deb") || elfMachine[arch] == 0 {
				t.Fatalf("architecture %q does not match %s", arch, path)
			}
			if d.control["Package"] != "tapagent" || d.control["Depends"] != "adduser" ||
				!strings.Contains(path, "_"+d.control["Version"]+"_") {
				t.Fatalf("control: %v", d.control)
			}
			if got := strings.TrimSpace(string(d.ctl["/conffiles"].body)); got != "/etc/tapagent/tapagent.toml" {
				t.Fatalf("conffiles: %q", got)
			}
			checkScripts(t, d)
			checkFiles(t, d)
			checkBinary(t, d.data["/usr/bin/tapagent"], elfMachine[arch])
		})
	}
}

func checkScripts(t *testing.T, d *deb) {
	for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
		e, ok := d.ctl["/"+s]
		if !ok || e.hdr.Mode&0o111 == 0 {
			t.Fatalf("%s missing or not executable", s)
		}
		want, err := os.ReadFile(filepath.Join("scripts", s))
		if err != nil || !bytes.Equal(e.body, want) {
			t.Fatalf("%s differs from packaging/scripts/%s", s, s)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join("scripts", s)).CombinedOutput(); err != nil {
			t.Fatalf("%s: sh -n: %v %s", s, err, out)
		}
		// The data directory holds money not yet synced: no script may
		// delete it, on remove or on purge.
		for _, line := range strings.Split(string(e.body), "\n") {
			if strings.Contains(line, "rm ") && strings.Contains(line, "/var/lib/tapagent") {
				t.Fatalf("%s removes the data directory: %s", s, line)
			}
		}
	}
}

func checkFiles(t *testing.T, d *deb) {
	same := map[string]string{
		"/lib/systemd/system/tapagent.service":                     "tapagent.service",
		"/lib/systemd/system/tapagent-update.service":              "tapagent-update.service",
		"/lib/systemd/system/tapagent-update.path":                 "tapagent-update.path",
		"/lib/udev/rules.d/60-tapagent.rules":                      "60-tapagent.rules",
		"/etc/tapagent/tapagent.toml":                              "tapagent.toml",
		"/usr/share/tapagent/boards/rpi4.toml":                     "../board/profiles/rpi4.toml",
		"/usr/share/tapagent/boards/rpi5.toml":                     "../board/profiles/rpi5.toml",
		"/usr/share/doc/tapagent/copyright":                        "../LICENSE",
		"/usr/share/doc/tapagent/examples/mosquitto/tapagent.acl":  "mosquitto/tapagent.acl",
		"/usr/share/doc/tapagent/examples/mosquitto/tapagent.conf": "mosquitto/tapagent.conf",
	}
	for dst, src := range same {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := d.data[dst]
		if !ok || !bytes.Equal(e.body, want) {
			t.Errorf("%s: missing or not %s", dst, src)
		}
		if e.hdr.Uid != 0 {
			t.Errorf("%s: owned by uid %d, want root", dst, e.hdr.Uid)
		}
	}
	if m := d.data["/etc/tapagent/tapagent.toml"].hdr.Mode & 0o777; m != 0o640 {
		t.Errorf("config mode %o: it may hold passwords, want 0640", m)
	}
	if m := d.data["/usr/bin/tapagent"].hdr.Mode & 0o777; m != 0o755 {
		t.Errorf("binary mode %o", m)
	}
	for p := range d.data {
		if strings.HasPrefix(p, "/var/") {
			t.Errorf("%s: the data directory is made by postinst, never shipped", p)
		}
	}
}

func checkBinary(t *testing.T, e entry, want elf.Machine) {
	f, err := elf.NewFile(bytes.NewReader(e.body))
	if err != nil {
		t.Fatalf("/usr/bin/tapagent: %v", err)
	}
	if f.Machine != want {
		t.Fatalf("/usr/bin/tapagent is for %v, want %v", f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("/usr/bin/tapagent is dynamically linked; release builds are static (CGO_ENABLED=0)")
		}
	}
}

// TestPackageInstallCycle installs, upgrades (reinstalls), removes and
// purges the amd64 package with dpkg on this machine, and checks that the
// data directory survives all of it and the configuration survives all but
// the purge. It changes the machine, so it runs only where asked
// (TAPAGENT_TEST_DPKG=1, as root): CI's throw-away machine.
func TestPackageInstallCycle(t *testing.T) {
	files := debs(t)
	if os.Getenv("TAPAGENT_TEST_DPKG") != "1" || os.Geteuid() != 0 {
		t.Skip("installs a package on this machine: set TAPAGENT_TEST_DPKG=1 and run as root")
	}
	var pkg string
	for _, f := range files {
		if strings.HasSuffix(f, "_amd64.deb") {
			pkg = f
		}
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	const conf, marker = "/etc/tapagent/tapagent.toml", "/var/lib/tapagent/tapagent.db"
	exec.Command("dpkg", "--purge", "tapagent").Run() // a fresh install, whatever an earlier run left
	t.Cleanup(func() { exec.Command("dpkg", "--purge", "tapagent").Run(); os.Remove(marker) })

	if out := run("dpkg", "-i", pkg); !strings.Contains(out, "set device_id") {
		t.Fatalf("first install should say what to do next:\n%s", out)
	}
	if out := run("id", "tapagent"); !strings.Contains(out, "(gpio)") || !strings.Contains(out, "(dialout)") || !strings.Contains(out, "(i2c)") {
		t.Fatalf("service user groups: %s", out)
	}
	if out := run("stat", "-c", "%U:%G %a", "/etc/tapagent", conf, "/var/lib/tapagent", "/var/lib/tapagent/update"); out != "tapagent:tapagent 750\ntapagent:tapagent 640\ntapagent:tapagent 750\ntapagent:tapagent 750\n" {
		t.Fatalf("ownership after install:\n%s", out)
	}
	run("/usr/bin/tapagent", "version")
	// No GPIO here, so doctor fails overall; what the package set up
	// (user, groups, directories) must pass.
	out, _ := exec.Command("/usr/bin/tapagent", "doctor", "--config", conf, "--offline").CombinedOutput()
	if !regexp.MustCompile(`(?m)^ok +permissions +tapagent can open`).Match(out) {
		t.Fatalf("doctor after install:\n%s", out)
	}

	// The operator's changes and the agent's data.
	edited := strings.Replace(mustRead(t, conf), "device_id = 1 ", "device_id = 4711 ", 1)
	os.WriteFile(conf, []byte(edited), 0o640)
	os.WriteFile(marker, []byte("pours"), 0o640)

	run("dpkg", "-i", pkg) // upgrade path: prerm upgrade, preinst upgrade, postinst configure <old>
	if mustRead(t, conf) != edited || mustRead(t, marker) != "pours" {
		t.Fatal("upgrade lost the configuration or the data")
	}
	// Without the root-owned release key nothing is installed, and the
	// waiting installer hears why.
	handOff(t, pkg, "", "no release key on the root side: "+releaseKey+" is missing")
	handOff(t, pkg, releaseKey, "Setting up tapagent")
	if mustRead(t, conf) != edited || mustRead(t, marker) != "pours" {
		t.Fatal("the update hand-off lost the configuration or the data")
	}
	run("dpkg", "--remove", "tapagent")
	if _, err := os.Stat("/usr/bin/tapagent"); err == nil {
		t.Fatal("remove left the binary")
	}
	if mustRead(t, conf) != edited || mustRead(t, marker) != "pours" {
		t.Fatal("remove lost the configuration or the data")
	}
	run("dpkg", "--purge", "tapagent")
	if _, err := os.Stat(conf); err == nil {
		t.Fatal("purge left the configuration")
	}
	if mustRead(t, marker) != "pours" {
		t.Fatal("purge removed the data directory")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// releaseKey is where tapagent-update.service reads the release key.
const releaseKey = "/etc/tapagent-release.pub"

// handOff runs a firmware update the way a packaged agent does, with the
// real dpkg: the agent's installer (`tapagent firmware request`) as the
// service user, then the root side as tapagent-update.service runs it
// (systemd's path unit is not running here), with the release key in
// keyFile ("": none) and want in both sides' output.
func handOff(t *testing.T, pkg, keyFile, want string) {
	t.Helper()
	body, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	pub, priv, _ := ed25519.GenerateKey(nil)
	os.Remove(releaseKey)
	if keyFile != "" {
		if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(keyFile) })
	}
	file := "/var/lib/tapagent/firmware-test"
	if err := os.WriteFile(file, body, 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "tapagent:tapagent", file).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	var reqOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := exec.CommandContext(ctx, "runuser", "-u", "tapagent", "--", "env", "TAPAGENT_FIRMWARE_FILE="+file,
		"TAPAGENT_FIRMWARE_VERSION=test", "TAPAGENT_FIRMWARE_SHA256="+hex.EncodeToString(sum[:]),
		"TAPAGENT_FIRMWARE_SIGNATURE="+firmware.Sign(priv, "test", hex.EncodeToString(sum[:])),
		"/usr/bin/tapagent", "firmware", "request")
	req.Stdout, req.Stderr = &reqOut, &reqOut
	if err := req.Start(); err != nil {
		t.Fatal(err)
	}
	if !testwait.For(10*time.Second, func() bool {
		_, err := os.Stat("/var/lib/tapagent/update/request.json")
		return err == nil
	}) {
		t.Fatalf("no update request filed:\n%s", reqOut.String())
	}
	// As tapagent-update.service runs it.
	apply, err := exec.CommandContext(ctx, "/usr/bin/tapagent", "firmware", "apply", "--key", releaseKey).CombinedOutput()
	ok := want == "Setting up tapagent"
	if (err == nil) != ok || !strings.Contains(string(apply), want) {
		t.Fatalf("apply: %v\n%s", err, apply)
	}
	if err := req.Wait(); (err == nil) != ok || !strings.Contains(reqOut.String(), want) {
		t.Fatalf("the waiting installer: %v\n%s", err, reqOut.String())
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("the handed-over package was left in the data directory")
	}
}

// TestServiceRunsAheadOfOtherWork: the checkpoint bound (a pour's durable
// checkpoint at most 250 ms old) holds on saturated cores only when the
// agent runs above the processes that saturate them.
func TestServiceRunsAheadOfOtherWork(t *testing.T) {
	unit, err := os.ReadFile("tapagent.service")
	if err != nil {
		t.Fatal(err)
	}
	var nice, weight int
	for _, l := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(l, "Nice="); ok {
			nice, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(l, "CPUWeight="); ok {
			weight, _ = strconv.Atoi(v)
		}
	}
	if nice > -10 || weight <= 100 {
		t.Fatalf("tapagent.service: Nice=%d CPUWeight=%d, want Nice at most -10 and CPUWeight above the default 100", nice, weight)
	}
}
