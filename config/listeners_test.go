package config

import (
	"strings"
	"testing"
)

// TestListenersMustNotShareAnAddress: two listeners on one address would
// stop the agent at start, so Validate refuses them, naming both keys.
func TestListenersMustNotShareAnAddress(t *testing.T) {
	const line = "\n[[line]]\nid = 1\n"
	cases := []struct {
		name, toml string
		want       []string // empty: accepted
	}{
		{"pos and web", "[pos]\nlisten = \"127.0.0.1:8080\"\n[web]\nlisten = \"127.0.0.1:8080\"", []string{"web.listen", "pos.listen", "127.0.0.1:8080"}},
		{"control and web", "[control]\nlisten = \"127.0.0.1:9000\"\n[web]\nlisten = \"localhost:9000\"", []string{"web.listen", "control.listen"}},
		{"wildcard beside loopback", "[pos]\nlisten = \"127.0.0.1:8082\"\n[control]\nlisten = \"0.0.0.0:8082\"\ntoken = \"0123456789abcdef0123\"", []string{"control.listen", "pos.listen"}},
		{"bare port", "[pos]\nlisten = \"[::1]:8082\"\n[control]\nlisten = \":8082\"\ntoken = \"0123456789abcdef0123\"", []string{"control.listen", "pos.listen"}},
		{"different ports", "[pos]\nlisten = \"127.0.0.1:8082\"\n[web]\nlisten = \"127.0.0.1:8080\"", nil},
		{"same port on two hosts", "[pos]\nlisten = \"127.0.0.2:8080\"\n[web]\nlisten = \"127.0.0.1:8080\"", nil},
		{"port 0 picks a free port", "[pos]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml + line))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted two listeners on one address")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
