package flow

import (
	"fmt"
	"time"
)

// Mode is how a pour is authorised and charged.
type Mode uint8

// Pour modes.
const (
	// ModeFree is free pour at a unit price, limited by volume and money caps.
	ModeFree Mode = iota + 1
	// ModePortion pours a preset portion at a fixed price.
	ModePortion
	// ModeCleaning opens the line for cleaning; recorded as a test pour, never charged.
	ModeCleaning
	// ModeCalibration pours into a measured vessel to find the K-factor.
	ModeCalibration
)

var modeNames = map[Mode]string{ModeFree: "free", ModePortion: "portion", ModeCleaning: "cleaning", ModeCalibration: "calibration"}

// String names the mode as it appears in records and scenarios.
func (m Mode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return fmt.Sprintf("mode(%d)", m)
}

// MarshalText writes the mode's name; no mode (unattributed flow) is "".
func (m Mode) MarshalText() ([]byte, error) {
	if m == 0 {
		return nil, nil
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads a mode name.
func (m *Mode) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = 0
		return nil
	}
	for k, v := range modeNames {
		if v == string(b) {
			*m = k
			return nil
		}
	}
	return fmt.Errorf("unknown pour mode %q (free, portion, cleaning, calibration)", b)
}

// Reason says why a pour ended.
type Reason string

// End reasons.
const (
	ReasonCapVolume   Reason = "cap_volume"   // free pour reached its volume cap
	ReasonCapMoney    Reason = "cap_money"    // free pour reached its money cap
	ReasonPortion     Reason = "portion"      // portion delivered
	ReasonIdle        Reason = "idle"         // customer stopped pouring
	ReasonNoPour      Reason = "no_pour"      // authorised but nothing poured
	ReasonMaxDuration Reason = "max_duration" // hard time limit
	ReasonSafetyCap   Reason = "safety_cap"   // device-side clamp, whatever the authorisation said
	ReasonStopped     Reason = "stopped"      // stopped by command (card removed, stop button)
	ReasonNoFlow      Reason = "no_flow"      // valve open but the meter is silent
	ReasonFoam        Reason = "foam"         // pulse rate says gas, not beer: keg empty
	ReasonShutdown    Reason = "shutdown"     // agent stopping
	ReasonFault       Reason = "fault"        // storage or valve fault
	ReasonLeak        Reason = "leak"         // unattributed flow with the valve closed
	ReasonCrash       Reason = "crash"        // agent died mid-pour; booked from the last checkpoint
	// ReasonPayment is money a payment terminal kept with nothing (more)
	// poured to go with it: the record books the amount, not a pour.
	ReasonPayment Reason = "payment"
	// ReasonVended is an item a vending machine dispensed: the record
	// books a sale of one item, not a pour.
	ReasonVended Reason = "vended"
)

// Auth is an authorisation to pour on a line.
type Auth struct {
	Mode Mode `json:"mode"`
	// CapVol limits a free pour's charged volume; zero means no volume cap.
	CapVol Vol `json:"cap_ml10,omitempty"`
	// CapMoney limits a free pour's amount; zero means no money cap.
	CapMoney int64 `json:"cap_money,omitempty"`
	// Price applies to free pours.
	Price Price `json:"price"`
	// PortionVol and PortionPrice define a portion.
	PortionVol   Vol   `json:"portion_ml10,omitempty"`
	PortionPrice int64 `json:"portion_price,omitempty"`
	// Prepaid marks a portion a payment terminal charged before the pour
	// (MDB portion mode): it is all or nothing. Delivered, it costs
	// PortionPrice; ended short, nothing, because the terminal refunds it;
	// cut by a crash, PortionPrice again, because a reader reset before the
	// outcome counts as a sale (MDB 4.2 §7.4.7) — see PrepaidAmount.
	Prepaid bool `json:"prepaid,omitempty"`
	// MaxDuration overrides the line's limit when shorter; zero keeps it.
	MaxDuration time.Duration `json:"max_duration,omitempty"`
}

