package smartnowsync

import (
	"slices"
	"testing"
)

func TestParseSettings(t *testing.T) {
	lines := []int{1, 2, 3, 4}
	for _, tc := range []struct {
		in      string
		closed  []int
		ignored []string
		bad     bool
	}{
		{in: ""},
		{in: `{"closed":[2,0],"prices":true,"opening_hours":false}`, closed: []int{2, 0}},
		{in: `{"closed":[5]}`, bad: true},
		{in: `{"prices":"yes"}`, bad: true},
		{in: `{"zeta":1,"alpha":{"b":2}}`, ignored: []string{"alpha", "zeta"}},
		{in: `{"a\u0000b":1}`, ignored: []string{`a\x00b`}},
		{in: `[1]`, bad: true},
		{in: `lines=4`, bad: true},
	} {
		st, ign, err := ParseSettings(tc.in, lines)
		if tc.bad != (err != nil) || !slices.Equal(st.Closed, tc.closed) || !slices.Equal(ign, tc.ignored) {
			t.Errorf("%s: %+v %v %v", tc.in, st, ign, err)
		}
	}
}

// FuzzParseSettings: the machine configuration text never panics the
// parser, and what it accepts names only configured lines (0: all).
func FuzzParseSettings(f *testing.F) {
	for _, s := range []string{``, `{"closed":[1,0]}`, `{"prices":false,"x":[]}`, `{"closed":[9]}`, `null`, `{"opening_hours":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, ign, err := ParseSettings(s, []int{1, 2})
		if err != nil {
			return
		}
		for _, l := range st.Closed {
			if l != 0 && l != 1 && l != 2 {
				t.Fatalf("line %d accepted", l)
			}
		}
		for _, k := range ign {
			if len([]rune(k)) > 65 {
				t.Fatalf("ignored key of %d runes", len([]rune(k)))
			}
		}
	})
}
