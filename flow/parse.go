package flow

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxParsedVol bounds ParseVol: 10 m³, far beyond any keg or tank and far
// below where arithmetic on volumes could overflow.
const MaxParsedVol = Vol(10_000_000 * 10)

// ParseVol reads a volume a person typed: a decimal number and a unit, L or
// mL ("50L", "20.5 l", "330ml", "0,5L"), without floats: litres take up to
// four decimals, millilitres one (the resolution of Vol).
func ParseVol(s string) (Vol, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	var scale int64 // Vol per unit
	var decimals int
	switch {
	case strings.HasSuffix(t, "ml"):
		t, scale, decimals = strings.TrimSuffix(t, "ml"), 10, 1
	case strings.HasSuffix(t, "l"):
		t, scale, decimals = strings.TrimSuffix(t, "l"), 10_000, 4
	default:
		return 0, fmt.Errorf("volume %q needs a unit: L or mL (50L, 330ml)", s)
	}
	t = strings.ReplaceAll(strings.TrimSpace(t), ",", ".")
	whole, frac, dot := strings.Cut(t, ".")
	if whole == "" || strings.ContainsAny(whole, "+-") || (dot && frac == "") || len(frac) > decimals {
		return 0, fmt.Errorf("volume %q is not a number with at most %d decimals", s, decimals)
	}
	w, err := strconv.ParseUint(whole, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("volume %q is not a number: %w", s, err)
	}
	v := int64(w) * scale
	if frac != "" {
		f, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("volume %q is not a number: %w", s, err)
		}
		for i := len(frac); i < decimals; i++ {
			f *= 10
		}
		v += int64(f) * scale / pow10(decimals)
	}
	if Vol(v) > MaxParsedVol {
		return 0, fmt.Errorf("volume %q is more than %s", s, MaxParsedVol)
	}
	return Vol(v), nil
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// Litres prints a volume in litres with two decimals ("49.75 L"), rounded
// toward zero, for people reading keg levels.
func (v Vol) Litres() string {
	sign := ""
	n := int64(v)
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%s%d.%02d L", sign, n/10_000, n%10_000/100)
}
