package history

import (
	"strings"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, berlin)
	for _, c := range []struct {
		in         string
		from, to   time.Time
		wantErrTxt string
	}{
		{in: "2026-12-02", from: day, to: day.AddDate(0, 0, 1)},
		{in: "2026-12-02 18:00", from: day.Add(18 * time.Hour), to: day.Add(18 * time.Hour)},
		{in: "2026-12-02T18:00:00Z", from: time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC), to: time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)},
		{in: ""},
		{in: "yesterday", wantErrTxt: "is not a time"},
	} {
		from, err1 := ParseFrom(c.in, berlin)
		to, err2 := ParseTo(c.in, berlin)
		if c.wantErrTxt != "" {
			if err1 == nil || err2 == nil || !strings.Contains(err1.Error(), c.wantErrTxt) {
				t.Errorf("%q: errors %v, %v", c.in, err1, err2)
			}
			continue
		}
		if err1 != nil || err2 != nil || !from.Equal(c.from) || !to.Equal(c.to) {
			t.Errorf("%q: from %v (%v), to %v (%v); want %v, %v", c.in, from, err1, to, err2, c.from, c.to)
		}
	}
	// The same date as from and to is that whole day, a valid range.
	q := Query{}
	q.From, _ = ParseFrom("2026-12-02", berlin)
	q.To, _ = ParseTo("2026-12-02", berlin)
	if err := q.Validate(); err != nil {
		t.Errorf("one day: %v", err)
	}
}

func TestValidateNames(t *testing.T) {
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{Payment: "cash"}, `payment "cash": want one of none, free, card`},
		{Query{Kinds: []string{"bogus"}}, `kind "bogus": want one of pour, vend`},
		{Query{Kinds: []string{"all"}}, `kind "all"`},
		{Query{Kinds: []string{KindPour, KindAlarm}, Payment: PayCard}, ""},
	} {
		err := c.q.Validate()
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.q, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.q, err, c.want)
		}
	}
}

// FuzzParseWhen: any text parses or is refused, never panics, and a date's
// end bound is the next midnight after its start.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"2026-12-02", "2026-12-02 18:00", "2026-12-02T18:00:00Z", "", "yesterday", "2026-02-30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		from, err1 := ParseFrom(s, time.UTC)
		to, err2 := ParseTo(s, time.UTC)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("%q: from %v, to %v", s, err1, err2)
		}
		if err1 == nil && to.Before(from) {
			t.Fatalf("%q: to %v before from %v", s, to, from)
		}
	})
}
