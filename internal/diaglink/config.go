package diaglink

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/storage"
)

// Desired is a configuration document for the device: the whole TOML file
// it should run with, versioned by whoever sends it.
type Desired struct {
	Version int64  `json:"version"`
	TOML    string `json:"toml"`
	// Signature is an operator key's Ed25519 signature of SignedDesired,
	// base64; without it the document may not touch security-critical keys.
	Signature string `json:"signature,omitempty"`
}

// SignedDesired is the message an operator signs for a desired
// configuration: the device, the version and the whole file.
func SignedDesired(device, version int64, toml string) []byte {
	sum := sha256.Sum256([]byte(toml))
	return fmt.Appendf(nil, "tapagent config v1\ndevice %d\nversion %d\ntoml-sha256 %x\n", device, version, sum)
}

// SignDesired sets d's signature for device.
func SignDesired(key ed25519.PrivateKey, device int64, d *Desired) {
	d.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, SignedDesired(device, d.Version, d.TOML)))
}

func (c ConfigSetter) verify(d Desired) bool {
	sig, err := base64.StdEncoding.DecodeString(d.Signature)
	if err != nil {
		return false
	}
	msg := SignedDesired(c.DeviceID, d.Version, d.TOML)
	for _, k := range c.Keys {
		if ed25519.Verify(k, msg, sig) {
			return true
		}
	}
	return false
}

// Reported is the device's answer, retained on config/reported.
type Reported struct {
	Version int64    `json:"version"`
	Status  string   `json:"status"` // accepted, rejected
	Errors  []string `json:"errors,omitempty"`
	Note    string   `json:"note,omitempty"`
}

// ConfigSetter validates desired configurations with the same strict
// parser as the file, and writes accepted ones to the configuration file
// (atomically) for the next start.
type ConfigSetter struct {
	// Path of the configuration file; empty means nothing can be stored.
	Path string
	// DeviceID and Keys check a document's signature: the operator keys
	// of [mqtt] operator_keys.
	DeviceID int64
	Keys     []ed25519.PublicKey
	// Store keeps the last accepted version (nil: versions unchecked).
	Store *storage.Store
	// AcceptUnsigned takes unsigned documents that leave every
	// security-critical key as it is ([mqtt] accept_unsigned_config).
	AcceptUnsigned bool
}

// Apply checks and stores one desired document. signed says the document
// came in a request an operator key signed (config.set); otherwise only
// its own signature lets it change security-critical keys.
func (c ConfigSetter) Apply(raw []byte, signed bool) Reported {
	var d Desired
	if err := json.Unmarshal(raw, &d); err != nil {
		return Reported{Status: "rejected", Errors: []string{"desired document: " + truncate(err.Error(), 200)}}
	}
	reject := func(errs ...string) Reported { return Reported{Version: d.Version, Status: "rejected", Errors: errs} }
	if strings.TrimSpace(d.TOML) == "" {
		return reject("toml is empty")
	}
	proposed, err := config.Parse([]byte(d.TOML))
	if err != nil {
		return reject(strings.Split(err.Error(), "\n")...)
	}
	if c.Path == "" {
		return reject("this agent runs without a configuration file (simulator defaults); nothing to store")
	}
	if errs := c.authorise(d, proposed, signed); len(errs) > 0 {
		return reject(errs...)
	}
	if err := c.checkVersion(d.Version); err != nil {
		return reject(err.Error())
	}
	if err := writeAtomic(c.Path, []byte(d.TOML)); err != nil {
		return reject(err.Error())
	}
	if err := c.keepVersion(d.Version); err != nil {
		return Reported{Version: d.Version, Status: "accepted", Note: "stored in " + c.Path + ", but its version was not kept: " + err.Error()}
	}
	return Reported{Version: d.Version, Status: "accepted", Note: "stored in " + c.Path + "; applies at the next start (agent.restart)"}
}

// authorise lists why d may not replace the file: a signature that does
// not verify, or (unsigned) the refusal and each security-critical key.
func (c ConfigSetter) authorise(d Desired, proposed *config.Config, signed bool) []string {
	if d.Signature != "" && !signed {
		if !c.verify(d) {
			return []string{fmt.Sprintf("signature: does not verify with any operator key of device %d for this version and file", c.DeviceID)}
		}
		signed = true
	}
	if signed {
		return nil
	}
	errs := c.unsignedChanges(proposed)
	if !c.AcceptUnsigned {
		errs = append([]string{"not signed: this device takes only desired configurations signed by an operator key " +
			"(a signature in the document, or config.set signed with tapagent diag call --key)"}, errs...)
	}
	return errs
}

// versionKey keeps the version of the last accepted document, so an
// older one (a signed document replayed) cannot take the file back.
const (
	versionBucket = "config-desired"
	versionKey    = "version"
)

func (c ConfigSetter) checkVersion(v int64) error {
	if c.Store == nil {
		return nil
	}
	var last int64
	err := c.Store.View(versionBucket, func(b storage.Bucket) error {
		if raw := b.Get([]byte(versionKey)); len(raw) == 8 {
			last = int64(binary.BigEndian.Uint64(raw))
		}
		return nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("version: %w", err)
	case v < last:
		return fmt.Errorf("version %d is older than version %d, already accepted (a document is never taken back)", v, last)
	}
	return nil
}

func (c ConfigSetter) keepVersion(v int64) error {
	if c.Store == nil {
		return nil
	}
	return c.Store.Update(versionBucket, func(b storage.Bucket) error {
		return b.Put([]byte(versionKey), binary.BigEndian.AppendUint64(nil, uint64(v)))
	})
}

// unsignedChanges lists why an unsigned document may not replace the file:
// each security-critical key it changes.
func (c ConfigSetter) unsignedChanges(proposed *config.Config) []string {
	running, err := config.Load(c.Path)
	if err != nil {
		return []string{"the configuration file does not load (" + truncate(err.Error(), 200) + "); only a signed document may replace it"}
	}
	var errs []string
	for _, k := range config.SecurityChanges(running, proposed) {
		errs = append(errs, k+": security-critical; only a document signed by an operator key ([mqtt] operator_keys) may change it")
	}
	return errs
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tapagent-config-*")
	if err != nil {
		return fmt.Errorf("storing configuration: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("storing configuration: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("storing configuration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("storing configuration: %w", err)
	}
	// Keep the permissions the operator gave the file (it may hold secrets).
	if fi, err := os.Stat(path); err == nil {
		if err := os.Chmod(tmp.Name(), fi.Mode().Perm()); err != nil {
			return fmt.Errorf("storing configuration: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("storing configuration: %w", err)
	}
	return nil
}

// Desired answers a desired document for diag: 202 when accepted, 400
// when rejected, with the report either way.
func (c ConfigSetter) Desired(raw []byte, signed bool) (int, any) {
	r := c.Apply(raw, signed)
	if r.Status != "accepted" {
		return 400, r
	}
	return 202, r
}