// Validate checks that the authorisation can be poured.
func (a Auth) Validate() error {
	switch a.Mode {
	case ModeFree:
		if a.CapVol < 0 || a.CapMoney < 0 {
			return fmt.Errorf("free pour: caps must not be negative")
		}
		if a.CapMoney > 0 && !a.Price.Valid() {
			return fmt.Errorf("free pour: a money cap needs a valid price")
		}
	case ModePortion:
		if a.PortionVol <= 0 {
			return fmt.Errorf("portion: volume must be > 0")
		}
		if a.PortionPrice < 0 {
			return fmt.Errorf("portion: price must not be negative")
		}
	case ModeCleaning, ModeCalibration:
	default:
		return fmt.Errorf("unknown pour mode %d", a.Mode)
	}
	if a.Prepaid && a.Mode != ModePortion {
		return fmt.Errorf("%s: only a portion can be prepaid", a.Mode)
	}
	return nil
}

// RecoveredAmount is what a pour cut by a crash costs, given the amount
// its last checkpoint had reached.
func (a Auth) RecoveredAmount(checkpointed int64) int64 {
	if a.Prepaid && a.Mode == ModePortion {
		return a.PortionPrice
	}
	return checkpointed
}

// target is the charged volume at which the valve closes, and why; -1 means none.
func (a Auth) target() (Vol, Reason) {
	switch a.Mode {
	case ModePortion:
		return a.PortionVol, ReasonPortion
	case ModeFree:
		t, r := Vol(-1), Reason("")
		if a.CapVol > 0 {
			t, r = a.CapVol, ReasonCapVolume
		}
		if a.CapMoney > 0 {
			if mv := a.Price.VolFor(a.CapMoney); mv >= 0 && (t < 0 || mv < t) {
				t, r = mv, ReasonCapMoney
			}
		}
		return t, r
	}
	return -1, ""
}

// Result is a finished pour, or an episode of unattributed flow.
type Result struct {
	// Unattributed marks flow with the valve closed (a leak) rather than a pour.
	Unattributed bool   `json:"unattributed,omitempty"`
	Auth         Auth   `json:"auth"`
	Reason       Reason `json:"reason"`
	// Mono timestamps: valve opened, first flow, valve closed, result taken.
	OpenedAt  time.Duration `json:"opened_at"`
	FirstFlow time.Duration `json:"first_flow,omitempty"`
	ClosedAt  time.Duration `json:"closed_at"`
	EndedAt   time.Duration `json:"ended_at"`
	Pulses    int64         `json:"pulses"`
	KMilli    int64         `json:"k_milli"`
	// Volume is everything the meter measured; Compensated is the line-refill
	// part that is not charged; Charged is what the price applies to.
	Volume      Vol   `json:"volume_ml10"`
	Compensated Vol   `json:"compensated_ml10,omitempty"`
	Charged     Vol   `json:"charged_ml10"`
	Overrun     Vol   `json:"overrun_ml10,omitempty"`
	Amount      int64 `json:"amount"`
	BelowMin    bool  `json:"below_min,omitempty"`
	// Complete is true when a portion or cap was reached.
	Complete bool  `json:"complete,omitempty"`
	Bounced  int64 `json:"bounced,omitempty"`
	Lost     int64 `json:"lost,omitempty"`
}

// Progress is a running pour's state, checkpointed while it pours.
type Progress struct {
	Pulses      int64 `json:"pulses"`
	Volume      Vol   `json:"volume_ml10"`
	Compensated Vol   `json:"compensated_ml10"`
	Charged     Vol   `json:"charged_ml10"`
	Amount      int64 `json:"amount"`
}

// amount prices a charged volume under an authorisation.
func amount(a Auth, charged Vol, complete bool) int64 {
	switch a.Mode {
	case ModeFree:
		amt := a.Price.Amount(charged)
		if a.CapMoney > 0 && amt > a.CapMoney {
			amt = a.CapMoney // overrun past the cap is on the house
		}
		return amt
	case ModePortion:
		if complete {
			return a.PortionPrice
		}
		if a.Prepaid {
			return 0 // refunded by the terminal
		}
		amt := MulDiv(a.PortionPrice, int64(charged), int64(a.PortionVol))
		return min(amt, a.PortionPrice)
	}
	return 0
}
