package config

import (
	"encoding/base64"
	"strings"
)

// validate checks [firmware].
func (f Firmware) validate(bad badFunc) {
	for _, d := range []struct {
		k string
		v Duration
	}{{"drain_timeout", f.DrainTimeout}, {"flush_timeout", f.FlushTimeout}, {"install_timeout", f.InstallTimeout}} {
		if d.v.Duration <= 0 {
			bad("firmware."+d.k, "must be > 0")
		}
	}
	if k := f.PublicKey; k != "" {
		if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != 32 {
			bad("firmware.public_key", "must be a base64 Ed25519 public key (32 bytes; `tapagent release keygen` makes one)")
		}
	}
	if u := f.ManifestURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "file://") {
		bad("firmware.manifest_url", "must be an http(s):// or file:// address")
	}
	if len(f.Installer) > 0 && f.Installer[0] == "" {
		bad("firmware.installer", "the first element is the program and must not be empty")
	}
}
