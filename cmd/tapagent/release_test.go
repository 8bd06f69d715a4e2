package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/tapagent/tapagent/device"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapagent/tapagent/firmware"
	"github.com/tapagent/tapagent/ttg"
)

// TestTTGFirmwareNotification: the TTG server's firmwareupdate call names
// no release. The agent (the real binary on the simulated wall) fetches the
// manifest made by `tapagent release`, checks the signature and the
// checksum, and hands the package to the installer; a manifest signed with
// another key is refused before anything is installed.
func TestTTGFirmwareNotification(t *testing.T) {
	dir := t.TempDir()
	pub := releaseCmd(t, "keygen", "--out", filepath.Join(dir, "release.key"))
	if out, err := exec.Command(binary, "release", "keygen", "--out", filepath.Join(dir, "release.key")).CombinedOutput(); err == nil {
		t.Fatalf("keygen overwrote an existing key: %s", out)
	}
	releaseCmd(t, "keygen", "--out", filepath.Join(dir, "other.key"))
	pkg := filepath.Join(dir, "tapagent_1.2.0_"+firmware.Arch()+".deb")
	writeFile(t, pkg, "release 1.2.0\n")
	writeFile(t, filepath.Join(dir, "stable.json"),
		releaseCmd(t, "manifest", "--key", filepath.Join(dir, "release.key"), "--version", "1.2.0", "--base-url", "file://"+dir, pkg))
	writeFile(t, filepath.Join(dir, "forged.json"),
		releaseCmd(t, "manifest", "--key", filepath.Join(dir, "other.key"), "--version", "1.2.0", "--base-url", "file://"+dir, pkg))

	installer := filepath.Join(dir, "install.sh")
	writeFile(t, installer, "#!/bin/sh\ncp \"$TAPAGENT_FIRMWARE_FILE\" \""+dir+"/installed\"\n")
	os.Chmod(installer, 0o755)
	base, err := os.ReadFile(filepath.Join("..", "..", "config", "sim.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		manifest, want string
		installed      bool
	}{
		{"forged.json", `does not verify with the configured release key`, false},
		{"stable.json", typeField(device.EventFirmwareInstalled), true},
	} {
		t.Run(tc.manifest, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "installed"))
			cfgPath := filepath.Join(dir, "bench.toml")
			writeFile(t, cfgPath, string(base)+fmt.Sprintf("\n[firmware]\ninstaller = [%q]\nmanifest_url = %q\npublic_key = %q\nallow_file_urls = true\n",
				installer, "file://"+filepath.Join(dir, tc.manifest), strings.TrimSpace(pub)))
			url := startTTGServer(t)
			cmd := exec.Command(binary, "sim", "--json", "--speed", "1", "--scenario", "none", "--duration", "60s",
				"--config", cfgPath, "--data", t.TempDir(), "--ttg-url", url)
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var ev device.Event
				json.Unmarshal(sc.Bytes(), &ev)
				if ev.Type == device.EventControlListening {
					register(t, url, ev.Detail)
					notify(t, url)
				}
				if strings.Contains(sc.Text(), tc.want) {
					break
				}
				if strings.Contains(sc.Text(), typeField(device.EventFirmwareFailed)) || strings.Contains(sc.Text(), typeField(device.EventAgentStopped)) {
					t.Fatalf("before %s: %s", tc.want, sc.Text())
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "installed")); (err == nil) != tc.installed {
				t.Fatalf("installed: %v, want %v", err == nil, tc.installed)
			}
		})
	}
}

func releaseCmd(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(binary, append([]string{"release"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("release %v: %v %s", args, err, errb.String())
	}
	return out.String()
}

// register tells the emulator where the device's client-control listener is.
func register(t *testing.T, url, ctl string) {
	t.Helper()
	body := fmt.Sprintf(`{"device_id": 1001, "url": %q}`, ctl)
	res, err := http.Post(url+"/_emulator/clients", "application/json", strings.NewReader(body))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("registering the client: %v", err)
	}
	res.Body.Close()
}

// notify is a back-office app calling the server's firmwareupdate.
func notify(t *testing.T, url string) {
	t.Helper()
	app := ttg.NewClient(ttg.ClientConfig{BaseURL: url, Username: "tapagent", Password: "tapagent", ClientID: 77, Timeout: 5 * time.Second})
	var out map[string]any
	if err := app.Call(context.Background(), "/m2m/api/firmwareupdate", map[string]any{"id": 77}, &out); err != nil {
		t.Fatalf("firmwareupdate: %v", err)
	}
}
