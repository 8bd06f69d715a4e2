package flow

import (
	"strconv"
	"strings"
)

// maxDecimals bounds the decimals Money prints: no currency has more than
// four, and 18 keeps the divisor inside int64.
const maxDecimals = 18

// Money prints an amount in minor units for a person: the currency's
// decimals and its code, 1687, 2, "EUR" -> "16.87 EUR". A numeric ISO 4217
// code as MDB and EVA-DTS send it ("1978": the leading 1 marks ISO, 978)
// is named by its letters where known ("EUR"), else kept as it came.
// Every int64 prints exactly, the most negative one included.
func Money(minor int64, decimals int, currency string) string {
	var b strings.Builder
	u := uint64(minor)
	if minor < 0 {
		b.WriteByte('-')
		u = -u // two's complement: exact for math.MinInt64 too
	}
	digits := strconv.FormatUint(u, 10)
	if d := min(max(decimals, 0), maxDecimals); d > 0 {
		if len(digits) <= d {
			digits = strings.Repeat("0", d-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-d] + "." + digits[len(digits)-d:]
	}
	b.WriteString(digits)
	if c := CurrencyName(currency); c != "" {
		b.WriteByte(' ')
		b.WriteString(c)
	}
	return b.String()
}

// numericCurrencies names the ISO 4217 numeric codes a tap wall or vending
// machine in Europe, the Americas or Asia is likely to report.
var numericCurrencies = map[string]string{
	"036": "AUD", "124": "CAD", "156": "CNY", "203": "CZK", "208": "DKK", "348": "HUF",
	"356": "INR", "392": "JPY", "578": "NOK", "643": "RUB", "752": "SEK", "756": "CHF",
	"826": "GBP", "840": "USD", "946": "RON", "949": "TRY", "975": "BGN", "978": "EUR",
	"980": "UAH", "985": "PLN",
}

// CurrencyName is the letter code of a currency given by letters or by
// its ISO 4217 number (with MDB's leading 1: "1978" is "EUR").
func CurrencyName(code string) string {
	code = strings.TrimSpace(code)
	n := code
	if len(n) == 4 && n[0] == '1' {
		n = n[1:]
	}
	if name, ok := numericCurrencies[n]; ok {
		return name
	}
	return code
}

// Litres prints a volume in litres with two decimals, as keg levels are
// read: 123456 -> "12.35 L", rounded to the nearest centilitre (half away
// from zero), so a reader's rows add up to their total within the rounding.
// A level less than half a centilitre below zero (a keg poured past its
// size) prints as 0.00 L, without a sign.
func (v Vol) Litres() string {
	cl := v.Centilitres()
	sign := ""
	u := uint64(cl)
	if cl < 0 {
		sign, u = "-", -u
	}
	return sign + strconv.FormatUint(u/100, 10) + "." + pad2(int64(u%100)) + " L"
}

// Centilitres is v rounded to the nearest centilitre, half away from zero:
// the value Litres prints. Every Vol rounds without overflow.
func (v Vol) Centilitres() int64 {
	q, r := int64(v)/100, int64(v)%100 // truncated towards zero
	switch {
	case r >= 50:
		q++
	case r <= -50:
		q--
	}
	return q
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}
