package firmware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/tapagent/tapagent/internal/testwait"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHandOff runs both sides of the privileged hand-off on real files:
// the agent's installer files the request and waits, the update service
// applies it; then the restarted agent takes the result once.
func TestHandOff(t *testing.T) {
	pub, priv := key(t)
	body := "package 1.2.0\n"
	sum := sha256.Sum256([]byte(body))
	hexsum := hex.EncodeToString(sum[:])
	signed := Handoff{Version: "1.2.0", SHA256: hexsum, Signature: Sign(priv, "1.2.0", hexsum)}
	installed := filepath.Join(t.TempDir(), "installed")
	dpkg := []string{"sh", "-c", `cp "$0" "` + installed + `" && echo "Setting up tapagent (1.2.0) ..."`}

	tests := []struct {
		name   string
		req    Handoff
		tamper bool
		inst   []string
		ok     bool
		output string
	}{
		{"installs", signed, false, dpkg, true, "Setting up tapagent"},
		{"package swapped after the agent's check", signed, true, dpkg, false, "checksum mismatch"},
		{"unsigned", Handoff{Version: "1.2.0", SHA256: hexsum}, false, dpkg, false, "signature"},
		{"installer fails", signed, false, []string{"sh", "-c", "echo 'dpkg: error processing archive' >&2; exit 1"}, false, "dpkg: error processing archive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(installed)
			dir := filepath.Join(t.TempDir(), "update")
			file := filepath.Join(t.TempDir(), "firmware-1")
			os.WriteFile(file, []byte(body), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := make(chan Handoff, 1)
			go func() {
				res, err := HandOff(ctx, dir, file, tc.req, time.Millisecond)
				if err != nil {
					t.Error(err)
				}
				got <- res
			}()
			// The update service starts when the request appears.
			testwait.Until(t, 10*time.Second, "the update request", func() bool {
				_, err := os.Stat(filepath.Join(dir, requestFile))
				return err == nil
			})
			if tc.tamper {
				os.WriteFile(filepath.Join(dir, pendingFile), []byte("evil\n"), 0o600)
			}
			res, err := Apply(ctx, dir, pub, tc.inst)
			if (err == nil) != tc.ok || res.OK != tc.ok || !strings.Contains(res.Output, tc.output) {
				t.Fatalf("apply: %+v %v", res, err)
			}
			if waited := <-got; waited.OK != tc.ok || waited.Version != "1.2.0" {
				t.Fatalf("the waiting installer saw %+v", waited)
			}
			if _, err := os.Stat(installed); (err == nil) != tc.ok {
				t.Fatalf("installed: %v", err == nil)
			}
			left, _ := os.ReadDir(dir)
			if len(left) != 1 || left[0].Name() != resultFile {
				t.Fatalf("update directory holds %v, want only the result", left)
			}
			if r, ok := TakeResult(dir); !ok || r.OK != tc.ok {
				t.Fatalf("result for the restarted agent: %+v %v", r, ok)
			}
			if _, ok := TakeResult(dir); ok {
				t.Fatal("the result was reported twice")
			}
		})
	}
	t.Run("no release key", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, pendingFile), []byte(body), 0o600)
		writeJSON(filepath.Join(dir, requestFile), signed)
		res, err := Apply(context.Background(), dir, nil, dpkg)
		if !errors.Is(err, ErrNoKey) || res.OK || !strings.Contains(res.Output, "no release key") {
			t.Fatalf("apply without a key: %+v %v", res, err)
		}
		if _, err := os.Stat(installed); err == nil {
			t.Fatal("installed without a release key")
		}
	})
	t.Run("the root side refuses for its own reason", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, pendingFile), []byte(body), 0o600)
		writeJSON(filepath.Join(dir, requestFile), signed)
		why := errors.New("no release key on the root side: /etc/tapagent-release.pub is missing")
		if res, err := Refuse(dir, why); err != why || res.OK {
			t.Fatalf("refuse: %+v %v", res, err)
		}
		got, ok := TakeResult(dir)
		if !ok || got.OK || !strings.Contains(got.Output, "/etc/tapagent-release.pub is missing") {
			t.Fatalf("the agent hears %+v (%v), want the root side's reason", got, ok)
		}
		if _, err := os.Stat(installed); err == nil {
			t.Fatal("installed although refused")
		}
	})
	if _, err := Apply(context.Background(), t.TempDir(), pub, dpkg); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("apply without a request: %v", err)
	}
}
