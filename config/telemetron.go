package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tapagent/tapagent/httpguard"
)

// Telemetron is the [telemetron] section: Telemetron's cloud as a sink for
// vend rows, events, machine state, load levels and EVA-DTS reports
// (docs/clouds.md). Empty URL: no Telemetron.
type Telemetron struct {
	// URL is the API root (https://…/v2); AuthURL the OAuth2 token
	// endpoint (https://…/auth/).
	URL     string `toml:"url"`
	AuthURL string `toml:"auth_url"`
	// The password grant's credentials and scope.
	ClientID     string `toml:"client_id"`
	ClientSecret string `toml:"client_secret"`
	Username     string `toml:"username"`
	Password     string `toml:"password"`
	Scope        string `toml:"scope"`
	// MachineID is this machine's vending machine id in Telemetron.
	MachineID int64    `toml:"machine_id"`
	Timeout   Duration `toml:"timeout"`
	// Batch is how many records (and events) one delivery pass takes.
	Batch int `toml:"batch"`
	// RequestPoll is how often the open data request is asked for (also
	// at each delivery pass); StateInterval how often the state is sent
	// when it has not changed; ReportInterval the audit period after which
	// a fresh EVA-DTS report is sent.
	RequestPoll    Duration `toml:"request_poll"`
	StateInterval  Duration `toml:"state_interval"`
	ReportInterval Duration `toml:"report_interval"`
	// NoSalesAfter sets no_recent_sales when nothing was sold for so long.
	NoSalesAfter Duration `toml:"no_sales_after"`
	// ReportEncoding is how a report's data travels: "text" (UTF-8),
	// "base64" (base64 of the UTF-8 text) or "cp1251+base64" (base64 of
	// the Windows-1251 bytes).
	ReportEncoding string `toml:"report_encoding"`
	// Paths are the machine's resources under URL (assumed;
	// docs/clouds.md). {id} is the machine id.
	Paths TelemetronPaths `toml:"paths"`

	// The machine's own API (agent/telemetronapi, docs/clouds.md
	// "Telemetron: the machine's own API"): the documented v2 resources
	// of this one machine, served by the agent; empty Listen serves none.
	// Listen is host:port; off loopback it needs TLS (TLSCert, TLSKey:
	// the reference requires HTTPS) and a user in the users file.
	Listen  string `toml:"listen"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Users is the API's users file (bcrypt hashes, `tapagent telemetron
	// user add`); empty is <data_dir>/telemetron-users.json.
	Users string `toml:"users"`
	// Clients are the OAuth2 clients the API accepts.
	Clients []TelemetronClient `toml:"clients"`
	// TokenTTL is an access token's lifetime (expires_in).
	TokenTTL Duration `toml:"token_ttl"`
	// LoginAttempts is how many failed token requests one address may make
	// per minute.
	LoginAttempts int `toml:"login_attempts"`
}

// TelemetronPaths are the machine-side resource paths, relative to the API
// root; {id} is replaced by the machine id.
type TelemetronPaths struct {
	Events    string `toml:"events"`
	Reports   string `toml:"reports"`
	State     string `toml:"state"`
	Sales     string `toml:"sales"`
	Loading   string `toml:"loading"`
	Inventory string `toml:"inventory"`
	Config    string `toml:"config"`
	Request   string `toml:"request"`
}

// Report encodings of [telemetron] report_encoding.
const (
	ReportText         = "text"
	ReportBase64       = "base64"
	ReportCP1251Base64 = "cp1251+base64"
)

// DefaultTelemetronPaths are the paths tapagent assumes: each document is
// posted to the collection it is read from (docs/clouds.md).
func DefaultTelemetronPaths() TelemetronPaths {
	const vm = "/vending_machines/{id}"
	return TelemetronPaths{Events: vm + "/events", Reports: vm + "/reports", State: vm + "/state", Sales: vm + "/sales",
		Loading: vm + "/loading", Inventory: vm + "/inventory", Config: vm + "/config", Request: vm + "/request"}
}

func defaultTelemetron() Telemetron {
	return Telemetron{Scope: "teleport", Timeout: dur(10 * time.Second), Batch: 100, RequestPoll: dur(time.Minute),
		StateInterval: dur(time.Hour), ReportInterval: dur(24 * time.Hour), NoSalesAfter: dur(24 * time.Hour),
		ReportEncoding: ReportText, Paths: DefaultTelemetronPaths(), TokenTTL: dur(24 * time.Hour), LoginAttempts: 5}
}

