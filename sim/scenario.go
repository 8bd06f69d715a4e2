package sim

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tapagent/tapagent/clock"
)

//go:embed scenarios/*.toml
var builtinScenarios embed.FS

// Scenario is a timed script for a bench run: what customers, staff and the
// hardware do, second by second.
type Scenario struct {
	Name     string   `toml:"name"`
	Duration Duration `toml:"duration"`
	// Clouds are the cloud emulators the scenario plays against
	// ("smartnow", "telemetron", "touchtopup"): tapagent sim starts them as
	// its --smartnow, --telemetron and --touchtopup flags do.
	Clouds []string `toml:"clouds"`
	Steps  []Step   `toml:"step"`
}

// Clouds are the cloud emulators a scenario may name.
var Clouds = []string{"smartnow", "telemetron", "touchtopup"}

// Duration is a duration written as text ("1.5s") in a scenario.
type Duration = clock.Duration

// Step is one action at a point in time. Which fields apply depends on Action.
type Step struct {
	At     Duration `toml:"at"`
	Line   int      `toml:"line"`
	Action string   `toml:"action"`
	// authorise
	Mode        string  `toml:"mode"` // free (default), portion, cleaning
	CapML       float64 `toml:"cap_ml"`
	CapMoney    int64   `toml:"cap_money"`
	Price       int64   `toml:"price"`
	PricePerML  float64 `toml:"price_per_ml"`
	PortionML   float64 `toml:"portion_ml"`
	PortionCost int64   `toml:"portion_price"`
	// ItemID selects a portion item from the TTG server's catalog.
	ItemID string `toml:"item_id"`
	// pour, leak
	FlowMLs  float64      `toml:"flow_ml_s"`
	Ramp     Duration     `toml:"ramp"`
	For      Duration     `toml:"duration"`
	Profile  [][2]float64 `toml:"profile"` // [[seconds, mL/s], ...]
	RateMLs  float64      `toml:"rate_ml_s"`
	KegML    float64      `toml:"remaining_ml"`
	KegSizeL float64      `toml:"size_l"`
	// card, account
	CardID int64 `toml:"card_id"`
	// account: a TouchTopUp account number (instead of card_id)
	Account string `toml:"account"`
	// present: a card of the simulated deck (guest, minor, empty, tab, cleaner, manager)
	Card string `toml:"card"`
	// terminal: the payment card's funds in minor units (0: unknown)
	Funds int64 `toml:"funds"`
	// vend: the EXE machine's selection
	Selection int `toml:"selection"`
	// credit, waiter
	Waiter int64 `toml:"waiter"`
	PLU    int   `toml:"plu"`
	Count  int64 `toml:"count"`
	Table  int64 `toml:"table"`
	// credit: Form is how the register sends it, both allowed by the cash
	// interface: "post-put" (default: an empty POST, then PUT the content)
	// or "post" (one POST carrying the register's own ID). Replay re-sends
	// the call that carries the content that many times, as a register
	// does when it loses the answers; at once, or ReplayAfter later (after
	// pours from the credit, say: a late retry must not grant again).
	Form        string   `toml:"form"`
	Replay      int      `toml:"replay"`
	ReplayAfter Duration `toml:"replay_after"`
	// telemetron_request: what the operator asks of the machine, "report"
	// or "config".
	Request string `toml:"request"`
	// smartnow_command: the command SmartNow queues and its integer params
	Command string  `toml:"command"`
	Params  []int64 `toml:"params"`
	// voucher: the SmartNow voucher code scanned at the line; Via
	// "scanner" types it on the simulated QR scanner (the line must be
	// [smartnow] scanner_line) ending with Terminator (cr, crlf, lf)
	Code       string `toml:"code"`
	Via        string `toml:"via"`
	Terminator string `toml:"terminator"`
	// ResendOf is set by ParseScenario on the step that sends a credit's
	// delayed replays: the credit step they repeat.
	ResendOf *Step `toml:"-"`
}

