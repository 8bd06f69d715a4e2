package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/tapagent/tapagent/firmware"
	"github.com/tapagent/tapagent/httpguard"
)

// MaxOperatorKeys bounds [mqtt] operator_keys: a device tries each key on
// every signed command, and a fleet rotates keys, it does not hoard them.
const MaxOperatorKeys = 16

// parseOperatorKey decodes one operator key, saying how to make one.
func parseOperatorKey(s string) (ed25519.PublicKey, error) {
	k, err := firmware.ParsePublicKey(s)
	if err != nil {
		return nil, fmt.Errorf("operator key %.12q: %w; `tapagent diag keygen` makes one", s, err)
	}
	return k, nil
}

// Operators decodes the configured operator keys.
func (m MQTT) Operators() ([]ed25519.PublicKey, error) {
	keys := make([]ed25519.PublicKey, 0, len(m.OperatorKeys))
	for i, s := range m.OperatorKeys {
		k, err := parseOperatorKey(s)
		if err != nil {
			return nil, fmt.Errorf("mqtt.operator_keys[%d]: %w", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// validateSecurity refuses settings that would hand the device to whoever
// can reach it: malformed operator keys. Settings that only one part
// refuses to act on (LinkRefusal, ManifestRefusal) do not stop the agent:
// a wall upgraded with them keeps pouring.
func (c *Config) validateSecurity(bad badFunc) {
	if len(c.MQTT.OperatorKeys) > MaxOperatorKeys {
		bad("mqtt.operator_keys", "at most %d keys", MaxOperatorKeys)
	}
	for i, k := range c.MQTT.OperatorKeys {
		if _, err := parseOperatorKey(k); err != nil {
			bad(fmt.Sprintf("mqtt.operator_keys[%d]", i), "%v", err)
		} else if slices.Index(c.MQTT.OperatorKeys, k) != i {
			bad(fmt.Sprintf("mqtt.operator_keys[%d]", i), "listed twice")
		}
	}
}

// LinkRefusal is why the MQTT link must not start with these settings
// (a password that would cross the network in clear), or nil. Only the
// link is refused; the wall runs on.
func (m MQTT) LinkRefusal() error {
	if m.Password == "" {
		return nil
	}
	if u, err := url.Parse(m.Broker); err == nil && u.Scheme == "tcp" && !httpguard.LoopbackHost(u.Hostname()) {
		return fmt.Errorf("mqtt.password would cross the network in clear to %s: use ssl:// (with ca_file) or a broker on this host", u.Host)
	}
	return nil
}

// ManifestRefusal is why update notifications cannot use manifest_url
// (a file:// manifest the operator did not allow), or nil. The firmware
// updater refuses it when notified; nothing else stops.
func (f Firmware) ManifestRefusal() error {
	if u, err := url.Parse(f.ManifestURL); err == nil && u.Scheme == "file" && !f.AllowFileURLs {
		return errors.New("firmware.manifest_url: a file:// manifest needs firmware.allow_file_urls = true; update notifications are refused until then")
	}
	return nil
}

// securityKeys are the keys a desired configuration may change only when
// an operator key signed it: whoever sets them runs code on the device,
// takes its money or its records elsewhere, pours free or stronger beer,
// or opens it to the network. Every other key (timeouts, display,
// telemetry and log settings) an unsigned document may change where
// [mqtt] accept_unsigned_config allows unsigned documents at all.
var securityKeys = append([]securityKey{
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
	// What a waiter's credit pours and what it costs: money, like a
	// line's price.
	{"pos.article", func(c *Config) any { return c.POS.Articles }},
	{"web.listen", func(c *Config) any { return c.Web.Listen }},
	{"web.cert_file", func(c *Config) any { return c.Web.CertFile }},
	{"web.key_file", func(c *Config) any { return c.Web.KeyFile }},
	{"web.users_file", func(c *Config) any { return c.Web.UsersFile }},
	{"web.metrics_token", func(c *Config) any { return c.Web.MetricsToken }},
	{"web.open_metrics_on_loopback", func(c *Config) any { return c.Web.OpenMetricsOnLoopback }},
	{"web.login_attempts", func(c *Config) any { return c.Web.LoginAttempts }},
	{"web.session_ttl", func(c *Config) any { return c.Web.SessionTTL }},
	{"control.listen", func(c *Config) any { return c.Control.Listen }},
	{"control.token", func(c *Config) any { return c.Control.Token }},
	{"control.allow", func(c *Config) any { return c.Control.Allow }},
	{"control.restart_interval", func(c *Config) any { return c.Control.RestartInterval }},
	{"ttg.url", func(c *Config) any { return c.TTG.URL }},
	{"ttg.username", func(c *Config) any { return c.TTG.Username }},
	{"ttg.password", func(c *Config) any { return c.TTG.Password }},
	// Where the sales go, as whom and as which machine; the scanner is a
	// device file like the reader's port; offline "accept" pours on
	// vouchers nobody has checked.
	{"smartnow.url", func(c *Config) any { return c.SmartNow.URL }},
	{"smartnow.username", func(c *Config) any { return c.SmartNow.Username }},
	{"smartnow.password", func(c *Config) any { return c.SmartNow.Password }},
	{"smartnow.hostname", func(c *Config) any { return c.SmartNow.Hostname }},
	{"smartnow.machine_id", func(c *Config) any { return c.SmartNow.MachineID }},
	{"smartnow.paths", func(c *Config) any { return c.SmartNow.Paths }},
	{"smartnow.scanner", func(c *Config) any { return c.SmartNow.Scanner }},
	{"smartnow.offline", func(c *Config) any { return c.SmartNow.Offline }},
	// Whose account pays for a card's beer, where its balance is read and
	// with which key, and how much an account pours unchecked offline.
	{"touchtopup.url", func(c *Config) any { return c.TouchTopUp.URL }},
	{"touchtopup.api_key", func(c *Config) any { return c.TouchTopUp.APIKey }},
	{"touchtopup.key_header", func(c *Config) any { return c.TouchTopUp.KeyHeader }},
	{"touchtopup.account", func(c *Config) any { return c.TouchTopUp.Accounts }},
	{"touchtopup.offline_allowance", func(c *Config) any { return c.TouchTopUp.OfflineAllowance }},
	{"touchtopup.balance_max_age", func(c *Config) any { return c.TouchTopUp.BalanceMaxAge }},
	// Who may read the machine's data through the Telemetron API, and
	// whether the network can reach it.
	{"telemetron.listen", func(c *Config) any { return c.Telemetron.Listen }},
	{"telemetron.tls_cert", func(c *Config) any { return c.Telemetron.TLSCert }},
	{"telemetron.tls_key", func(c *Config) any { return c.Telemetron.TLSKey }},
	{"telemetron.users", func(c *Config) any { return c.Telemetron.Users }},
	{"telemetron.clients", func(c *Config) any { return c.Telemetron.Clients }},
	{"telemetron.login_attempts", func(c *Config) any { return c.Telemetron.LoginAttempts }},
	{"telemetron.token_ttl", func(c *Config) any { return c.Telemetron.TokenTTL }},
	// Telemetron: where the machine's sales, events and reports go and as
	// whom.
	{"telemetron.url", func(c *Config) any { return c.Telemetron.URL }},
	{"telemetron.auth_url", func(c *Config) any { return c.Telemetron.AuthURL }},
	{"telemetron.client_id", func(c *Config) any { return c.Telemetron.ClientID }},
	{"telemetron.client_secret", func(c *Config) any { return c.Telemetron.ClientSecret }},
	{"telemetron.username", func(c *Config) any { return c.Telemetron.Username }},
	{"telemetron.password", func(c *Config) any { return c.Telemetron.Password }},
	{"telemetron.scope", func(c *Config) any { return c.Telemetron.Scope }},
	{"telemetron.machine_id", func(c *Config) any { return c.Telemetron.MachineID }},
	{"telemetron.paths", func(c *Config) any { return c.Telemetron.Paths }},
	// Who prices the lines, and which remote commands move valves.
	{"smartnow.prices", func(c *Config) any { return c.SmartNow.Prices }},
	{"smartnow.commands_allowed", func(c *Config) any { return c.SmartNow.CommandsAllowed }},
	// Vouchers pour beer: which line a scan arms, how much, for how long
	// and how many pours nobody has checked.
	{"smartnow.vouchers", func(c *Config) any { return c.SmartNow.Vouchers }},
	{"smartnow.scanner_line", func(c *Config) any { return c.SmartNow.ScannerLine }},
	{"smartnow.voucher_hold", func(c *Config) any { return c.SmartNow.VoucherHold }},
	{"smartnow.voucher_portion_ml", func(c *Config) any { return c.SmartNow.VoucherPortionML }},
	{"smartnow.offline_max", func(c *Config) any { return c.SmartNow.OfflineMax }},
	// Retention decides how long the audit trail and the dead letters are
	// kept: shortened, it erases the record of what was poured and sold.
	{"history.retention_days", func(c *Config) any { return c.History.RetentionDays }},
	{"history.max_bytes", func(c *Config) any { return c.History.MaxBytes }},
	{"history.dead_letter_days", func(c *Config) any { return c.History.DeadLetterDays }},
	{"history.max_dead_letters", func(c *Config) any { return c.History.MaxDeadLetters }},
	{"history.pos_days", func(c *Config) any { return c.History.POSDays }},
	{"cards.picc_key", func(c *Config) any { return c.Cards.PICCKey }},
	{"cards.issuer_key", func(c *Config) any { return c.Cards.IssuerKey }},
	{"cards.tap_key", func(c *Config) any { return c.Cards.TapKey }},
	{"cards.charger_key", func(c *Config) any { return c.Cards.ChargerKey }},
	// The device files the agent opens: pointed elsewhere, the agent
	// talks to another device (a serial port an attacker's adapter is on,
	// a tty that is a console) or none, and the wall stops selling.
	{"reader.port", func(c *Config) any { return c.Reader.Port }},
	{"reader.i2c", func(c *Config) any { return c.Reader.I2C }},
	{"reader.i2c_addr", func(c *Config) any { return c.Reader.I2CAddr }},
	{"mdb.port", func(c *Config) any { return c.MDB.Port }},
	{"mdb.transport", func(c *Config) any { return c.MDB.Transport }},
	{"exe.port", func(c *Config) any { return c.EXE.Port }},
	{"dex.port", func(c *Config) any { return c.DEX.Port }},
	// The command rate limit is the flood bound of the MQTT link.
	{"mqtt.rate_limit", func(c *Config) any { return c.MQTT.RateLimit }},
	// Money: what a sale costs and in what unit, and whose card pays.
	{"device.currency", func(c *Config) any { return c.Device.Currency }},
	{"device.decimals", func(c *Config) any { return c.Device.Decimals }},
	{"mdb.device", func(c *Config) any { return c.MDB.Device }},
	{"mdb.lines", func(c *Config) any { return c.MDB.Lines }},
	{"mdb.portion_ml", func(c *Config) any { return c.MDB.PortionML }},
	{"mdb.billing", func(c *Config) any { return c.MDB.Billing }},
	{"exe.item", func(c *Config) any { return c.EXE.Items }},
	{"cards.aid", func(c *Config) any { return c.Cards.AID }},
	{"cards.diversify", func(c *Config) any { return c.Cards.Diversify }},
	{"cards.system_id", func(c *Config) any { return c.Cards.SystemID }},
	{"cards.uid_order", func(c *Config) any { return c.Cards.UIDOrder }},
	{"audit.reset_on_read", func(c *Config) any { return c.Audit.ResetOnRead }},
	// Whose records these are: sales booked to another location or
	// another accounting day, audit data filed under another machine.
	{"device.location_id", func(c *Config) any { return c.Device.LocationID }},
	{"ttg.time_zone", func(c *Config) any { return c.TTG.TimeZone }},
	{"audit.comm_id", func(c *Config) any { return c.Audit.CommID }},
	{"audit.serial", func(c *Config) any { return c.Audit.Serial }},
	{"audit.asset", func(c *Config) any { return c.Audit.Asset }},
	{"audit.currency_num", func(c *Config) any { return c.Audit.CurrencyNum }},
	// Age: who may pour alcohol.
	{"ttg.online_card_alcohol", func(c *Config) any { return c.TTG.OnlineCardAlcohol }},
}, lineKeys()...)

// securityKey is one security-critical key and how to read it.
type securityKey struct {
	key string
	get func(*Config) any
}

// harmlessLineKeys are the [[line]] keys an unsigned document may change:
// how long the wall waits and what it shows. Every other line key (price,
// PLU, metering, caps, refills, non_alcoholic, and any key added later)
// changes money, beer or age rules and is security-critical.
var harmlessLineKeys = []string{"product", "auth_timeout", "idle_timeout", "no_flow_timeout", "keg_size_l", "keg_low_percent"}

// lineKeys are the security-critical [[line]] keys, each compared over
// every line by id.
func lineKeys() []securityKey {
	var keys []securityKey
	t := reflect.TypeFor[Line]()
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" || tag == "id" || slices.Contains(harmlessLineKeys, tag) {
			continue
		}
		keys = append(keys, securityKey{"line." + tag, func(c *Config) any {
			byID := make(map[int]any, len(c.Lines))
			for _, l := range c.Lines {
				byID[l.ID] = reflect.ValueOf(l).Field(i).Interface()
			}
			return byID
		}})
	}
	return keys
}

// localOnlyKeys are set by editing the configuration file on the device
// and never over MQTT, not even by a signed document: the operator keys
// decide who signs, so a stolen operator key must not be able to add
// another or remove the rightful ones.
var localOnlyKeys = []string{"mqtt.operator_keys"}

// LocalOnlyChanges names the keys a proposed configuration changes that
// only the local file may change (see localOnlyKeys).
func LocalOnlyChanges(running, proposed *Config) []string {
	var changed []string
	for _, k := range SecurityChanges(running, proposed) {
		if slices.Contains(localOnlyKeys, k) {
			changed = append(changed, k)
		}
	}
	return changed
}

// safeKeys are the [pos] and [control] keys a desired configuration may
// change unsigned, each with the reason; a test fails for a key of those
// sections that is in neither list, so a new listener setting is decided on.
var safeKeys = map[string]string{}

// SecurityChanges names the security-critical keys whose values differ
// between the running configuration and a proposed one, in a fixed order.
// A line added or removed is named once, as "line", not as every line key.
func SecurityChanges(running, proposed *Config) []string {
	var changed []string
	lines := !reflect.DeepEqual(lineIDs(running), lineIDs(proposed))
	if lines {
		changed = append(changed, "line")
	}
	for _, k := range securityKeys {
		if lines && strings.HasPrefix(k.key, "line.") {
			continue
		}
		if !reflect.DeepEqual(normalise(k.get(running)), normalise(k.get(proposed))) {
			changed = append(changed, k.key)
		}
	}
	return changed
}

func lineIDs(c *Config) []int {
	ids := make([]int, 0, len(c.Lines))
	for _, l := range c.Lines {
		ids = append(ids, l.ID)
	}
	slices.Sort(ids)
	return ids
}

// normalise makes an empty list and a missing one the same value.
func normalise(v any) any {
	if s, ok := v.([]string); ok && len(s) == 0 {
		return []string(nil)
	}
	return v
}

// Redacted is the configuration with every secret replaced by "(set)",
// for the snapshots the agent shows or sends (a Telemetron config
// request). A new secret key is added here.
func (c *Config) Redacted() Config {
	r := *c
	for _, s := range []*string{&r.TTG.Password, &r.POS.APIKey, &r.Control.Token, &r.MQTT.Password,
		&r.Cards.PICCKey, &r.Cards.IssuerKey, &r.Cards.TapKey, &r.Cards.ChargerKey, &r.SmartNow.Password,
		&r.Web.MetricsToken, &r.Telemetron.ClientSecret, &r.Telemetron.Password, &r.TouchTopUp.APIKey} {
		if *s != "" {
			*s = "(set)"
		}
	}
	r.Telemetron.Clients = nil
	for _, cl := range c.Telemetron.Clients {
		r.Telemetron.Clients = append(r.Telemetron.Clients, TelemetronClient{ID: cl.ID, Secret: "(set)"})
	}
	// A link key lets whoever holds it link the customer's account.
	r.TouchTopUp.Accounts = append([]TouchTopUpAccount(nil), c.TouchTopUp.Accounts...)
	for i := range r.TouchTopUp.Accounts {
		if r.TouchTopUp.Accounts[i].LinkKey != "" {
			r.TouchTopUp.Accounts[i].LinkKey = "(set)"
		}
	}
	r.Lines = append([]Line(nil), c.Lines...)
	return r
}
