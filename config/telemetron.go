package config

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/tapagent/tapagent/httpguard"
)

// Telemetron is the [telemetron] section. The keys here serve the
// machine's own data through Telemetron's documented API v2 resources
// (agent/telemetronapi, docs/clouds.md "Telemetron: the machine's own
// API"); empty Listen serves nothing.
type Telemetron struct {
	// Listen is host:port of the API. Off loopback it needs TLS (TLSCert,
	// TLSKey: the reference requires HTTPS) and a user in the users file.
	Listen  string `toml:"listen"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Users is the users file (bcrypt hashes, `tapagent telemetron user
	// add`); empty is <data_dir>/telemetron-users.json.
	Users string `toml:"users"`
	// Clients maps OAuth2 client ids to their secrets; a token request
	// must name one of them.
	Clients map[string]string `toml:"clients"`
	// MachineID is the machine's id in the API (/v2/vending_machines/{id});
	// 0 is device.device_id.
	MachineID int64 `toml:"machine_id"`
	// TokenTTL is an access token's lifetime (expires_in).
	TokenTTL Duration `toml:"token_ttl"`
	// LoginAttempts is how many failed token requests one address may make
	// per minute.
	LoginAttempts int `toml:"login_attempts"`
}

// MaxTelemetronClients bounds [telemetron] clients: a machine is read by a
// few tools, not a fleet of apps.
const MaxTelemetronClients = 16

func telemetronDefaults() Telemetron {
	return Telemetron{TokenTTL: dur(24 * time.Hour), LoginAttempts: 5}
}

// UsersFile is the users file the API reads.
func (t Telemetron) UsersFile(dataDir string) string {
	if t.Users != "" {
		return t.Users
	}
	return filepath.Join(dataDir, "telemetron-users.json")
}

// Machine is the machine's id in the API.
func (t Telemetron) Machine(deviceID int64) int64 {
	if t.MachineID != 0 {
		return t.MachineID
	}
	return deviceID
}

// validateAPI checks the API's keys. The users file is checked when the
// API starts (it is a file, not configuration).
func (t Telemetron) validateAPI(bad func(key, format string, a ...any)) {
	if (t.TLSCert == "") != (t.TLSKey == "") {
		bad("telemetron.tls_cert", "tls_cert and tls_key go together")
	}
	if t.MachineID < 0 {
		bad("telemetron.machine_id", "must be positive (0: device.device_id)")
	}
	if d := t.TokenTTL.Duration; d < time.Minute || d > 30*24*time.Hour {
		bad("telemetron.token_ttl", "must be between 1m and 720h")
	}
	if t.LoginAttempts < 1 || t.LoginAttempts > 100 {
		bad("telemetron.login_attempts", "must be 1..100")
	}
	if len(t.Clients) > MaxTelemetronClients {
		bad("telemetron.clients", "at most %d clients", MaxTelemetronClients)
	}
	for id, secret := range t.Clients {
		if id == "" || len(id) > 64 {
			bad("telemetron.clients", "client id %q must be 1..64 characters", id)
		}
		if err := httpguard.CheckSecret(secret); err != nil {
			bad(fmt.Sprintf("telemetron.clients.%s", id), "%v", err)
		}
	}
	if t.Listen == "" {
		return
	}
	local, err := httpguard.Loopback(t.Listen)
	switch {
	case err != nil:
		bad("telemetron.listen", "%v", err)
	case len(t.Clients) == 0:
		bad("telemetron.clients", "telemetron.listen is set and no OAuth2 client may ask for a token: add one (clients = { tool = \"SECRET\" })")
	case !local && t.TLSCert == "":
		bad("telemetron.tls_cert", "telemetron.listen %q is reachable from the network: the API is served over HTTPS only there (tls_cert, tls_key)", t.Listen)
	}
}