// validate checks the [telemetron] section.
func (t Telemetron) validate(bad badFunc) {
	if t.URL == "" {
		return
	}
	for key, raw := range map[string]string{"telemetron.url": t.URL, "telemetron.auth_url": t.AuthURL} {
		u, err := url.Parse(raw)
		switch {
		case raw == "":
			bad(key, "must be set with telemetron.url")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad(key, "%q must be an http:// or https:// URL", raw)
		case u.Scheme == "http" && !httpguard.LoopbackHost(u.Hostname()):
			bad(key, "the token and the password would cross the network in clear to %s: use https://", u.Host)
		}
	}
	for _, k := range [][2]string{{"telemetron.client_id", t.ClientID}, {"telemetron.username", t.Username}, {"telemetron.password", t.Password}} {
		if k[1] == "" {
			bad(k[0], "must be set: the OAuth2 password grant takes a client_id, a username and a password")
		}
	}
	if t.MachineID < 1 {
		bad("telemetron.machine_id", "the machine's vending machine id in Telemetron must be set (>= 1)")
	}
	if t.Timeout.Duration <= 0 {
		bad("telemetron.timeout", "must be > 0")
	}
	if t.Batch < 1 || t.Batch > 1000 {
		bad("telemetron.batch", "must be 1..1000 (Telemetron takes at most 1000 rows a call)")
	}
	for key, d := range map[string]time.Duration{"request_poll": t.RequestPoll.Duration, "state_interval": t.StateInterval.Duration,
		"report_interval": t.ReportInterval.Duration, "no_sales_after": t.NoSalesAfter.Duration} {
		if d < time.Second {
			bad("telemetron."+key, "must be at least 1s")
		}
	}
	switch t.ReportEncoding {
	case ReportText, ReportBase64, ReportCP1251Base64:
	default:
		bad("telemetron.report_encoding", "%q is not text, base64 or cp1251+base64", t.ReportEncoding)
	}
	for key, p := range map[string]string{"events": t.Paths.Events, "reports": t.Paths.Reports, "state": t.Paths.State,
		"sales": t.Paths.Sales, "loading": t.Paths.Loading, "inventory": t.Paths.Inventory, "config": t.Paths.Config,
		"request": t.Paths.Request} {
		if !strings.HasPrefix(p, "/") {
			bad("telemetron.paths."+key, "%q must start with /", p)
		}
	}
}

// String hides the secrets, so the section can be logged.
func (t Telemetron) String() string {
	return fmt.Sprintf("telemetron{url=%s user=%s machine=%d}", t.URL, t.Username, t.MachineID)
}

// TelemetronClient is one OAuth2 client of the machine's own API: its
// client_id and client_secret.
type TelemetronClient struct {
	ID     string `toml:"id" json:"id"`
	Secret string `toml:"secret" json:"secret"`
}

// Client is the secret of the client id, if it is configured.
func (t Telemetron) Client(id string) (string, bool) {
	for _, c := range t.Clients {
		if c.ID == id {
			return c.Secret, true
		}
	}
	return "", false
}

// MaxTelemetronClients bounds [telemetron] clients: a machine is read by a
// few tools, not a fleet of apps.
const MaxTelemetronClients = 16

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
	for i, c := range t.Clients {
		key := fmt.Sprintf("telemetron.clients[%d]", i)
		if c.ID == "" || len(c.ID) > 64 {
			bad(key+".id", "client id %q must be 1..64 characters", c.ID)
		} else if slices.IndexFunc(t.Clients, func(o TelemetronClient) bool { return o.ID == c.ID }) != i {
			bad(key+".id", "client id %q is listed twice", c.ID)
		}
		if err := httpguard.CheckSecret(c.Secret); err != nil {
			bad(key+".secret", "%v", err)
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
		bad("telemetron.clients", "telemetron.listen is set and no OAuth2 client may ask for a token: add one (clients = [{ id = \"tool\", secret = \"SECRET\" }])")
	case !local && t.TLSCert == "":
		bad("telemetron.tls_cert", "telemetron.listen %q is reachable from the network: the API is served over HTTPS only there (tls_cert, tls_key)", t.Listen)
	}
}
