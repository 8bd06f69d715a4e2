package diagcmd

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
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/internal/clip"
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
	return diag.VerifyMessage(c.Keys, SignedDesired(c.DeviceID, d.Version, d.TOML), d.Signature)
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
	d, proposed, errs := c.parse(raw)
	reject := func(errs ...string) Reported { return Reported{Version: d.Version, Status: "rejected", Errors: errs} }
	if len(errs) > 0 {
		return reject(errs...)
	}
	signed, err := c.signedBy(d, signed)
	if err != nil {
		return reject(err.Error())
	}
	seen := newSeen(d, signed)
	last, err := c.lastSeen(seen.key)
	if err != nil {
		return reject(err.Error())
	}
	// Before the keys: the retained document seen again at a reconnect is
	// answered as accepted even when the file was edited by hand since.
	if r, done := versionCheck(seen, last); done {
		return r
	}
	if errs := c.authorise(proposed, signed); len(errs) > 0 {
		return reject(errs...)
	}
	if err := writeAtomic(c.Path, []byte(d.TOML)); err != nil {
		return reject(err.Error())
	}
	if err := c.keep(seen); err != nil {
		return Reported{Version: d.Version, Status: "accepted", Note: "stored in " + c.Path + ", but its version was not kept: " + err.Error()}
	}
	return Reported{Version: d.Version, Status: "accepted", Note: "stored in " + c.Path + "; applies at the next start (agent.restart)"}
}

// parse reads a desired document and its file with the strict parser.
func (c ConfigSetter) parse(raw []byte) (Desired, *config.Config, []string) {
	var d Desired
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, nil, []string{"desired document: " + clip.String(err.Error(), 200)}
	}
	if strings.TrimSpace(d.TOML) == "" {
		return d, nil, []string{"toml is empty"}
	}
	proposed, err := config.Parse([]byte(d.TOML))
	switch {
	case err != nil:
		return d, nil, strings.Split(err.Error(), "\n")
	case c.Path == "":
		return d, nil, []string{"this agent runs without a configuration file (simulator defaults); nothing to store"}
	}
	if err := proposed.MQTT.LinkRefusal(); err != nil {
		// The file would start, but without the link the document came over.
		return d, nil, []string{err.Error() + "; the device would start without its MQTT link"}
	}
	return d, proposed, nil
}

// signedBy reports whether d counts as signed: it came in a signed
// command, or its own signature verifies; a signature that does not
// verify is an error.
func (c ConfigSetter) signedBy(d Desired, signed bool) (bool, error) {
	if signed || d.Signature == "" {
		return signed, nil
	}
	if !c.verify(d) {
		return false, fmt.Errorf("signature: does not verify with any operator key of device %d for this version and file", c.DeviceID)
	}
	return true, nil
}

// versionCheck answers a document whose version was seen before: older is
// rejected, the same file again is accepted without writing, another file
// under the same version is rejected. done false: a new version.
func versionCheck(seen, last seenDoc) (r Reported, done bool) {
	reject := func(e string) (Reported, bool) {
		return Reported{Version: seen.version, Status: "rejected", Errors: []string{e}}, true
	}
	switch {
	case !last.found || seen.version > last.version:
		return Reported{}, false
	case seen.version < last.version:
		return reject(fmt.Sprintf("version %d is older than version %d, already accepted (a document is never taken back)", seen.version, last.version))
	case last.known && seen.sum != last.sum:
		return reject(fmt.Sprintf("version %d was already accepted with another file: give a changed document a new version", seen.version))
	}
	// The retained document again, at a reconnect: writing it again
	// would undo the edits made to the file since.
	return Reported{Version: seen.version, Status: "accepted", Note: "already accepted; the file is not written again"}, true
}

// authorise lists why a document may not replace the file: for a signed
// one, each key only the local file may change; for an unsigned one, the
// refusal (accept_unsigned_config off) and each security-critical key.
func (c ConfigSetter) authorise(proposed *config.Config, signed bool) []string {
	if signed {
		return c.localOnlyChanges(proposed)
	}
	errs := c.unsignedChanges(proposed)
	if !c.AcceptUnsigned {
		errs = append([]string{"not signed: this device takes only desired configurations signed by an operator key " +
			"(a signature in the document, or config.set signed with tapagent diag call --key)"}, errs...)
	}
	return errs
}

// The last accepted document is kept as its version and the SHA-256 of its
// file: an older one (a signed document replayed) cannot take the file
// back, the same one again (retained, at every reconnect) is not written
// again, and another file under the same version is refused. Signed and
// unsigned documents are counted apart, so an unsigned document with a
// huge version can never hold back the operator's signed ones.
const (
	versionBucket = "config-desired"
	signedKey     = "version"          // where older agents kept the version alone
	unsignedKey   = "unsigned-version" // accept_unsigned_config documents
)

// seenDoc is the record of one accepted document.
type seenDoc struct {
	key     string
	version int64
	sum     [sha256.Size]byte
	known   bool // sum is known (older agents kept the version alone)
	found   bool // a document was accepted before
}

func newSeen(d Desired, signed bool) seenDoc {
	key := unsignedKey
	if signed {
		key = signedKey
	}
	return seenDoc{key: key, version: d.Version, sum: sha256.Sum256([]byte(d.TOML)), known: true}
}

// lastSeen is the record kept under key, if any.
func (c ConfigSetter) lastSeen(key string) (seenDoc, error) {
	last := seenDoc{key: key}
	if c.Store == nil {
		return last, nil
	}
	err := c.Store.View(versionBucket, func(b storage.Bucket) error {
		raw := b.Get([]byte(key))
		if len(raw) >= 8 {
			last.version, last.found = int64(binary.BigEndian.Uint64(raw)), true
		}
		if len(raw) == 8+sha256.Size {
			copy(last.sum[:], raw[8:])
			last.known = true
		}
		return nil
	})
	if err != nil {
		return last, fmt.Errorf("version: %w", err)
	}
	return last, nil
}

func (c ConfigSetter) keep(s seenDoc) error {
	if c.Store == nil {
		return nil
	}
	return c.Store.Update(versionBucket, func(b storage.Bucket) error {
		return b.Put([]byte(s.key), append(binary.BigEndian.AppendUint64(nil, uint64(s.version)), s.sum[:]...))
	})
}

// unsignedChanges lists why an unsigned document may not replace the file:
// each security-critical key it changes.
func (c ConfigSetter) unsignedChanges(proposed *config.Config) []string {
	running, err := config.Load(c.Path)
	if err != nil {
		return []string{"the configuration file does not load (" + clip.String(err.Error(), 200) + "); only a signed document may replace it"}
	}
	var errs []string
	for _, k := range config.SecurityChanges(running, proposed) {
		errs = append(errs, k+": security-critical; only a document signed by an operator key ([mqtt] operator_keys) may change it")
	}
	return errs
}

// localOnlyChanges lists the keys a document changes that only the local
// file may change, signed or not: compared with the file as it is now, so
// a key removed there by hand is not brought back.
func (c ConfigSetter) localOnlyChanges(proposed *config.Config) []string {
	running, err := config.Load(c.Path)
	if err != nil {
		// The file does not load: compare with the keys this agent runs with.
		running = &config.Config{}
		for _, k := range c.Keys {
			running.MQTT.OperatorKeys = append(running.MQTT.OperatorKeys, base64.StdEncoding.EncodeToString(k))
		}
	}
	var errs []string
	for _, k := range config.LocalOnlyChanges(running, proposed) {
		errs = append(errs, k+": set only in the configuration file on the device, never over MQTT (not even signed); keep it as it is in the document")
	}
	return errs
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
