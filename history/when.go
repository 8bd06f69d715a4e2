package history

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kinds lists every entry kind, in the order help and errors name them.
var kinds = []string{KindPour, KindVend, KindCleaning, KindCalibration, KindUnattributed, KindCardPurchase, KindOperation, KindAlarm}

// payments lists every payment type (Entry.Payment).
var payments = []string{PayNone, PayFree, PayCard, PayRemote, PayTerminal, PayRegister}

// AllKinds is every entry kind a query may name.
func AllKinds() []string { return slices.Clone(kinds) }

// AllPayments is every payment type a query may name.
func AllPayments() []string { return slices.Clone(payments) }

// ParseFrom reads the start of a range a person typed: RFC 3339,
// "YYYY-MM-DD HH:MM" or a date (its midnight), the last two in loc;
// "" is no bound. The start is inclusive.
func ParseFrom(s string, loc *time.Location) (time.Time, error) {
	t, _, err := parseWhen(s, loc)
	return t, err
}

// ParseTo reads the end of a range a person typed, in the forms of
// ParseFrom. A date alone includes that whole day, as a bar owner means
// "from the 1st to the 2nd": the bound is the next midnight. A time is
// exclusive: "2026-12-02 18:00" stops before six o'clock.
func ParseTo(s string, loc *time.Location) (time.Time, error) {
	t, dateOnly, err := parseWhen(s, loc)
	if err != nil || !dateOnly {
		return t, err
	}
	return t.AddDate(0, 0, 1), nil
}

func parseWhen(s string, loc *time.Location) (t time.Time, dateOnly bool, err error) {
	if s == "" {
		return time.Time{}, false, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04", s, loc); err == nil {
		return t, false, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, true, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is not a time (RFC 3339, YYYY-MM-DD HH:MM or YYYY-MM-DD)", s)
}

// validateNames refuses a kind or payment type the history never records:
// a typo would otherwise select nothing and read as "no pours".
func (q Query) validateNames() error {
	for _, k := range q.Kinds {
		if !slices.Contains(kinds, k) {
			return fmt.Errorf("history: kind %q: want one of %s", k, strings.Join(kinds, ", "))
		}
	}
	if q.Payment != "" && !slices.Contains(payments, q.Payment) {
		return fmt.Errorf("history: payment %q: want one of %s", q.Payment, strings.Join(payments, ", "))
	}
	return nil
}
