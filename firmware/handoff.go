package firmware

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tapagent/tapagent/internal/clip"
)

// The hand-off between the unprivileged agent and the root-owned update
// service (packaging/tapagent-update.path starts it when a request
// appears). The agent's side runs as its installer: it leaves the checked
// package and a request in the update directory and waits. The root side
// copies the package out of the agent's reach, checks it again, installs
// it and writes the result, which the restarted agent reports.
const (
	requestFile = "request.json"
	takenFile   = "request.taken"
	resultFile  = "result.json"
	pendingFile = "pending.pkg"
)

// Handoff is an update request or its result.
type Handoff struct {
	Version   string `json:"version"`
	SHA256    string `json:"sha256"`
	Signature string `json:"signature,omitempty"`
	// Result fields.
	OK     bool      `json:"ok,omitempty"`
	Output string    `json:"output,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// HandOff is the agent's side, run as the installer with the package in
// file: it files the request in dir and waits for the result until ctx
// ends. A successful install normally restarts the agent (and ends this
// process) before the result is read; the next start reports it.
func HandOff(ctx context.Context, dir, file string, req Handoff, poll time.Duration) (Handoff, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Handoff{}, fmt.Errorf("update directory: %w", err)
	}
	os.Remove(filepath.Join(dir, resultFile))
	if err := os.Rename(file, filepath.Join(dir, pendingFile)); err != nil {
		return Handoff{}, fmt.Errorf("update package: %w", err)
	}
	if err := writeJSON(filepath.Join(dir, requestFile), req); err != nil {
		return Handoff{}, err
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if res, err := readHandoff(filepath.Join(dir, resultFile)); err == nil {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return Handoff{}, fmt.Errorf("waiting for the update service: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Apply is the root side: it takes the request in dir, copies the package
// to a private file, checks its signature (refused without pub) and SHA-256,
// runs installer with the copy as its last argument and writes the result.
func Apply(ctx context.Context, dir string, pub ed25519.PublicKey, installer []string) (Handoff, error) {
	return take(dir, func(req Handoff) (string, error) { return applyChecked(ctx, dir, pub, req, installer) })
}

// Refuse is the root side refusing for a reason of its own (its release
// key file is missing): it takes the request in dir and answers it with
// why, so the waiting agent reports the root side's reason, not its own
// configuration's.
func Refuse(dir string, why error) (Handoff, error) {
	return take(dir, func(Handoff) (string, error) { return "", why })
}

// take takes the request in dir, runs do on it and writes the result for
// the agent.
func take(dir string, do func(Handoff) (string, error)) (Handoff, error) {
	// Taking the request first means the path unit does not start us again.
	if err := os.Rename(filepath.Join(dir, requestFile), filepath.Join(dir, takenFile)); err != nil {
		return Handoff{}, fmt.Errorf("no update request: %w", err)
	}
	req, err := readHandoff(filepath.Join(dir, takenFile))
	res := req
	if err == nil {
		res.Output, err = do(req)
	}
	res.OK, res.At = err == nil, time.Now().UTC()
	if err != nil {
		res.Output = strings.TrimSpace(res.Output + "\n" + err.Error())
	}
	os.Remove(filepath.Join(dir, takenFile))
	os.Remove(filepath.Join(dir, pendingFile))
	if werr := writeResult(dir, res); werr != nil {
		return res, errors.Join(err, werr)
	}
	return res, err
}

// writeResult leaves the result for the agent: the root side runs as root,
// so the file is given to the owner of the update directory (the service
// user), or the waiting installer could never read it.
func writeResult(dir string, res Handoff) error {
	p := filepath.Join(dir, resultFile)
	if err := writeJSON(p, res); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := os.Chown(p, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

func applyChecked(ctx context.Context, dir string, pub ed25519.PublicKey, req Handoff, installer []string) (string, error) {
	if err := Verify(pub, Request{Version: req.Version, SHA256: req.SHA256, Signature: req.Signature}); err != nil {
		return "", err
	}
	// The update directory is the agent's: copy the package where it cannot
	// be changed between the check and the install.
	priv, err := os.MkdirTemp("", "tapagent-update-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(priv)
	pkg := filepath.Join(priv, "tapagent.deb")
	sum, err := copyHashed(filepath.Join(dir, pendingFile), pkg)
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(sum, req.SHA256) {
		return "", fmt.Errorf("checksum mismatch: package %s, request %s", sum, req.SHA256)
	}
	cmd := exec.CommandContext(ctx, installer[0], append(installer[1:], pkg)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return clip.String(string(out), 2000), fmt.Errorf("installer: %w", err)
	}
	return clip.String(string(out), 2000), nil
}

// TakeResult returns the result of the last hand-off, once: the restarted
// agent reports it.
func TakeResult(dir string) (Handoff, bool) {
	p := filepath.Join(dir, resultFile)
	res, err := readHandoff(p)
	if err != nil {
		return Handoff{}, false
	}
	os.Remove(p)
	return res, true
}

// ReportResult reports the last hand-off's outcome, if there is one, as a
// firmware event; the agent calls it at start, after the update restarted it.
func ReportResult(dir string, report func(stage Stage, detail string)) {
	res, ok := TakeResult(dir)
	switch {
	case !ok:
	case res.OK:
		report(StageInstalled, res.Version+" installed by the update service")
	default:
		report(StageFailed, res.Version+": the update service could not install it: "+clip.String(res.Output, 500))
	}
}

func copyHashed(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("update package: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", fmt.Errorf("update package: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), out.Close()
}

func readHandoff(path string) (Handoff, error) {
	var h Handoff
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// writeJSON writes atomically: the path unit must never see half a file.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
