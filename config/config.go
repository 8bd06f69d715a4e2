// Package config reads tapagent's TOML configuration: strict (unknown keys
// are errors), validated with messages that name the key, and layered on
// built-in defaults so a file only says what differs.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/flow"
)

//go:embed sim.toml
var simTOML []byte

// Duration is a duration written as text ("250ms") in the file.
type Duration = clock.Duration

var dur = clock.D

// Config is the whole agent configuration.
type Config struct {
	Device   Device   `toml:"device"`
	Storage  Storage  `toml:"storage"`
	Log      Log      `toml:"log"`
	Board    Board    `toml:"board"`
	TTG      TTG      `toml:"ttg"`
	POS      POS      `toml:"pos"`
	Control  Control  `toml:"control"`
	Audit    Audit    `toml:"audit"`
	DEX      DEX      `toml:"dex"`
	MQTT     MQTT     `toml:"mqtt"`
	Firmware Firmware `toml:"firmware"`
	Reader   Reader   `toml:"reader"`
	Cards    Cards    `toml:"cards"`
	MDB      MDB      `toml:"mdb"`
	EXE      EXE      `toml:"exe"`
	SmartNow SmartNow `toml:"smartnow"`
	Web      Web      `toml:"web"`
	Defaults Line     `toml:"defaults"`
	Lines    []Line   `toml:"-"`
	Sim      Sim      `toml:"sim"`
	History  History  `toml:"history"`

	// TouchTopUp: customer accounts as a payment source (config/touchtopup.go).
	TouchTopUp TouchTopUp `toml:"touchtopup"`
	// Telemetron is the [telemetron] section (config/telemetron.go).
	Telemetron Telemetron `toml:"telemetron"`
}

// Device identifies the controller.
type Device struct {
	ID         int64  `toml:"device_id"`
	LocationID int64  `toml:"location_id"`
	Name       string `toml:"name"`
	DataDir    string `toml:"data_dir"`
	Currency   string `toml:"currency"`
	// Decimals is the number of minor-unit digits of the currency.
	Decimals int `toml:"decimals"`
	// Tick is how often timers are evaluated.
	Tick Duration `toml:"tick"`
}

// Storage tunes the database.
type Storage struct {
	OpenTimeout        Duration `toml:"open_timeout"`
	CheckpointInterval Duration `toml:"checkpoint_interval"`
	MaxEvents          int      `toml:"max_events"`
}

// Log configures log/slog.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text, json
}

// Board selects the hardware profile for `tapagent run`.
type Board struct {
	// Profile is a built-in profile name or a path to a profile file.
	Profile string `toml:"profile"`
}