// Actions a step may take.
var Actions = map[string]string{
	"authorise":      "open the line for a pour (mode, cap_ml, cap_money, price, price_per_ml, portion_ml, portion_price, item_id)",
	"pour":           "customer pulls the handle (flow_ml_s with ramp and duration, or profile)",
	"release_handle": "customer lets go of the handle",
	"stop":           "stop the pour (card removed, stop button)",
	"leak":           "flow through the meter with the valve closed (rate_ml_s, duration)",
	"empty_keg":      "leave remaining_ml (default 100) in the keg, so it sputters and runs dry",
	"change_keg":     "connect a fresh keg of size_l litres (default: the line's keg size)",
	"card":           "present an online card (card_id) at the line: server lookup, pour within its credit",
	"present":        "put a DESFire card of the deck on the reader (card: guest, minor, empty, tab, cleaner, manager)",
	"take":           "take the card off the reader",
	"terminal":       "a payment card at the MDB card terminal (funds in minor units, 0 or absent: unknown)",
	"select":         "pick the line at the MDB card terminal (a terminal selling more than one line)",
	"vend":           "press a selection (selection) on the EXE vending machine paid at the MDB card terminal",
	"credit":         "the cash register posts a credit (waiter, plu, count; negative count cancels; table; form post-put or post; replay N, at once or replay_after later)",
	"waiter":         "a waiter's staff card at the line (waiter): pours one credited portion",
	"account":        "a card (card_id) or account number (account) mapped to a TouchTopUp account at the line: pour within its balance",
	"voucher":        "scan a SmartNow voucher (code) at the line: validated, then poured or armed for the terminal (tapagent sim --smartnow)",
	"lock":           "take the line out of service",
	"unlock":         "return the line to service",

	"telemetron_request": "the operator asks the machine for data through Telemetron (request: report or config; needs --telemetron)",
	// SmartNow's side (tapagent sim --smartnow).
	"smartnow_command": "SmartNow queues a command for the machine (command, params: integers), fetched at the agent's next command poll (needs --smartnow)",
}

// BuiltinScenarios names the scenarios LoadScenario knows without a file.
func BuiltinScenarios() []string {
	ents, _ := builtinScenarios.ReadDir("scenarios")
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".toml"))
	}
	return names
}

// LoadScenario reads a built-in scenario by name ("demo") or a file.
func LoadScenario(nameOrPath string) (*Scenario, error) {
	if b, err := builtinScenarios.ReadFile("scenarios/" + nameOrPath + ".toml"); err == nil {
		return ParseScenario(b)
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("scenario %q: no built-in scenario (%s) and no such file", nameOrPath, strings.Join(BuiltinScenarios(), ", "))
		}
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOrPath, err)
	}
	return s, nil
}

// ParseScenario decodes and validates a scenario; steps are sorted by time.
func ParseScenario(b []byte) (*Scenario, error) {
	var s Scenario
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&s)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("scenario: unknown key %q", und[0].String())
	}
	for _, c := range s.Clouds {
		if !slices.Contains(Clouds, c) {
			return nil, fmt.Errorf("scenario: clouds: %q is not one of %s", c, strings.Join(Clouds, ", "))
		}
	}
	for i, st := range s.Steps {
		if err := st.validate(); err != nil {
			return nil, fmt.Errorf("scenario: step[%d] (%s at %s): %w", i, st.Action, st.At.Duration, err)
		}
	}
	for _, st := range s.Steps {
		if st.Action == "credit" && st.ReplayAfter.Duration > 0 {
			orig := st
			later := st
			later.At.Duration += st.ReplayAfter.Duration
			later.ResendOf = &orig
			s.Steps = append(s.Steps, later)
		}
	}
	sort.SliceStable(s.Steps, func(i, j int) bool { return s.Steps[i].At.Duration < s.Steps[j].At.Duration })
	if s.Duration.Duration == 0 && len(s.Steps) > 0 {
		s.Duration.Duration = s.Steps[len(s.Steps)-1].At.Duration + 10*time.Second
	}
	return &s, nil
}

