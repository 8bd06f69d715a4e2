package flow

import (
	"math"
	"testing"
)

func TestMoney(t *testing.T) {
	for _, c := range []struct {
		minor    int64
		dec      int
		currency string
		want     string
	}{
		{1687, 2, "EUR", "16.87 EUR"},
		{5, 2, "EUR", "0.05 EUR"},
		{-5, 2, "EUR", "-0.05 EUR"},
		{0, 2, "EUR", "0.00 EUR"},
		{390, 0, "JPY", "390 JPY"},
		{143500, 2, "1978", "1435.00 EUR"},
		{1000, 3, "9999", "1.000 9999"},
		{1, 2, "", "0.01"},
		{math.MinInt64, 2, "EUR", "-92233720368547758.08 EUR"},
		{math.MaxInt64, 0, "EUR", "9223372036854775807 EUR"},
		{12, -3, "EUR", "12 EUR"},
	} {
		if got := Money(c.minor, c.dec, c.currency); got != c.want {
			t.Errorf("Money(%d, %d, %q) = %q, want %q", c.minor, c.dec, c.currency, got, c.want)
		}
	}
}

func TestLitres(t *testing.T) {
	for v, want := range map[Vol]string{
		123456: "12.35 L", 123449: "12.34 L", 0: "0.00 L", -500000: "-50.00 L", 49: "0.00 L", 50: "0.01 L", 99: "0.01 L",
		7992: "0.80 L", -49: "0.00 L", -50: "-0.01 L", -150: "-0.02 L", -149: "-0.01 L",
		math.MaxInt64: "922337203685477.58 L", math.MinInt64: "-922337203685477.58 L",
	} {
		if got := v.Litres(); got != want {
			t.Errorf("%d.Litres() = %q, want %q", v, got, want)
		}
	}
}

func TestLitresExact(t *testing.T) {
	for v, want := range map[Vol]string{50_000_000: "5000 L", 10_000: "1 L", 20_000_000: "2000 L", 2000: "0.2 L", 3305: "0.3305 L", 0: "0 L", -5000: "-0.5 L",
		math.MinInt64: "-922337203685477.5808 L"} {
		if got := v.LitresExact(); got != want {
			t.Errorf("%d.LitresExact() = %q, want %q", v, got, want)
		}
	}
}
