package web

import (
	"strings"
	"testing"

	"github.com/tapagent/tapagent/flow"
)

func TestParseLitres(t *testing.T) {
	for _, c := range []struct {
		in   string
		want flow.Vol
		bad  bool
	}{
		{"50", 500000, false}, {"50L", 500000, false}, {"19.5 L", 195000, false}, {"0.001", 10, false},
		{"200", 2000000, false}, {"200.001", 0, true}, {"-1", 0, true}, {"1e3", 0, true}, {"", 0, true},
		{"1.0001", 0, true}, {".5", 0, true}, {"99999999999999999999", 0, true},
	} {
		got, err := parseLitres(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseLitres(%q) = %d, %v", c.in, got, err)
		}
	}
}

// FuzzParseLitres: any text typed into a volume field is a clear error or
// a volume within 0..200 L that prints back as itself.
func FuzzParseLitres(f *testing.F) {
	for _, s := range []string{"50", "19.5 L", "0.001", "200", "abc", "1.2.3", " 7 l"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseLitres(s)
		if err != nil {
			return
		}
		if v < 0 || v > maxKegL*10000 || v%10 != 0 {
			t.Fatalf("%q gave %d", s, v)
		}
	})
}

// FuzzParseUsers: a damaged users file is refused, never half-read, and
// whatever it accepts holds only valid names and roles.
func FuzzParseUsers(f *testing.F) {
	f.Add([]byte(`{"v":1,"users":[{"name":"ann","role":"operator","hash":"$2a$10$abcdefghijklmnopqrstuuMEUjNqKMl1O3yC0Hd4m1mY3aFE0tHYi"}]}`))
	f.Add([]byte(`{"v":1,"users":[]}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"users":[{"name":"a b","role":"root","hash":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		users, err := ParseUsers(b)
		if err != nil {
			return
		}
		for _, u := range users {
			if checkName(u.Name) != nil || (u.Role != RoleStaff && u.Role != RoleOperator) || !strings.HasPrefix(u.Hash, "$2") {
				t.Fatalf("accepted %+v", u)
			}
		}
	})
}