func (st Step) validate() error {
	if _, ok := Actions[st.Action]; !ok {
		return fmt.Errorf("unknown action %q", st.Action)
	}
	if st.Line < 1 && st.Action != "present" && st.Action != "take" && st.Action != "terminal" && st.Action != "vend" &&
		st.Action != "telemetron_request" && st.Action != "smartnow_command" {
		return fmt.Errorf("line must be >= 1")
	}
	for name, v := range map[string]float64{"cap_ml": st.CapML, "price_per_ml": st.PricePerML,
		"portion_ml": st.PortionML, "flow_ml_s": st.FlowMLs, "rate_ml_s": st.RateMLs,
		"remaining_ml": st.KegML, "size_l": st.KegSizeL} {
		if v < 0 || v != v || v > 1e6 {
			return fmt.Errorf("%s must be between 0 and 1000000", name)
		}
	}
	if st.CapMoney < 0 || st.Price < 0 || st.PortionCost < 0 || st.Funds < 0 {
		return fmt.Errorf("money must not be negative")
	}
	switch st.Action {
	case "authorise":
		switch st.Mode {
		case "", "free", "cleaning":
		case "portion":
			if st.PortionML <= 0 && st.ItemID == "" {
				return fmt.Errorf("portion needs portion_ml or item_id")
			}
		default:
			return fmt.Errorf("mode %q is not free, portion or cleaning", st.Mode)
		}
	case "pour":
		if _, err := st.FlowProfile(); err != nil {
			return err
		}
	case "credit":
		if st.Waiter <= 0 || st.PLU <= 0 || st.Count == 0 {
			return fmt.Errorf("credit needs waiter, plu and a non-zero count")
		}
		if st.Form != "" && st.Form != "post-put" && st.Form != "post" {
			return fmt.Errorf("credit form %q is not post-put or post", st.Form)
		}
		if st.Replay < 0 || st.Replay > 100 {
			return fmt.Errorf("credit replay must be 0..100")
		}
		if d := st.ReplayAfter.Duration; d < 0 || d > 24*time.Hour || (d > 0 && st.Replay == 0) || st.At.Duration > math.MaxInt64-d {
			return fmt.Errorf("credit replay_after must be 0..24h, and needs replay >= 1")
		}
	case "waiter":
		if st.Waiter <= 0 {
			return fmt.Errorf("waiter needs waiter > 0")
		}
	case "card":
		if st.CardID <= 0 {
			return fmt.Errorf("card needs card_id > 0")
		}
	case "account":
		if (st.CardID > 0) == (st.Account != "") || st.CardID < 0 {
			return fmt.Errorf("account needs card_id > 0 or account, not both")
		}
	case "voucher":
		if st.Code == "" || len(st.Code) > 64 {
			return fmt.Errorf("voucher needs a code of 1 to 64 characters")
		}
		if st.Via != "" && st.Via != "scanner" {
			return fmt.Errorf("voucher via %q: only \"scanner\" (or nothing: scanned directly)", st.Via)
		}
		switch st.Terminator {
		case "", "cr", "crlf", "lf":
		default:
			return fmt.Errorf("voucher terminator %q is not cr, crlf or lf", st.Terminator)
		}
	case "present":
		if st.Card == "" {
			return fmt.Errorf("present needs card")
		}
	case "telemetron_request":
		if st.Request != "report" && st.Request != "config" {
			return fmt.Errorf("telemetron_request needs request = report or config")
		}
	case "smartnow_command":
		if st.Command == "" || len(st.Command) > 64 || len(st.Params) > 16 {
			return fmt.Errorf("smartnow_command needs a command (at most 64 bytes) and at most 16 params")
		}
	case "leak":
		if st.RateMLs <= 0 {
			return fmt.Errorf("leak needs rate_ml_s > 0")
		}
	}
	return nil
}

// FlowProfile is the step's pour as profile points.
func (st Step) FlowProfile() ([]Point, error) {
	if len(st.Profile) > 0 {
		pts := make([]Point, 0, len(st.Profile))
		for i, p := range st.Profile {
			if p[0] < 0 || p[1] < 0 || p[1] > 1000 || (i > 0 && p[0] <= st.Profile[i-1][0]) {
				return nil, fmt.Errorf("profile[%d]: times must increase and flows be 0..1000 mL/s", i)
			}
			pts = append(pts, Point{T: time.Duration(p[0] * float64(time.Second)), MLs: p[1]})
		}
		return pts, nil
	}
	if st.FlowMLs <= 0 || st.FlowMLs > 1000 {
		return nil, fmt.Errorf("pour needs flow_ml_s (0..1000] or a profile")
	}
	ramp := st.Ramp.Duration
	pts := []Point{{0, 0}, {ramp, st.FlowMLs}}
	if ramp == 0 {
		pts = []Point{{0, st.FlowMLs}}
	}
	if st.For.Duration > 0 {
		end := max(st.For.Duration, ramp)
		pts = append(pts, Point{end, st.FlowMLs}, Point{end + ramp + time.Millisecond, 0})
	}
	return pts, nil
}
