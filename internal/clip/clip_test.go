package clip

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"longer text", 6, "longer…"},
		{"Пиво", 3, "П…"}, // no half of a two-byte letter
		{"abc", 0, "…"},
		{"abc", -1, "…"},
	} {
		if got := String(c.in, c.n); got != c.want {
			t.Errorf("String(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("Пиво", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := String(s, n)
		if len(s) <= n && got != s {
			t.Fatalf("short text changed: %q", got)
		}
		if len(s) > n && len(got) > max(n, 0)+len("…") {
			t.Fatalf("%q cut to %d is %d bytes", s, n, len(got))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("valid %q cut into invalid %q", s, got)
		}
	})
}
