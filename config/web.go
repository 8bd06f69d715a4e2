package config

import (
	"path/filepath"
	"time"

	"github.com/tapagent/tapagent/httpguard"
)

// Web is the dashboard and /metrics listener ([web]).
type Web struct {
	// Listen is host:port; empty turns the dashboard off. Off loopback the
	// agent refuses to start until a user exists (`tapagent web user add`).
	Listen string `toml:"listen"`
	// CertFile and KeyFile serve HTTPS (PEM files, like [mqtt]'s); empty
	// serves plain HTTP.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// UsersFile holds the dashboard's users and their password hashes;
	// empty is <data_dir>/web-users.json.
	UsersFile string `toml:"users_file"`
	// SessionTTL is how long a login lasts.
	SessionTTL Duration `toml:"session_ttl"`
	// MetricsToken, when set, lets a scraper read /metrics with
	// "Authorization: Bearer TOKEN" instead of a login.
	MetricsToken string `toml:"metrics_token"`
	// OpenMetricsOnLoopback serves /metrics without a token or login to
	// callers on this host (a local Prometheus or node exporter).
	OpenMetricsOnLoopback bool `toml:"open_metrics_on_loopback"`
	// LoginAttempts is how many failed logins one address may make per
	// minute before it is refused until the minute is over.
	LoginAttempts int `toml:"login_attempts"`
}

// webDefaults is [web] before any file.
func webDefaults() Web {
	return Web{SessionTTL: dur(12 * time.Hour), LoginAttempts: 5, OpenMetricsOnLoopback: true}
}

// Users is the users file the dashboard reads.
func (w Web) Users(dataDir string) string {
	if w.UsersFile != "" {
		return w.UsersFile
	}
	return filepath.Join(dataDir, "web-users.json")
}

func (w Web) validate(bad func(key, format string, a ...any)) {
	if w.Listen != "" {
		if _, err := httpguard.Loopback(w.Listen); err != nil {
			bad("web.listen", "%v", err)
		}
	}
	if (w.CertFile == "") != (w.KeyFile == "") {
		bad("web.cert_file", "cert_file and key_file go together")
	}
	if d := w.SessionTTL.Duration; d < time.Minute || d > 30*24*time.Hour {
		bad("web.session_ttl", "must be between 1m and 720h")
	}
	if w.MetricsToken != "" {
		if err := httpguard.CheckSecret(w.MetricsToken); err != nil {
			bad("web.metrics_token", "%v", err)
		}
	}
	if w.LoginAttempts < 1 || w.LoginAttempts > 100 {
		bad("web.login_attempts", "must be 1..100")
	}
}
