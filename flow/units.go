// Package flow turns meter edges into volume and drives each line's valve:
// the pour state machine with its caps and guards, leak accounting and keg
// tracking. It is pure: time comes in as monotonic readings on every call,
// so every rule is testable without a clock.
package flow

import (
	"fmt"
	"strconv"
	"strings"
)

// Vol is a volume in tenths of a millilitre (mL×10), the unit of all
// accounting in tapagent.
type Vol int64

// ML converts whole millilitres to Vol.
func ML(ml int64) Vol { return Vol(ml * 10) }

// String prints the volume in millilitres with one decimal.
func (v Vol) String() string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%d mL", sign, v/10, v%10)
}

// LitresExact prints a volume in litres with only the decimals it needs,
// exactly: 50000000 -> "5000 L", 2000 -> "0.2 L", 3305 -> "0.3305 L". It
// is for sizes a person typed in litres, so a message repeats them as typed.
func (v Vol) LitresExact() string {
	u := uint64(v)
	sign := ""
	if v < 0 {
		sign, u = "-", -u
	}
	frac := strings.TrimRight(fmt.Sprintf("%04d", u%10_000), "0")
	if frac != "" {
		frac = "." + frac
	}
	return sign + strconv.FormatUint(u/10_000, 10) + frac + " L"
}

// Price is a rational unit price: Minor minor currency units per PerVol of
// product. Keeping it rational lets "0.50 per oz" and "6.50 per 0.5 L" be
// exact without floats.
type Price struct {
	Minor  int64 `json:"minor"`
	PerVol Vol   `json:"per_ml10"`
}

// Valid reports whether the price can be applied.
func (p Price) Valid() bool { return p.PerVol > 0 && p.Minor >= 0 }

// Amount is the price of v, rounded down: a customer is never charged for
// volume they did not get.
func (p Price) Amount(v Vol) int64 {
	if !p.Valid() || v <= 0 {
		return 0
	}
	return int64(v) * p.Minor / int64(p.PerVol)
}

// VolFor is the largest volume whose price does not exceed money.
func (p Price) VolFor(money int64) Vol {
	if !p.Valid() || p.Minor == 0 {
		return -1 // unlimited
	}
	if money <= 0 {
		return 0
	}
	v := Vol(money * int64(p.PerVol) / p.Minor)
	// Amount rounds down, so one more tenth may still fit.
	for p.Amount(v+1) <= money {
		v++
	}
	return v
}
