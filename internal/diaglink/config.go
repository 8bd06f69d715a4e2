package diaglink

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tapagent/tapagent/config"
)

// Desired is a configuration document for the device: the whole TOML file
// it should run with, versioned by whoever sends it.
type Desired struct {
	Version int64  `json:"version"`
	TOML    string `json:"toml"`
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
}

// Apply checks and stores one desired document.
func (c ConfigSetter) Apply(raw []byte) Reported {
	var d Desired
	if err := json.Unmarshal(raw, &d); err != nil {
		return Reported{Status: "rejected", Errors: []string{"desired document: " + err.Error()}}
	}
	if strings.TrimSpace(d.TOML) == "" {
		return Reported{Version: d.Version, Status: "rejected", Errors: []string{"toml is empty"}}
	}
	if _, err := config.Parse([]byte(d.TOML)); err != nil {
		return Reported{Version: d.Version, Status: "rejected", Errors: strings.Split(err.Error(), "\n")}
	}
	if c.Path == "" {
		return Reported{Version: d.Version, Status: "rejected", Errors: []string{"this agent runs without a configuration file (simulator defaults); nothing to store"}}
	}
	if err := writeAtomic(c.Path, []byte(d.TOML)); err != nil {
		return Reported{Version: d.Version, Status: "rejected", Errors: []string{err.Error()}}
	}
	return Reported{Version: d.Version, Status: "accepted", Note: "stored in " + c.Path + "; applies at the next start (agent.restart)"}
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
func (c ConfigSetter) Desired(raw []byte) (int, any) {
	r := c.Apply(raw)
	if r.Status != "accepted" {
		return 400, r
	}
	return 202, r
}
