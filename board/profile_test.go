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
		if len(p.Compatible) == 0 || p.Ports.MDB == "" || p.Ports.ReaderI2C == "" || p.Ports.ReaderI2CAddr != 0x24 {
			t.Fatalf("%s: board identity and ports: %+v %+v", n, p.Compatible, p.Ports)
		}
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "rpi4") || !strings.Contains(got, "rpi5") {
		t.Fatalf("built-in profiles: %s", got)
	}
}

func TestMatchChip(t *testing.T) {
	// A Raspberry Pi 5 on a kernel that numbers RP1 gpiochip4, then on one
	// that numbers it gpiochip0: the label finds it on both.
	old := []ChipInfo{{Name: "gpiochip0", Label: "gpio-brcmstb@107d508500"}, {Name: "gpiochip4", Label: "pinctrl-rp1"}}
	cur := []ChipInfo{{Name: "gpiochip0", Label: "pinctrl-rp1"}, {Name: "gpiochip10", Label: "gpio-brcmstb@107d508500"}}
	tests := []struct {
		want  string
		chips []ChipInfo
		name  string
		err   string
	}{
		{"pinctrl-rp1", old, "gpiochip4", ""},
		{"pinctrl-rp1", cur, "gpiochip0", ""},
		{"gpiochip0", cur, "gpiochip0", ""},
		{"/dev/gpiochip10", cur, "gpiochip10", ""},
		{"pinctrl-bcm2711", cur, "", "found: gpiochip0 (pinctrl-rp1), gpiochip10"},
		{"gpiochip0", nil, "", "no GPIO chip"},
	}
	for _, tc := range tests {
		c, err := MatchChip(tc.want, tc.chips)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.want, err, tc.err)
			}
			continue
		}
		if err != nil || c.Name != tc.name {
			t.Errorf("%s: %+v %v, want %s", tc.want, c, err, tc.name)
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
		"i2c address":  "[ports]\nreader_i2c_addr = 0x80\n[[line]]\nline = 1\nmeter = { chip = \"c\", offset = 1 }\nvalve = { chip = \"c\", offset = 2 }\n",
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
