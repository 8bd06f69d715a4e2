package firmware

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/tapagent/tapagent/internal/testwait"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func key(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// TestSignedReleases: with a release key configured only a release signed
// for exactly that version and content is fetched at all.
func TestSignedReleases(t *testing.T) {
	pub, priv := key(t)
	_, other := key(t)
	good := release(t)
	signed := good
	signed.Signature = Sign(priv, good.Version, good.SHA256)
	wrongKey := good
	wrongKey.Signature = Sign(other, good.Version, good.SHA256)
	otherVersion := good
	otherVersion.Signature = Sign(priv, "1.1.9", good.SHA256) // a real signature, for another release
	garbage := good
	garbage.Signature = "not base64!"

	dir := t.TempDir()
	inst := script(t, `cp "$TAPAGENT_FIRMWARE_FILE" "$1/installed"`)
	l, err := run(t, Options{Installer: []string{inst, dir}, Agent: &wall{}, PublicKey: pub}, signed)
	if err != nil {
		t.Fatalf("signed release: %v\n%s", err, l)
	}
	for name, r := range map[string]Request{"unsigned": good, "wrong key": wrongKey, "other version": otherVersion, "garbage": garbage} {
		w := &wall{}
		_, err := run(t, Options{Installer: []string{"true"}, Agent: w, PublicKey: pub}, r)
		if !errors.Is(err, ErrSignature) || w.drained.Load() {
			t.Errorf("%s: %v (drained %v)", name, err, w.drained.Load())
		}
	}
	// Without a key nothing is installed, signed or not, and nothing is fetched.
	for name, r := range map[string]Request{"unsigned": good, "signed": signed} {
		w := &wall{}
		u := New(Options{Installer: []string{"true"}, Agent: w, Report: func(Stage, string) { t.Errorf("%s: an update started", name) }})
		if err := u.Start(context.Background(), r, nil); !errors.Is(err, ErrNoKey) || w.drained.Load() {
			t.Errorf("%s release without a key: %v", name, err)
		}
	}
	if _, err := ParsePublicKey(base64.StdEncoding.EncodeToString(pub)); err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePublicKey("AAAA"); err == nil {
		t.Fatal("short key accepted")
	}
}

// TestNotified: an update notification without a URL fetches the
// manifest, picks this machine's package and installs it; the running
// release and broken manifests are reported, not installed.
func TestNotified(t *testing.T) {
	pub, priv := key(t)
	good := release(t)
	m := Manifest{Version: good.Version, Files: map[string]ManifestFile{
		Arch(): {URL: good.URL, SHA256: good.SHA256, Signature: Sign(priv, good.Version, good.SHA256)},
		"mips": {URL: "http://example.invalid/x", SHA256: strings.Repeat("00", 32)},
	}}
	body, _ := json.Marshal(m)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stable.json":
			w.Write(body)
		case "/other-arch.json":
			w.Write([]byte(`{"version":"9.9","files":{"sparc":{"url":"http://x/y","sha256":"` + strings.Repeat("00", 32) + `"}}}`))
		case "/broken.json":
			w.Write([]byte(`{"version":`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	dir := t.TempDir()
	inst := script(t, `cp "$TAPAGENT_FIRMWARE_FILE" "$1/installed"`)
	l := &log{}
	w := &wall{}
	u := New(Options{Installer: []string{inst, dir}, Agent: w, PublicKey: pub, Dir: t.TempDir(), Report: l.report,
		Poll: time.Millisecond, DrainTimeout: time.Second, FlushTimeout: time.Second, InstallTimeout: 5 * time.Second})
	r, err := u.Notified(context.Background(), srv.URL+"/stable.json", "1.1.0")
	if err != nil || r.Version != "1.2.0" {
		t.Fatalf("%+v %v", r, err)
	}
	testwait.For(10*time.Second, w.restarted.Load)
	if b, _ := os.ReadFile(filepath.Join(dir, "installed")); string(b) != "tapagent 1.2.0 for arm64\n" {
		t.Fatalf("installed %q\n%s", b, l)
	}

	cases := map[string]string{
		srv.URL + "/stable.json":     "already running",
		srv.URL + "/other-arch.json": "has no " + Arch() + " package",
		srv.URL + "/broken.json":     "manifest",
		srv.URL + "/missing.json":    "404",
		"":                           "manifest_url",
	}
	for url, want := range cases {
		l := &log{}
		u := New(Options{Installer: []string{"true"}, Agent: &wall{}, Report: l.report, PublicKey: pub})
		_, err := u.Notified(context.Background(), url, "1.2.0")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(l.String(), want) {
			t.Errorf("%s: %v, want %q reported\n%s", url, err, want, l)
		}
	}
}

// TestFileURLs: a release on the controller's own disk is installed only
// where the operator allowed file:// addresses.
func TestFileURLs(t *testing.T) {
	pub, priv := key(t)
	dir := t.TempDir()
	body := []byte("tapagent 1.2.0 on disk\n")
	file := filepath.Join(dir, "tapagent-1.2.0")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	r := Request{URL: "file://" + file, SHA256: hex.EncodeToString(sum[:]), Version: "1.2.0"}
	r.Signature = Sign(priv, r.Version, r.SHA256)
	u := New(Options{Installer: []string{"true"}, Agent: &wall{}, PublicKey: pub, Report: func(Stage, string) {}})
	if err := u.Start(context.Background(), r, nil); !errors.Is(err, ErrFileURL) {
		t.Fatalf("file:// without allow_file_urls: %v", err)
	}
	if _, err := u.FetchManifest(context.Background(), "file://"+file); !errors.Is(err, ErrFileURL) {
		t.Fatalf("file:// manifest without allow_file_urls: %v", err)
	}
	if _, err := run(t, Options{Installer: []string{"true"}, Agent: &wall{}, PublicKey: pub, AllowFileURLs: true}, r); err != nil {
		t.Fatalf("file:// allowed: %v", err)
	}
}

// TestNotifiedWithoutKey: the server's notification is refused, with the
// reason reported, before the manifest is fetched.
func TestNotifiedWithoutKey(t *testing.T) {
	var fetched atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetched.Store(true) }))
	defer srv.Close()
	l := &log{}
	u := New(Options{Installer: []string{"true"}, Agent: &wall{}, Report: l.report})
	if _, err := u.Notified(context.Background(), srv.URL+"/stable.json", "1.1.0"); !errors.Is(err, ErrNoKey) || fetched.Load() ||
		!strings.Contains(l.String(), "no release key") {
		t.Fatalf("%v, fetched %v\n%s", err, fetched.Load(), l)
	}
}

// FuzzManifest: whatever a manifest server sends, parsing and picking a
// package either fail with an error or give a request that passes
// validation; nothing panics.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"version":"1.2.0","files":{"arm64":{"url":"https://u/t.deb","sha256":"` + strings.Repeat("ab", 32) + `","signature":"AAAA"}}}`))
	f.Add([]byte(`{"version":"","files":{}}`))
	f.Add([]byte(`{"version":"1","files":{"armhf":{"url":"ftp://x","sha256":"zz"}}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		for arch := range m.Files {
			r, err := m.Request(arch)
			if err == nil && r.Validate() != nil {
				t.Fatalf("picked an invalid request: %+v", r)
			}
		}
	})
}
