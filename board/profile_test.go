package board

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuiltinProfiles(t *testing.T) {
	names := BuiltinProfiles()
	if len(names) == 0 {
		t.Fatal("no built-in profiles")
	}
	for _, n := range names {
		p, err := LoadProfile(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		l1, ok := p.Line(1)
		if !ok || l1.Meter.Chip == "" || l1.Meter.Debounce.Duration <= 0 || l1.Meter.Debounce.Duration > 500*time.Microsecond {
			t.Fatalf("%s line 1: %+v", n, l1)
		}
	}
}

func TestProfileFromFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mine.toml")
	os.WriteFile(good, []byte("name = \"mine\"\n[[line]]\nline = 1\nmeter = { chip = \"gpiochip1\", offset = 3 }\nvalve = { chip = \"gpiochip1\", offset = 4, active_low = true }\n"), 0o600)
	p, err := LoadProfile(good)
	if err != nil || !p.Lines[0].Valve.ActiveLow {
		t.Fatalf("%+v %v", p, err)
	}
	cases := map[string]string{
		"no lines":     "name = \"x\"\n",
		"pin twice":    "[[line]]\nline = 1\nmeter = { chip = \"c\", offset = 3 }\nvalve = { chip = \"c\", offset = 3 }\n",
		"line twice":   "[[line]]\nline = 1\nmeter = { chip = \"c\", offset = 1 }\nvalve = { chip = \"c\", offset = 2 }\n[[line]]\nline = 1\nmeter = { chip = \"c\", offset = 3 }\nvalve = { chip = \"c\", offset = 4 }\n",
		"no chip":      "[[line]]\nline = 1\nmeter = { offset = 1 }\nvalve = { chip = \"c\", offset = 2 }\n",
		"bad bias":     "[[line]]\nline = 1\nmeter = { chip = \"c\", offset = 1, bias = \"sideways\" }\nvalve = { chip = \"c\", offset = 2 }\n",
		"bad debounce": "[[line]]\nline = 1\nmeter = { chip = \"c\", offset = 1, debounce = \"fast\" }\nvalve = { chip = \"c\", offset = 2 }\n",
		"unknown key":  "[[line]]\nline = 1\nmeter = { chip = \"c\", offset = 1, pin = 3 }\nvalve = { chip = \"c\", offset = 2 }\n",
		"line zero":    "[[line]]\nline = 0\nmeter = { chip = \"c\", offset = 1 }\nvalve = { chip = \"c\", offset = 2 }\n",
		"negative pin": "[[line]]\nline = 1\nmeter = { chip = \"c\", offset = -1 }\nvalve = { chip = \"c\", offset = 2 }\n",
		"not toml":     "[[[",
	}
	for name, body := range cases {
		if _, err := ParseProfile([]byte(body)); err == nil || !strings.Contains(err.Error(), "board profile") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := LoadProfile("no-such-board"); err == nil || !strings.Contains(err.Error(), "rpi4") {
		t.Fatalf("unknown profile error should list the built-in ones: %v", err)
	}
}

func FuzzParseProfile(f *testing.F) {
	b, _ := builtinProfiles.ReadFile("profiles/rpi4.toml")
	f.Add(string(b))
	f.Add("[[line]]\nline = 1\nmeter = { chip = \"c\", offset = 1 }\nvalve = { chip = \"c\", offset = 2 }\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProfile([]byte(s))
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for _, l := range p.Lines {
			if l.Line < 1 || seen[l.Line] || l.Meter.Chip == "" || l.Valve.Chip == "" {
				t.Fatalf("accepted bad line %+v", l)
			}
			seen[l.Line] = true
		}
	})
}
