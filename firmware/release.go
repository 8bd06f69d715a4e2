package firmware

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// ErrSignature is returned for a missing or wrong release signature.
var ErrSignature = errors.New("release signature")

// ErrNoKey is returned when no release key is configured: nothing is
// installed that the operator's release key did not sign.
var ErrNoKey = errors.New("no release key: set [firmware] public_key (`tapagent release keygen` makes one); unsigned releases are never installed")

// ErrUpToDate is returned when the manifest's release is the one running.
var ErrUpToDate = errors.New("already running this release")

// maxManifest bounds a manifest download.
const maxManifest = 64 << 10

// Signed is the message a release signature covers: the version and the
// file's SHA-256, so neither can be swapped for another release's.
func Signed(version, sha256hex string) []byte {
	return []byte("tapagent release " + version + " sha256:" + sha256hex + "\n")
}

// Sign signs a release with the release key.
func Sign(key ed25519.PrivateKey, version, sha256hex string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, Signed(version, sha256hex)))
}

// Verify checks r's signature against pub; with no key nothing passes.
func Verify(pub ed25519.PublicKey, r Request) error {
	if len(pub) == 0 {
		return ErrNoKey
	}
	if r.Signature == "" {
		return fmt.Errorf("%w: missing (this agent only installs signed releases)", ErrSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil || !ed25519.Verify(pub, Signed(r.Version, r.SHA256), sig) {
		return fmt.Errorf("%w: does not verify with the configured release key", ErrSignature)
	}
	return nil
}

// ParsePublicKey decodes a base64 Ed25519 public key: a release key or an
// operator key (callers name which in their errors).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("want a base64 Ed25519 public key (%d bytes)", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Manifest describes a release for every architecture; the agent fetches
// it when told an update is available without being told where (the TTG
// firmware update notification).
type Manifest struct {
	Version string                  `json:"version"`
	Files   map[string]ManifestFile `json:"files"` // by Debian architecture
}

// ManifestFile is one architecture's package.
type ManifestFile struct {
	URL       string `json:"url"`
	SHA256    string `json:"sha256"`
	Signature string `json:"signature,omitempty"`
}

// Request picks the package for arch.
func (m Manifest) Request(arch string) (Request, error) {
	f, ok := m.Files[arch]
	if !ok {
		return Request{}, fmt.Errorf("manifest for %s has no %s package", m.Version, arch)
	}
	r := Request{URL: f.URL, SHA256: f.SHA256, Version: m.Version, Signature: f.Signature}
	return r, r.Validate()
}

// Arch is the running build's Debian architecture name.
func Arch() string {
	if runtime.GOARCH == "arm" {
		return "armhf"
	}
	return runtime.GOARCH
}

// FetchManifest reads a manifest from an http(s) or file URL.
func (u *Updater) FetchManifest(ctx context.Context, url string) (Manifest, error) {
	var m Manifest
	if err := u.allowed(url); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	body, err := u.open(ctx, url)
	if err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxManifest+1))
	if err != nil {
		return m, fmt.Errorf("manifest %s: %w", url, err)
	}
	if len(b) > maxManifest {
		return m, fmt.Errorf("manifest %s: larger than %d bytes", url, maxManifest)
	}
	if m, err = ParseManifest(b); err != nil {
		return m, fmt.Errorf("manifest %s: %w", url, err)
	}
	return m, nil
}

// ParseManifest decodes a manifest; each file is checked when it is picked.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, err
	}
	if m.Version == "" || len(m.Files) == 0 {
		return m, errors.New("needs a version and files")
	}
	return m, nil
}

// Notified handles "an update is available": it fetches the manifest,
// picks this architecture's package and starts the update, on ctx, unless
// that release is already running. Nobody waits for the answer of a
// notification, so the outcome is also reported as an event.
func (u *Updater) Notified(ctx context.Context, manifestURL, running string) (Request, error) {
	r, err := u.notified(ctx, manifestURL, running)
	switch {
	case errors.Is(err, ErrUpToDate):
		u.o.Report(StageProgress, fmt.Sprintf("update notification: %s is already running", r.Version))
	case err != nil:
		u.o.Report(StageFailed, "update notification: "+err.Error())
	}
	return r, err
}

func (u *Updater) notified(ctx context.Context, manifestURL, running string) (Request, error) {
	if len(u.o.Installer) == 0 {
		return Request{}, ErrDisabled
	}
	if len(u.o.PublicKey) == 0 {
		return Request{}, ErrNoKey // nothing could pass: do not even fetch
	}
	if manifestURL == "" {
		return Request{}, errors.New("no release manifest: set [firmware] manifest_url")
	}
	m, err := u.FetchManifest(ctx, manifestURL)
	if err != nil {
		return Request{}, err
	}
	if m.Version == running {
		return Request{Version: m.Version}, ErrUpToDate
	}
	r, err := m.Request(Arch())
	if err != nil {
		return r, err
	}
	return r, u.Start(ctx, r, nil)
}
