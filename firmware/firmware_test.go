package firmware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wall stands in for the agent: it is busy for a number of polls.
type wall struct {
	busyPolls atomic.Int32
	drained   atomic.Bool
	restarted atomic.Bool
}

func (w *wall) Drain(string)   { w.drained.Store(true) }
func (w *wall) Undrain()       { w.drained.Store(false) }
func (w *wall) Busy() bool     { return w.busyPolls.Add(-1) >= 0 }
func (w *wall) Restart() error { w.restarted.Store(true); return nil }

type log struct {
	mu  sync.Mutex
	evs []string
}

func (l *log) report(stage Stage, detail string) {
	l.mu.Lock()
	l.evs = append(l.evs, stage.String()+": "+detail)
	l.mu.Unlock()
}

func (l *log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.evs, "\n")
}

func script(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "install.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// release serves a release on a loopback HTTP server and returns the
// request that names it.
func release(t *testing.T) Request {
	body := []byte("tapagent 1.2.0 for arm64\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tapagent-1.2.0-arm64" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(body)
	return Request{URL: srv.URL + "/tapagent-1.2.0-arm64", SHA256: hex.EncodeToString(sum[:]), Version: "1.2.0"}
}

// run runs one update to its end. Without a key in o it signs r with a
// release key of its own, as a release pipeline would.
func run(t *testing.T, o Options, r Request) (*log, error) {
	t.Helper()
	if o.PublicKey == nil {
		pub, priv := key(t)
		o.PublicKey, r.Signature = pub, Sign(priv, r.Version, r.SHA256)
	}
	l := &log{}
	o.Report, o.Poll = l.report, time.Millisecond
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout, o.FlushTimeout, o.InstallTimeout = time.Second, time.Second, 5*time.Second
	}
	done := make(chan error, 1)
	if err := New(o).Start(context.Background(), r, func(err error) { done <- err }); err != nil {
		return l, err
	}
	select {
	case err := <-done:
		return l, err
	case <-time.After(20 * time.Second):
		t.Fatal("update never finished")
	}
	return l, nil
}

func TestUpdateInstallsAfterPoursAndOutbox(t *testing.T) {
	dir := t.TempDir()
	w := &wall{}
	w.busyPolls.Store(5)
	left := atomic.Int32{}
	left.Store(3)
	good := release(t)
	inst := script(t, `echo "installing from $TAPAGENT_FIRMWARE_URL"; echo "$TAPAGENT_FIRMWARE_VERSION $TAPAGENT_FIRMWARE_SHA256" > "$1/installed"; cat "$TAPAGENT_FIRMWARE_FILE" >> "$1/installed"; echo done`)
	l, err := run(t, Options{Installer: []string{inst, dir}, Agent: w, Dir: filepath.Join(dir),
		Outbox: func() (int, error) { return max(int(left.Add(-1)), 0), nil }}, good)
	if err != nil {
		t.Fatalf("%v\n%s", err, l)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "installed"))
	if string(b) != "1.2.0 "+good.SHA256+"\ntapagent 1.2.0 for arm64\n" || !w.restarted.Load() {
		t.Fatalf("installer saw %q, restarted %v", b, w.restarted.Load())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "firmware-*")); len(left) != 0 {
		t.Errorf("downloaded release left behind: %v", left)
	}
	want := []string{"fetching http://", "checksum verified", "draining", "flushing", "installing 1.2.0",
		"installer: installing from http://", "installer: done", StageInstalled.String()}
	got := l.String()
	for _, s := range want {
		if !strings.Contains(got, s) {
			t.Errorf("no %q in progress:\n%s", s, got)
		}
	}
}

func TestUpdateFailures(t *testing.T) {
	good := release(t)
	fail := script(t, "echo 'disk full' >&2; exit 3")
	tampered, missing := good, good
	tampered.SHA256 = strings.Repeat("ab", 32)
	missing.URL += "-nope"
	cases := []struct {
		name    string
		o       Options
		r       Request
		wantErr string
	}{
		{"off", Options{}, good, "updates are off"},
		{"bad url", Options{Installer: []string{"true"}}, Request{URL: "ftp://x/y", SHA256: good.SHA256, Version: "1"}, "url"},
		{"bad sha", Options{Installer: []string{"true"}}, Request{URL: good.URL, SHA256: "abc", Version: "1"}, "sha256"},
		{"bad version", Options{Installer: []string{"true"}}, Request{URL: good.URL, SHA256: good.SHA256, Version: "1 2"}, "version"},
		{"installer fails", Options{Installer: []string{fail}}, good, "exit status 3: disk full"},
		{"tampered release", Options{Installer: []string{"true"}}, tampered, "checksum mismatch"},
		{"missing release", Options{Installer: []string{"true"}}, missing, "404"},
		{"release too big", Options{Installer: []string{"true"}, MaxBytes: 4}, good, "larger than 4 bytes"},
		{"no installer binary", Options{Installer: []string{"/nonexistent/installer"}}, good, "installer"},
		{"pours never end", Options{Installer: []string{"true"}, DrainTimeout: 20 * time.Millisecond,
			FlushTimeout: time.Second, InstallTimeout: time.Second}, good, "draining"},
		{"server away", Options{Installer: []string{"true"}, Outbox: func() (int, error) { return 4, nil },
			DrainTimeout: time.Second, FlushTimeout: 20 * time.Millisecond, InstallTimeout: time.Second}, good, "flushing"},
		{"installer hangs", Options{Installer: []string{"sleep", "30"}, DrainTimeout: time.Second,
			FlushTimeout: time.Second, InstallTimeout: 50 * time.Millisecond}, good, "killed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &wall{}
			if c.name == "pours never end" {
				w.busyPolls.Store(1 << 30)
			}
			c.o.Agent = w
			l, err := run(t, c.o, c.r)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v, want %q\n%s", err, c.wantErr, l)
			}
			if w.drained.Load() || w.restarted.Load() {
				t.Fatalf("after a failed update: drained %v, restarted %v", w.drained.Load(), w.restarted.Load())
			}
		})
	}
}

func TestOneUpdateAtATime(t *testing.T) {
	good := release(t)
	pub, priv := key(t)
	good.Signature = Sign(priv, good.Version, good.SHA256)
	u := New(Options{Dir: t.TempDir(), Installer: []string{"sleep", "1"}, Agent: &wall{}, Report: func(Stage, string) {}, PublicKey: pub,
		DrainTimeout: time.Second, FlushTimeout: time.Second, InstallTimeout: 5 * time.Second})
	done := make(chan error, 1)
	if err := u.Start(context.Background(), good, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background(), good, nil); err != ErrRunning {
		t.Fatalf("second update: %v", err)
	}
	<-done
}
