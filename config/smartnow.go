package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tapagent/tapagent/httpguard"
)

// SmartNow is the [smartnow] section: the SmartNow cloud as a sink for
// sales and logs (docs/clouds.md). Empty URL: no SmartNow.
type SmartNow struct {
	URL      string `toml:"url"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	// Hostname names this machine in SmartNow; MachineID is its id there
	// (the commands resources are addressed by it).
	Hostname  string   `toml:"hostname"`
	MachineID int64    `toml:"machine_id"`
	Timeout   Duration `toml:"timeout"`
	// TokenLifetime is assumed for an access token that does not say when
	// it expires (a JWT's exp claim does); it is refreshed at 80 %.
	TokenLifetime Duration `toml:"token_lifetime"`
	// Batch is how many records one delivery pass takes.
	Batch int `toml:"batch"`
	// Scanner is the serial port of a QR/barcode scanner for vouchers.
	Scanner string `toml:"scanner"`
	// Offline is what a voucher does while SmartNow cannot be reached:
	// "refuse" (default) or "accept" (pour, redeem later).
	Offline string `toml:"offline"`
	// Voucher keys (config/vouchers.go): vouchers pay at the tap.
	Vouchers         bool     `toml:"vouchers"`
	ScannerLine      int      `toml:"scanner_line"`
	VoucherHold      Duration `toml:"voucher_hold"`
	VoucherPortionML float64  `toml:"voucher_portion_ml"`
	OfflineMax       int      `toml:"offline_max"`
	// Paths are the resource paths the SmartNow dump has lost (assumed;
	// docs/clouds.md).
	Paths SmartNowPaths `toml:"paths"`
	// Prices makes the machine's assortment in SmartNow the price
	// authority: its price and name for a PLU become the line's. Refused
	// beside a TTG server, whose catalogue prices the lines otherwise.
	Prices bool `toml:"prices"`
	// ConfigPoll is how often the machine configuration, assortment and
	// opening hours are fetched; CommandPoll how often commands are.
	ConfigPoll  Duration `toml:"config_poll"`
	CommandPoll Duration `toml:"command_poll"`
	// CommandsAllowed are the SmartNow commands the agent runs; any other
	// is answered success:false. Commands that open valves (clean) only
	// run when listed here.
	CommandsAllowed []string `toml:"commands_allowed"`
}

// SmartNowPaths are the SmartNow resource paths. {code}, {id},
// {commandId} and {hostname} are replaced, path-escaped.
type SmartNowPaths struct {
	Login         string `toml:"login"`
	Refresh       string `toml:"refresh"`
	Revenue       string `toml:"revenue"`
	Log           string `toml:"log"`
	Validate      string `toml:"validate"`
	Redeem        string `toml:"redeem"`
	Commands      string `toml:"commands"`
	CommandResult string `toml:"command_result"`
	// Config, Assortment and OpeningHours are the machine's configuration
	// (by {hostname}), products and opening hours (by {id}).
	Config       string `toml:"config"`
	Assortment   string `toml:"assortment"`
	OpeningHours string `toml:"opening_hours"`
}

// DefaultSmartNowPaths are the paths tapagent assumes (docs/clouds.md).
func DefaultSmartNowPaths() SmartNowPaths {
	return SmartNowPaths{Login: "/auth/login", Refresh: "/auth/refresh", Revenue: "/revenuetransaction", Log: "/log",
		Validate: "/voucher/{code}/validate", Redeem: "/voucher/{code}/redeem",
		Commands: "/machine/{id}/commands", CommandResult: "/machine/{id}/commands/{commandId}/result",
		Config: "/machine/hostname/{hostname}/config", Assortment: "/machine/{id}/product", OpeningHours: "/openinghours/machine/{id}"}
}

func defaultSmartNow() SmartNow {
	return SmartNow{Timeout: dur(10 * time.Second), TokenLifetime: dur(15 * time.Minute), Batch: 50, Offline: "refuse",
		Paths: DefaultSmartNowPaths(), VoucherHold: dur(defaultVoucherHold), VoucherPortionML: defaultVoucherPortionML,
		OfflineMax: defaultOfflineMax, ConfigPoll: dur(5 * time.Minute), CommandPoll: dur(15 * time.Second),
		CommandsAllowed: defaultCommandsAllowed()}
}

// validate checks the [smartnow] section; ttgURL is [ttg] url, the other
// price authority.
func (s SmartNow) validate(bad func(key, format string, a ...any), ttgURL string) {
	if s.URL == "" {
		return
	}
	s.validateSync(bad, ttgURL)
	u, err := url.Parse(s.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad("smartnow.url", "%q must be an http:// or https:// URL", s.URL)
	case u.Scheme == "http" && s.Password != "" && !httpguard.LoopbackHost(u.Hostname()):
		bad("smartnow.url", "the password would cross the network in clear to %s: use https://", u.Host)
	}
	for _, k := range [][2]string{{"smartnow.username", s.Username}, {"smartnow.password", s.Password}} {
		if k[1] == "" {
			bad(k[0], "must be set: SmartNow's POST %s takes a username and a password", s.Paths.Login)
		}
	}
	if s.Hostname == "" {
		bad("smartnow.hostname", "the machine's hostname in SmartNow must be set")
	}
	if s.MachineID < 0 {
		bad("smartnow.machine_id", "must be >= 0")
	}
	if s.Timeout.Duration <= 0 || s.TokenLifetime.Duration < time.Minute {
		bad("smartnow.timeout", "timeout must be > 0 and token_lifetime at least 1m")
	}
	if s.Batch < 1 || s.Batch > 1000 {
		bad("smartnow.batch", "must be 1..1000")
	}
	if s.Offline != "refuse" && s.Offline != "accept" {
		bad("smartnow.offline", "%q is not refuse or accept", s.Offline)
	}
	for key, p := range map[string]string{"login": s.Paths.Login, "refresh": s.Paths.Refresh, "revenue": s.Paths.Revenue,
		"log": s.Paths.Log, "validate": s.Paths.Validate, "redeem": s.Paths.Redeem, "commands": s.Paths.Commands,
		"command_result": s.Paths.CommandResult, "config": s.Paths.Config, "assortment": s.Paths.Assortment,
		"opening_hours": s.Paths.OpeningHours} {
		if !strings.HasPrefix(p, "/") {
			bad("smartnow.paths."+key, "%q must start with /", p)
		}
	}
}

// String hides the password, so the section can be logged.
func (s SmartNow) String() string {
	return fmt.Sprintf("smartnow{url=%s user=%s host=%s}", s.URL, s.Username, s.Hostname)
}
