package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/url"
	"reflect"
	"slices"

	"github.com/tapagent/tapagent/internal/httpguard"
)

// MaxOperatorKeys bounds [mqtt] operator_keys: a device tries each key on
// every signed command, and a fleet rotates keys, it does not hoard them.
const MaxOperatorKeys = 16

// ParseOperatorKey decodes one base64 Ed25519 public key.
func ParseOperatorKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("operator key %.12q: want a base64 Ed25519 public key (32 bytes; `tapagent diag keygen` makes one)", s)
	}
	return ed25519.PublicKey(b), nil
}

// Operators decodes the configured operator keys.
func (m MQTT) Operators() ([]ed25519.PublicKey, error) {
	keys := make([]ed25519.PublicKey, 0, len(m.OperatorKeys))
	for i, s := range m.OperatorKeys {
		k, err := ParseOperatorKey(s)
		if err != nil {
			return nil, fmt.Errorf("mqtt.operator_keys[%d]: %w", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// validateSecurity refuses settings that would hand the device to whoever
// can reach it: credentials in clear to another host, malformed operator
// keys.
func (c *Config) validateSecurity(bad func(key, format string, a ...any)) {
	if len(c.MQTT.OperatorKeys) > MaxOperatorKeys {
		bad("mqtt.operator_keys", "at most %d keys", MaxOperatorKeys)
	}
	for i, k := range c.MQTT.OperatorKeys {
		if _, err := ParseOperatorKey(k); err != nil {
			bad(fmt.Sprintf("mqtt.operator_keys[%d]", i), "%v", err)
		} else if slices.Index(c.MQTT.OperatorKeys, k) != i {
			bad(fmt.Sprintf("mqtt.operator_keys[%d]", i), "listed twice")
		}
	}
	if c.MQTT.Password != "" {
		if u, err := url.Parse(c.MQTT.Broker); err == nil && u.Scheme == "tcp" && !httpguard.LoopbackHost(u.Hostname()) {
			bad("mqtt.password", "would cross the network in clear to %s: use ssl:// (with ca_file) or a broker on this host", u.Host)
		}
	}
	if u, err := url.Parse(c.Firmware.ManifestURL); err == nil && u.Scheme == "file" && !c.Firmware.AllowFileURLs {
		bad("firmware.manifest_url", "a file:// manifest needs firmware.allow_file_urls = true")
	}
}

// securityKeys are the keys a desired configuration may change only when
// an operator key signed it: whoever sets them runs code on the device,
// takes its money or its records elsewhere, or opens it to the network.
var securityKeys = []struct {
	key string
	get func(*Config) any
}{
	{"device.device_id", func(c *Config) any { return c.Device.ID }},
	{"device.data_dir", func(c *Config) any { return c.Device.DataDir }},
	{"board.profile", func(c *Config) any { return c.Board.Profile }},
	{"firmware.installer", func(c *Config) any { return c.Firmware.Installer }},
	{"firmware.public_key", func(c *Config) any { return c.Firmware.PublicKey }},
	{"firmware.manifest_url", func(c *Config) any { return c.Firmware.ManifestURL }},
	{"firmware.allow_file_urls", func(c *Config) any { return c.Firmware.AllowFileURLs }},
	{"mqtt.operator_keys", func(c *Config) any { return c.MQTT.OperatorKeys }},
	{"mqtt.accept_unsigned_config", func(c *Config) any { return c.MQTT.AcceptUnsignedConfig }},
	{"mqtt.broker", func(c *Config) any { return c.MQTT.Broker }},
	{"mqtt.prefix", func(c *Config) any { return c.MQTT.Prefix }},
	{"mqtt.username", func(c *Config) any { return c.MQTT.Username }},
	{"mqtt.password", func(c *Config) any { return c.MQTT.Password }},
	{"mqtt.ca_file", func(c *Config) any { return c.MQTT.CAFile }},
	{"mqtt.cert_file", func(c *Config) any { return c.MQTT.CertFile }},
	{"mqtt.key_file", func(c *Config) any { return c.MQTT.KeyFile }},
	{"pos.listen", func(c *Config) any { return c.POS.Listen }},
	{"pos.api_key", func(c *Config) any { return c.POS.APIKey }},
	{"control.listen", func(c *Config) any { return c.Control.Listen }},
	{"control.token", func(c *Config) any { return c.Control.Token }},
	{"control.allow", func(c *Config) any { return c.Control.Allow }},
	{"control.restart_interval", func(c *Config) any { return c.Control.RestartInterval }},
	{"ttg.url", func(c *Config) any { return c.TTG.URL }},
	{"ttg.username", func(c *Config) any { return c.TTG.Username }},
	{"ttg.password", func(c *Config) any { return c.TTG.Password }},
	{"cards.picc_key", func(c *Config) any { return c.Cards.PICCKey }},
	{"cards.issuer_key", func(c *Config) any { return c.Cards.IssuerKey }},
	{"cards.tap_key", func(c *Config) any { return c.Cards.TapKey }},
	{"cards.charger_key", func(c *Config) any { return c.Cards.ChargerKey }},
}

// safeKeys are the [pos] and [control] keys a desired configuration may
// change unsigned, each with the reason; a test fails for a key of those
// sections that is in neither list, so a new listener setting is decided on.
var safeKeys = map[string]string{
	"pos.article": "what a waiter's credit pours and costs, like a line's price",
}

// SecurityChanges names the security-critical keys whose values differ
// between the running configuration and a proposed one, in a fixed order.
func SecurityChanges(running, proposed *Config) []string {
	var changed []string
	for _, k := range securityKeys {
		if !reflect.DeepEqual(normalise(k.get(running)), normalise(k.get(proposed))) {
			changed = append(changed, k.key)
		}
	}
	return changed
}

// normalise makes an empty list and a missing one the same value.
func normalise(v any) any {
	if s, ok := v.([]string); ok && len(s) == 0 {
		return []string(nil)
	}
	return v
}
