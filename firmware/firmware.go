// Package firmware runs a firmware update: it fetches the release and
// checks its SHA-256, lets the running pours finish, waits for the outbox
// to reach the server, hands the checked file over to the configured
// installer and restarts the agent into the new release.
// Every step is reported as an event, so a technician watching the
// device over MQTT sees where an update is and why one failed.
package firmware

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/internal/clip"
)

// Stage is how far an update got. The agent turns each into its event
// type (device.EventFirmwareProgress, …); firmware stays free of the agent.
type Stage int

// Stages of an update, each reported with a detail saying more.
const (
	// StageProgress is a step on the way (fetching, verified, draining, …).
	StageProgress Stage = iota
	// StageInstalled: the release is installed and the agent restarts into it.
	StageInstalled
	// StageFailed: the update failed; the detail says why.
	StageFailed
)

// String names the stage for logs.
func (s Stage) String() string {
	switch s {
	case StageProgress:
		return "progress"
	case StageInstalled:
		return "installed"
	case StageFailed:
		return "failed"
	}
	return fmt.Sprintf("stage %d", int(s))
}

// Agent is what an update needs of the tap wall.
type Agent interface {
	Drain(why string)
	Undrain()
	Busy() bool
	Restart() error
}

// Request names a release.
type Request struct {
	URL     string `json:"url"`
	SHA256  string `json:"sha256"`
	Version string `json:"version"`
	// Signature is the release key's Ed25519 signature of Signed(Version,
	// SHA256), base64; required when the agent has a public key.
	Signature string `json:"signature,omitempty"`
}

// Validate refuses requests the installer should never see.
func (r Request) Validate() error {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file") || (u.Scheme != "file" && u.Host == "") {
		return fmt.Errorf("url %q: must be an http(s):// or file:// address", r.URL)
	}
	if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("sha256 must be 64 hex digits")
	}
	if r.Version == "" || strings.ContainsAny(r.Version, " \t\r\n") {
		return fmt.Errorf("version must be a single word")
	}
	return nil
}

// Options configure an Updater.
type Options struct {
	// Installer is the program and its arguments; empty turns updates off.
	Installer      []string
	DrainTimeout   time.Duration
	FlushTimeout   time.Duration
	InstallTimeout time.Duration
	Agent          Agent
	// Dir holds the downloaded release until it is installed (the data
	// directory: on the same disk, so the installer can move it).
	Dir string
	// HTTP fetches http(s) releases; default http.DefaultClient.
	HTTP *http.Client
	// MaxBytes bounds a release; default 256 MiB.
	MaxBytes int64
	// Outbox counts records not yet at the server; nil when the agent has
	// no server (records stay in the database across the update anyway).
	Outbox func() (int, error)
	// Report publishes how far the update got (stage, detail).
	Report func(stage Stage, detail string)
	// Poll is how often draining and flushing are checked; default 200 ms.
	Poll time.Duration
	// PublicKey is the release key: a request without its valid signature
	// is refused before anything is fetched; without a key every request is.
	PublicKey ed25519.PublicKey
	// AllowFileURLs accepts file:// releases and manifests (a package
	// already on the controller); off, only http(s).
	AllowFileURLs bool
}

// ErrRunning is returned while an update is under way.
var ErrRunning = errors.New("an update is already running")

// ErrFileURL is returned for a file:// release the operator did not allow.
var ErrFileURL = errors.New("file:// releases are off: set [firmware] allow_file_urls = true to install from this controller's disk")

// ErrDisabled is returned when no installer is configured.
var ErrDisabled = errors.New("firmware updates are off: set [firmware] installer")

// maxOutputLines bounds the installer lines relayed as progress events.
const maxOutputLines = 100

// Updater runs at most one update at a time.
type Updater struct {
	o       Options
	mu      sync.Mutex
	running bool
}

