// Package flow turns meter edges into volume and drives each line's valve:
// the pour state machine with its caps and guards, leak accounting and keg
// tracking. It is pure: time comes in as monotonic readings on every call,
// so every rule is testable without a clock.
package flow

import (
	"fmt"
	"math"
	"math/bits"
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

// MaxPrice bounds a unit price, in minor units: 100,000,000 (a million in
// a currency of two decimals) is beyond any beer or vend, and keeps every
// amount a wall computes from a price far inside int64. A price from the
// configuration or a peer above it is refused where it comes in.
const MaxPrice = 100_000_000

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
	return MulDiv(int64(v), p.Minor, int64(p.PerVol))
}

// MulDiv is v×n/d rounded down, exact through the 128-bit product, for
// v, n ≥ 0 and d > 0 (0 otherwise); a quotient beyond int64 saturates at
// math.MaxInt64, so a price from a peer, however large, can never wrap
// into a negative amount.
func MulDiv(v, n, d int64) int64 {
	if v <= 0 || n <= 0 || d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(v), uint64(n))
	if hi >= uint64(d) {
		return math.MaxInt64 // the quotient needs more than 64 bits
	}
	q, _ := bits.Div64(hi, lo, uint64(d))
	return int64(min(q, math.MaxInt64))
}

// VolFor is the largest volume whose price does not exceed money.
func (p Price) VolFor(money int64) Vol {
	if !p.Valid() || p.Minor == 0 {
		return -1 // unlimited
	}
	if money <= 0 {
		return 0
	}
	v := Vol(MulDiv(money, int64(p.PerVol), p.Minor))
	// Amount rounds down, so one more tenth may still fit.
	for v < math.MaxInt64 && p.Amount(v+1) <= money {
		v++
	}
	return v
}
