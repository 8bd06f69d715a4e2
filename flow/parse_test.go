package flow

import "testing"

func TestParseVol(t *testing.T) {
	for in, want := range map[string]Vol{"50L": ML(50000), "20.5 l": ML(20500), "0,5L": ML(500), "330ml": ML(330),
		"330.5 mL": 3305, "1.2345L": 12345, " 30 L ": ML(30000), "0L": 0} {
		got, err := ParseVol(in)
		if err != nil || got != want {
			t.Errorf("ParseVol(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "50", "L", "-5L", "+5L", "1.23456L", "0.55ml", "5.L", "abc L", "20000000L", "1e3L", "99999999999L"} {
		if v, err := ParseVol(in); err == nil {
			t.Errorf("ParseVol(%q) = %d, want an error", in, v)
		}
	}
}

func TestLitres(t *testing.T) {
	for v, want := range map[Vol]string{ML(49750): "49.75 L", ML(5): "0.00 L", -ML(1500): "-1.50 L"} {
		if got := v.Litres(); got != want {
			t.Errorf("%d: %q, want %q", v, got, want)
		}
	}
}

func FuzzParseVol(f *testing.F) {
	for _, s := range []string{"50L", "330ml", "0,5 l", "1.2345L", "-1L"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVol(s)
		if err == nil && (v < 0 || v > MaxParsedVol) {
			t.Fatalf("ParseVol(%q) = %d", s, v)
		}
	})
}