// New builds an updater.
func New(o Options) *Updater {
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.HTTP == nil {
		o.HTTP = http.DefaultClient
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	return &Updater{o: o}
}

// Start checks the request and runs the update in the background until it
// installs, fails or ctx ends; done (if not nil) is called with the outcome.
func (u *Updater) Start(ctx context.Context, r Request, done func(error)) error {
	if len(u.o.Installer) == 0 {
		return ErrDisabled
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if err := u.allowed(r.URL); err != nil {
		return err
	}
	if err := Verify(u.o.PublicKey, r); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.running {
		return ErrRunning
	}
	u.running = true
	go func() {
		err := u.run(ctx, r)
		u.mu.Lock()
		u.running = false
		u.mu.Unlock()
		if done != nil {
			done(err)
		}
	}()
	return nil
}

// allowed refuses a file:// address unless the operator enabled them.
func (u *Updater) allowed(raw string) error {
	if loc, err := url.Parse(raw); err == nil && loc.Scheme == "file" && !u.o.AllowFileURLs {
		return fmt.Errorf("%s: %w", raw, ErrFileURL)
	}
	return nil
}

func (u *Updater) run(ctx context.Context, r Request) error {
	// Fetch and check while the wall still pours: a bad release costs no downtime.
	u.o.Report(StageProgress, "fetching "+r.URL)
	file, err := u.fetch(ctx, r)
	if err != nil {
		u.o.Report(StageFailed, err.Error())
		return err
	}
	defer os.Remove(file)
	u.o.Report(StageProgress, "checksum verified")
	u.o.Agent.Drain("firmware update to " + r.Version)
	err = u.steps(ctx, r, file)
	if err != nil {
		u.o.Agent.Undrain()
		u.o.Report(StageFailed, err.Error())
		return err
	}
	u.o.Report(StageInstalled, r.Version+": restarting into the new release")
	if rerr := u.o.Agent.Restart(); rerr != nil {
		// Installed but not restarted: the new release runs at the next start.
		u.o.Agent.Undrain()
		u.o.Report(StageProgress, "installed; restart by hand: "+rerr.Error())
	}
	return nil
}

func (u *Updater) steps(ctx context.Context, r Request, file string) error {
	u.o.Report(StageProgress, "draining: no new pours, waiting for running ones")
	if err := u.wait(ctx, u.o.DrainTimeout, func() (bool, error) { return !u.o.Agent.Busy(), nil }); err != nil {
		return fmt.Errorf("draining: pours still running: %w", err)
	}
	if u.o.Outbox != nil {
		u.o.Report(StageProgress, "flushing: waiting for the outbox to reach the server")
		if err := u.wait(ctx, u.o.FlushTimeout, func() (bool, error) {
			n, err := u.o.Outbox()
			return n == 0, err
		}); err != nil {
			return fmt.Errorf("flushing the outbox: %w", err)
		}
	}
	u.o.Report(StageProgress, "installing "+r.Version)
	return u.install(ctx, r, file)
}

// wait polls ok until it holds, the timeout passes or ctx ends.
func (u *Updater) wait(ctx context.Context, timeout time.Duration, ok func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(u.o.Poll)
	defer t.Stop()
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done within %s: %w", timeout, ctx.Err())
		case <-t.C:
		}
	}
}

func (u *Updater) install(ctx context.Context, r Request, file string) error {
	ctx, cancel := context.WithTimeout(ctx, u.o.InstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.o.Installer[0], u.o.Installer[1:]...)
	cmd.Env = append(os.Environ(), "TAPAGENT_FIRMWARE_URL="+r.URL, "TAPAGENT_FIRMWARE_SHA256="+strings.ToLower(r.SHA256),
		"TAPAGENT_FIRMWARE_VERSION="+r.Version, "TAPAGENT_FIRMWARE_FILE="+file, "TAPAGENT_FIRMWARE_SIGNATURE="+r.Signature)
	cmd.WaitDelay = 5 * time.Second // an installer's children must not hold the update open
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	var stderr tail
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	u.relay(out)
	if err := cmd.Wait(); err != nil {
		if s := stderr.String(); s != "" {
			return fmt.Errorf("installer: %w: %s", err, s)
		}
		return fmt.Errorf("installer: %w", err)
	}
	return nil
}

// fetch stores the release in Dir and checks its SHA-256; the returned
// file is exactly the bytes that were checked.
func (u *Updater) fetch(ctx context.Context, r Request) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, u.o.InstallTimeout)
	defer cancel()
	src, err := u.open(ctx, r.URL)
	if err != nil {
		return "", fmt.Errorf("fetching the release: %w", err)
	}
	defer src.Close()
	f, err := os.CreateTemp(u.o.Dir, "firmware-*.part")
	if err != nil {
		return "", fmt.Errorf("fetching the release: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(src, u.o.MaxBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		err = fmt.Errorf("fetching the release: %w", err)
	case n > u.o.MaxBytes:
		err = fmt.Errorf("the release is larger than %d bytes", u.o.MaxBytes)
	case !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), r.SHA256):
		err = fmt.Errorf("checksum mismatch: the release has sha256 %x, the request says %s", h.Sum(nil), r.SHA256)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func (u *Updater) open(ctx context.Context, raw string) (io.ReadCloser, error) {
	loc, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if loc.Scheme == "file" {
		return os.Open(loc.Path)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	res, err := u.o.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("%s: %s", raw, res.Status)
	}
	return res.Body, nil
}

// relay turns the installer's output lines into progress events.
func (u *Updater) relay(r io.Reader) {
	sc := bufio.NewScanner(r)
	for n := 0; sc.Scan(); n++ {
		if n < maxOutputLines {
			u.o.Report(StageProgress, "installer: "+clip.String(sc.Text(), 200))
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line too long for the scanner must not block the installer
}

// tail keeps the last bytes an installer wrote to stderr, for the error.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 400

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = t.buf[len(t.buf)-tailBytes:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
