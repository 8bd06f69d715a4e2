package config

import (
	"fmt"
	"net/url"
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
		ReportEncoding: ReportText, Paths: DefaultTelemetronPaths()}
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
	if t.ClientID == "" || t.Username == "" || t.Password == "" {
		bad("telemetron.username", "client_id, username and password are needed for the password grant")
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