// MQTT is the diagnostics link.
type MQTT struct {
	// Broker is tcp://host:1883 or ssl://host:8883; empty turns MQTT off.
	Broker   string `toml:"broker"`
	Prefix   string `toml:"prefix"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Telemetry is how often telemetry is published; 0 turns it off.
	Telemetry Duration `toml:"telemetry"`
	RateLimit int      `toml:"rate_limit"`
	// OperatorKeys are the Ed25519 public keys (base64) whose signatures
	// authorise the commands that change money, beer, the valves,
	// calibration, configuration or the software, and desired
	// configurations that touch security-critical keys. Set only in the
	// local file: no desired configuration changes them, signed or not.
	OperatorKeys []string `toml:"operator_keys"`
	// AcceptUnsignedConfig lets an unsigned config/desired document change
	// the keys that are not security-critical (timeouts, display, log and
	// telemetry settings; never prices, metering, caps or age rules); off
	// (the default), only signed documents are taken.
	AcceptUnsignedConfig bool `toml:"accept_unsigned_config"`
	// HomeAssistant publishes Home Assistant MQTT discovery documents
	// (retained, under homeassistant/) and each line's state, so that a
	// venue's Home Assistant shows keg level, line state and last pour.
	HomeAssistant bool `toml:"homeassistant"`
}

// Firmware is how `firmware.update` hands over to the installer.
type Firmware struct {
	// Installer is the command (program and arguments, no shell) that
	// fetches, checks and installs a release; empty turns updates off. It
	// gets TAPAGENT_FIRMWARE_URL, _SHA256 and _VERSION in its environment.
	Installer []string `toml:"installer"`
	// DrainTimeout bounds the wait for running pours to finish.
	DrainTimeout Duration `toml:"drain_timeout"`
	// FlushTimeout bounds the wait for the outbox to reach the server.
	FlushTimeout Duration `toml:"flush_timeout"`
	// InstallTimeout bounds the installer's run.
	InstallTimeout Duration `toml:"install_timeout"`
	// ManifestURL is where the release manifest is, for update
	// notifications that name no release (the TTG firmwareupdate call).
	ManifestURL string `toml:"manifest_url"`
	// PublicKey is the release key (Ed25519, base64): when set, only
	// releases signed with it are installed.
	PublicKey string `toml:"public_key"`
	// AllowFileURLs lets firmware.update and the manifest name a file://
	// release on the controller itself; off, only http(s) releases.
	AllowFileURLs bool `toml:"allow_file_urls"`
}

// Reader is the PN532 card reader: on a serial port (HSU, 115200 8N1) or
// an I2C bus. Neither set means the wall has no card reader.
type Reader struct {
	Port    string `toml:"port"`
	I2C     string `toml:"i2c"`
	I2CAddr int    `toml:"i2c_addr"`
	// Lines are the tap lines this reader serves (one reader may serve
	// two lines); empty means every line.
	Lines []int `toml:"lines"`
}

// MDB is a cashless card terminal on the MDB bus. The wall is the vending
// machine controller; a tap sells fixed portions, priced before the pour
// (MDB portion mode). No port means no terminal.
type MDB struct {
	// Port is the serial device of the MDB adapter or UART.
	Port string `toml:"port"`
	// Transport is "qibixx" (Qibixx MDB-USB or MDB Pi HAT in master mode)
	// or "uart" (the board's own UART with 9-bit emulation).
	Transport string `toml:"transport"`
	// Device is cashless device 1 (address 10H) or 2 (60H).
	Device int `toml:"device"`
	// Lines are the lines the terminal sells; with one (and no [exe]
	// items), a card at the terminal pours on it at once, otherwise a
	// selection picks the line or the EXE machine's item.
	Lines []int `toml:"lines"`
	// PortionML is the portion sold, priced like a free pour of that size.
	PortionML float64 `toml:"portion_ml"`
	// Billing is "pre" (TTG card type 61, the terminal charges the card)
	// or "bill" (62, the terminal books the sale to an account billed later).
	Billing string `toml:"billing"`
	// Level is the VMC feature level announced (1, 2 or 3).
	Level int `toml:"level"`
	// Poll is the pause between POLLs (MDB: 125-200 ms is usual).
	Poll Duration `toml:"poll"`
	// VendTimeout bounds the wait for VEND APPROVED/DENIED (an online
	// authorisation takes seconds); the request is then cancelled.
	VendTimeout Duration `toml:"vend_timeout"`
	// SelectTimeout ends a session nobody picked a line in.
	SelectTimeout Duration `toml:"select_timeout"`
}

// EXE is a vending machine that speaks the executive protocol, reached
// through a serial bridge (9600 8N1, one byte each way): the agent is its
// payment side and the MDB card terminal ([mdb]) pays for its selections.
// No port means no machine (the simulator runs one when items are set).
type EXE struct {
	Port string `toml:"port"`
	// Poll is the pause between sale cycles (STATUS, CREDIT).
	Poll Duration `toml:"poll"`
	// Response bounds the machine's answer to STATUS and CREDIT;
	// VendTimeout the longest a dispense may take.
	Response    Duration `toml:"response"`
	VendTimeout Duration `toml:"vend_timeout"`
	// Items are the selections sold and their prices (the machine holds
	// no prices of its own: price-holding on the payment side).
	Items []EXEItem `toml:"item"`
}

// EXEItem is one selection of an EXE machine.
type EXEItem struct {
	Selection int    `toml:"selection"` // 0-253, the byte the machine reports
	Product   string `toml:"product"`
	PLU       int    `toml:"plu"`   // the server's product; every sale needs one
	Price     int64  `toml:"price"` // minor units
}

// Cards are the keys and layout of tapagent's DESFire application
// (nfc/cardapp). Keys are hex: 16 digits for a DES PICC key, 32 for AES.
// A tap needs tap_key; a charger charger_key; `tapagent card issue` all.
type Cards struct {
	AID        int    `toml:"aid"`
	PICCKey    string `toml:"picc_key"`
	IssuerKey  string `toml:"issuer_key"`
	TapKey     string `toml:"tap_key"`
	ChargerKey string `toml:"charger_key"`
	// Diversify derives every card's own keys from these (AN10922).
	Diversify bool   `toml:"diversify"`
	SystemID  string `toml:"system_id"`
	// UIDOrder is how a UID becomes the decimal card id TTG knows:
	// "big-endian" (default) or "little-endian".
	UIDOrder string `toml:"uid_order"`
	// ISOWrap sends DESFire commands as ISO 7816-4 APDUs (CLA 90) instead
	// of native frames, for readers or cards that want them.
	ISOWrap bool `toml:"iso_wrap"`
}

// DEX is the machine's DEX/UCS port, where handhelds and telemetry modems
// read the audit.
type DEX struct {
	// Port is the serial device (9600 8N1); empty turns the port off.
	Port string `toml:"port"`
}

// Audit is the machine's EVA-DTS identity and read policy.
type Audit struct {
	// CommID is DXS01: 3-letter manufacturer code + 7 digits; default TAP + device id.
	CommID   string `toml:"comm_id"`
	Serial   string `toml:"serial"`
	Model    string `toml:"model"`
	Location string `toml:"location"`
	Asset    string `toml:"asset"`
	// CurrencyNum is ID402 (ISO 4217 with a leading 1: 1978 EUR, 1840 USD).
	CurrencyNum string `toml:"currency_num"`
	// Charset of text: "ascii" (standard ^HH^ escapes) or "cp1251".
	Charset string `toml:"charset"`
	// ResetOnRead: "interim" (reads leave the interval counters) or "full".
	ResetOnRead string `toml:"reset_on_read"`
}

// Control is the device's client-control listener, the calls a TTG server
// forwards to a tap client (remote login, status, backlight, restart).
type Control struct {
	// Listen is the address; empty turns it off. Anything but loopback
	// needs Token or Allow.
	Listen string `toml:"listen"`
	// Token is the shared secret callers send as "Authorization: Bearer TOKEN".
	Token string `toml:"token"`
	// Allow lists the addresses or networks (the TTG server) that may call.
	// With Token as well, a caller needs both.
	Allow []string `toml:"allow"`
	// RestartInterval is the least time between two accepted
	// restartClientApplication calls, counted from the agent's start too.
	RestartInterval Duration `toml:"restart_interval"`
}

// POS is the cash-register interface (Dirmeier cash interface 1.0).
type POS struct {
	// Listen is the address to serve /cash/1.0 on; empty turns it off.
	Listen string `toml:"listen"`
	// APIKey, when set, must come as X-API-Key or Authorization: Bearer.
	// Required when Listen is anything but loopback.
	APIKey string `toml:"api_key"`
	// Articles are what a waiter's credit for a PLU pours.
	Articles []Article `toml:"article"`
}

// Article maps a register PLU to a line portion.
type Article struct {
	PLU       int     `toml:"plu"`
	Name      string  `toml:"name"`
	PortionML float64 `toml:"portion_ml"`
	Price     int64   `toml:"price"`
}

// TTG is the link to a Table Tap Go compatible server.
type TTG struct {
	// URL of the server, e.g. http://192.168.0.13:8585. Empty: no server for
	// `tapagent run`; `tapagent sim` then starts its embedded emulator.
	URL        string `toml:"url"`
	Username   string `toml:"username"`
	Password   string `toml:"password"`
	ClientName string `toml:"client_name"`
	// Refresh re-reads the configuration; StampPoll checks whether it changed.
	Refresh   Duration `toml:"refresh"`
	StampPoll Duration `toml:"stamp_poll"`
	Timeout   Duration `toml:"timeout"`
	// Batch is how many transactions one upload carries.
	Batch int `toml:"batch"`
	// TimeZone of the timestamps on the wire ("Local", "UTC", "Europe/Berlin").
	TimeZone string `toml:"time_zone"`
	// OnlineCardAlcohol is whether an online card may pour alcohol when the
	// server's cardinfo reply does not say (3.40 has no such field): "allow"
	// (default) or "refuse". A reply carrying alcohol_allowed always wins.
	OnlineCardAlcohol string `toml:"online_card_alcohol"`
}

// Location resolves the configured time zone.
func (t TTG) Location() (*time.Location, error) {
	if t.TimeZone == "" || t.TimeZone == "Local" {
		return time.Local, nil
	}
	return time.LoadLocation(t.TimeZone)
}

// Line is one tap line's configuration; omitted keys come from [defaults].
type Line struct {
	ID      int    `toml:"id"`
	Product string `toml:"product"`
	PLU     int    `toml:"plu"`
	// NonAlcoholic marks a line that under-age cards may use when the
	// server has no product data.
	NonAlcoholic bool `toml:"non_alcoholic"`
	// KFactor is pulses per litre.
	KFactor float64 `toml:"k_factor"`
	// Correction is [[rate_hz, factor], ...], sorted by rate.
	Correction [][2]float64 `toml:"correction"`
	// Price minor units per PricePerML millilitres (e.g. 650 per 500).
	Price         int64    `toml:"price"`
	PricePerML    float64  `toml:"price_per_ml"`
	Lockout       Duration `toml:"lockout"`
	RefillWindow  Duration `toml:"refill_window"`
	RefillMaxML   float64  `toml:"refill_max_ml"`
	AuthTimeout   Duration `toml:"auth_timeout"`
	IdleTimeout   Duration `toml:"idle_timeout"`
	NoFlowTimeout Duration `toml:"no_flow_timeout"`
	MaxDuration   Duration `toml:"max_duration"`
	SettleTime    Duration `toml:"settle_time"`
	MinPourML     float64  `toml:"min_pour_ml"`
	SafetyCapML   float64  `toml:"safety_cap_ml"`
	FoamRateHz    float64  `toml:"foam_rate_hz"`
	FoamBuckets   int      `toml:"foam_buckets"`
	LeakAlarmML   float64  `toml:"leak_alarm_ml"`
	LeakIdle      Duration `toml:"leak_idle"`
	ValveLatency  Duration `toml:"valve_latency"`
	Predictive    bool     `toml:"predictive"`
	KegSizeL      float64  `toml:"keg_size_l"`
	KegLowPercent int64    `toml:"keg_low_percent"`
}

// Sim describes the simulated board used by `tapagent sim`.
type Sim struct {
	// Speed is virtual seconds per real second; 0 runs as fast as possible.
	Speed float64   `toml:"speed"`
	Lines []SimLine `toml:"line"`
}

// SimLine is the physics of a simulated line.
type SimLine struct {
	ID              int      `toml:"id"`
	KTrue           float64  `toml:"k_true"`
	Jitter          float64  `toml:"jitter"`
	BounceProb      float64  `toml:"bounce_prob"`
	BounceMax       Duration `toml:"bounce_max"`
	Debounce        Duration `toml:"debounce"`
	LossProb        float64  `toml:"loss_prob"`
	AirBurstsPerMin float64  `toml:"air_bursts_per_min"`
	OpenLatency     Duration `toml:"open_latency"`
	CloseLatency    Duration `toml:"close_latency"`
	RefillML        float64  `toml:"refill_ml"`
	KegL            float64  `toml:"keg_l"`
	SputterML       float64  `toml:"sputter_ml"`
	Seed            uint64   `toml:"seed"`
}

// Base is the configuration before any file: sane rules for a tap line,
// no lines, no simulated board.
func Base() Config {
	return Config{
		Device:  Device{ID: 1, DataDir: "./data", Currency: "EUR", Decimals: 2, Tick: dur(10 * time.Millisecond)},
		Storage: Storage{OpenTimeout: dur(5 * time.Second), CheckpointInterval: dur(250 * time.Millisecond), MaxEvents: 10000},
		Log:     Log{Level: "info", Format: "text"},
		Board:   Board{Profile: "rpi4"},
		Cards:   Cards{AID: 0x7A7001, PICCKey: "0000000000000000", UIDOrder: "big-endian", SystemID: "tapagent"},
		EXE:     EXE{Poll: dur(200 * time.Millisecond), Response: dur(100 * time.Millisecond), VendTimeout: dur(60 * time.Second)},
		MDB: MDB{Transport: "qibixx", Device: 1, PortionML: 300, Billing: "pre", Level: 3, Poll: dur(150 * time.Millisecond),
			VendTimeout: dur(60 * time.Second), SelectTimeout: dur(60 * time.Second)},
		MQTT: MQTT{Prefix: "tapagent", Telemetry: dur(30 * time.Second), RateLimit: 20},
		Firmware: Firmware{DrainTimeout: dur(5 * time.Minute), FlushTimeout: dur(2 * time.Minute),
			InstallTimeout: dur(10 * time.Minute)},
		Audit: Audit{Model: "tapagent self-pour", CurrencyNum: "1978", Charset: "ascii", ResetOnRead: "interim"},
		TTG: TTG{Username: "tapagent", Password: "tapagent", ClientName: "tapagent", Refresh: dur(5 * time.Minute),
			StampPoll: dur(30 * time.Second), Timeout: dur(10 * time.Second), Batch: 100, TimeZone: "Local", OnlineCardAlcohol: "allow"},
		Control:  Control{RestartInterval: dur(5 * time.Minute)},
		SmartNow: defaultSmartNow(),
		History:  defaultHistory(),
		Web:      webDefaults(),
		Defaults: Line{
			KFactor: 5400, Price: 650, PricePerML: 500,
			Lockout: dur(300 * time.Microsecond), RefillWindow: dur(500 * time.Millisecond), RefillMaxML: 3,
			AuthTimeout: dur(30 * time.Second), IdleTimeout: dur(3 * time.Second), NoFlowTimeout: dur(3 * time.Second),
			MaxDuration: dur(90 * time.Second), SettleTime: dur(300 * time.Millisecond),
			MinPourML: 10, SafetyCapML: 1500, FoamRateHz: 600, FoamBuckets: 3,
			LeakAlarmML: 20, LeakIdle: dur(5 * time.Second), ValveLatency: dur(30 * time.Millisecond),
			Predictive: true, KegSizeL: 50, KegLowPercent: 15,
		},
		TouchTopUp: defaultTouchTopUp(),
		Telemetron: defaultTelemetron(),
	}
}

// Default is the embedded configuration of `tapagent sim`: a four-line tap
// wall on simulated hardware.
func Default() (*Config, error) { return Parse(simTOML) }

// Load reads a file layered on Base.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes TOML layered on Base, rejects unknown keys and validates.
func Parse(b []byte) (*Config, error) {
	c := Base()
	var shape struct {
		Device   toml.Primitive   `toml:"device"`
		POS      toml.Primitive   `toml:"pos"`
		Control  toml.Primitive   `toml:"control"`
		Audit    toml.Primitive   `toml:"audit"`
		DEX      toml.Primitive   `toml:"dex"`
		MQTT     toml.Primitive   `toml:"mqtt"`
		Firmware toml.Primitive   `toml:"firmware"`
		Reader   toml.Primitive   `toml:"reader"`
		Cards    toml.Primitive   `toml:"cards"`
		MDB      toml.Primitive   `toml:"mdb"`
		EXE      toml.Primitive   `toml:"exe"`
		SmartNow toml.Primitive   `toml:"smartnow"`
		Web      toml.Primitive   `toml:"web"`
		TTG      toml.Primitive   `toml:"ttg"`
		Storage  toml.Primitive   `toml:"storage"`
		Log      toml.Primitive   `toml:"log"`
		Board    toml.Primitive   `toml:"board"`
		Defaults toml.Primitive   `toml:"defaults"`
		Lines    []toml.Primitive `toml:"line"`
		Sim      toml.Primitive   `toml:"sim"`
		History  toml.Primitive   `toml:"history"`

		TouchTopUp toml.Primitive `toml:"touchtopup"`
		Telemetron toml.Primitive `toml:"telemetron"`
	}
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&shape)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	parts := []struct {
		p   toml.Primitive
		dst any
	}{{shape.Device, &c.Device}, {shape.TTG, &c.TTG}, {shape.POS, &c.POS}, {shape.Control, &c.Control}, {shape.Audit, &c.Audit}, {shape.DEX, &c.DEX}, {shape.MQTT, &c.MQTT}, {shape.Firmware, &c.Firmware}, {shape.Reader, &c.Reader}, {shape.Cards, &c.Cards}, {shape.MDB, &c.MDB}, {shape.EXE, &c.EXE}, {shape.SmartNow, &c.SmartNow}, {shape.Telemetron, &c.Telemetron}, {shape.Storage, &c.Storage}, {shape.Log, &c.Log},
		{shape.Board, &c.Board}, {shape.Defaults, &c.Defaults}, {shape.Sim, &c.Sim}, {shape.History, &c.History}, {shape.Web, &c.Web},
		{shape.TouchTopUp, &c.TouchTopUp}}
	for _, p := range parts {
		if err := md.PrimitiveDecode(p.p, p.dst); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	for i, p := range shape.Lines {
		l := c.Defaults
		l.ID = 0
		if err := md.PrimitiveDecode(p, &l); err != nil {
			return nil, fmt.Errorf("config: line[%d]: %w", i, err)
		}
		c.Lines = append(c.Lines, l)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("config: unknown key %q", und[0].String())
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// bad records one problem, naming its key; every section's validate
// takes it, so Validate reports all problems of a file at once.
type badFunc = func(key, format string, a ...any)

// Validate checks the whole configuration; each problem names its key, and
// all of them are reported together. Each section checks itself (its
// validate method, in config/<section>.go); a new section adds one line.
func (c *Config) Validate() error {
	var errs []error
	report := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, a...)))
	}
	lines := c.lineIDs()
	c.Device.validate(report)
	c.Storage.validate(report)
	c.History.validate(report)
	c.Log.validate(report)
	c.validateLines(report)
	c.TTG.validate(report)
	c.POS.validate(report, c.LineForPLU)
	c.MQTT.validate(report)
	c.Firmware.validate(report)
	c.Reader.validate(report, lines)
	c.MDB.validate(report, lines)
	c.EXE.validate(report)
	c.validateListeners(report)
	c.Web.validate(report)
	c.validateAddressClash(report)
	c.validateSecurity(report)
	c.TouchTopUp.validate(report, c.POS.Listen != "")
	c.Telemetron.validate(report)
	c.SmartNow.validate(report, c.TTG.URL)
	c.SmartNow.validateVouchers(report, lines)
	c.Telemetron.validateAPI(report)
	c.Cards.validate(report)
	c.Audit.validate(report)
	c.Sim.validate(report, lines)
	return errors.Join(errs...)
}

// LineForPLU returns the line that pours plu.
func (c *Config) LineForPLU(plu int) (Line, bool) {
	for _, l := range c.Lines {
		if l.PLU == plu {
			return l, true
		}
	}
	return Line{}, false
}

// Line returns the configuration of line id.
func (c *Config) Line(id int) (Line, bool) {
	for _, l := range c.Lines {
		if l.ID == id {
			return l, true
		}
	}
	return Line{}, false
}

func ml10(ml float64) flow.Vol { return flow.Vol(math.Round(ml * 10)) }

// KMilli is the K-factor in pulses per litre ×1000.
func (l Line) KMilli() int64 { return int64(math.Round(l.KFactor * 1000)) }

// UnitPrice is the line's free-pour price.
func (l Line) UnitPrice() flow.Price { return flow.Price{Minor: l.Price, PerVol: ml10(l.PricePerML)} }

// KegSize is the configured keg volume.
func (l Line) KegSize() flow.Vol { return ml10(l.KegSizeL * 1000) }

// FlowConfig converts the line to the metering and pour rules.
func (l Line) FlowConfig() flow.LineConfig {
	corr := make([]flow.CorrectionPoint, 0, len(l.Correction))
	for _, p := range l.Correction {
		corr = append(corr, flow.CorrectionPoint{RateMilliHz: int64(math.Round(p[0] * 1000)), FactorPPM: int64(math.Round(p[1] * 1e6))})
	}
	return flow.LineConfig{
		Meter:        flow.MeterConfig{KMilli: l.KMilli(), Correction: corr, Lockout: l.Lockout.Duration},
		RefillWindow: l.RefillWindow.Duration, RefillMax: ml10(l.RefillMaxML),
		AuthTimeout: l.AuthTimeout.Duration, IdleTimeout: l.IdleTimeout.Duration,
		NoFlowTimeout: l.NoFlowTimeout.Duration, MaxDuration: l.MaxDuration.Duration,
		SettleTime: l.SettleTime.Duration, MinPour: ml10(l.MinPourML), SafetyCap: ml10(l.SafetyCapML),
		FoamRateMilliHz: int64(math.Round(l.FoamRateHz * 1000)), FoamBuckets: l.FoamBuckets,
		LeakAlarm: ml10(l.LeakAlarmML), LeakIdle: l.LeakIdle.Duration,
		ValveLatency: l.ValveLatency.Duration, Predictive: l.Predictive,
	}
}
