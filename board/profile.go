package board

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tapagent/tapagent/clock"
)

//go:embed profiles/*.toml
var builtinProfiles embed.FS

// Profile maps tap lines to GPIO pins on one kind of board.
type Profile struct {
	Name        string    `toml:"name"`
	Description string    `toml:"description"`
	Lines       []LinePin `toml:"line"`
}

// LinePin is where one tap line's meter and valve are wired.
type LinePin struct {
	Line  int      `toml:"line"`
	Meter MeterPin `toml:"meter"`
	Valve ValvePin `toml:"valve"`
}

// MeterPin is a flow-meter input.
type MeterPin struct {
	Chip   string `toml:"chip"`
	Offset int    `toml:"offset"`
	// Bias is "pull-up", "pull-down" or "none".
	Bias string `toml:"bias"`
	// Edge is "falling" or "rising": the one edge per pulse that is counted.
	Edge string `toml:"edge"`
	// Debounce is the kernel's stability filter. It must stay below the
	// meter's shortest half-period (about 0.5 ms at 900 Hz).
	Debounce clock.Duration `toml:"debounce"`
	// BufferSize is the kernel event buffer asked for.
	BufferSize int `toml:"buffer_size"`
}

// ValvePin is a valve output.
type ValvePin struct {
	Chip      string `toml:"chip"`
	Offset    int    `toml:"offset"`
	ActiveLow bool   `toml:"active_low"`
}

// LoadProfile reads a profile by built-in name (e.g. "rpi4") or file path.
func LoadProfile(nameOrPath string) (*Profile, error) {
	if b, err := builtinProfiles.ReadFile("profiles/" + nameOrPath + ".toml"); err == nil {
		return ParseProfile(b)
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("board profile %q: not built in (%s) and %w", nameOrPath, strings.Join(BuiltinProfiles(), ", "), err)
	}
	return ParseProfile(b)
}

// BuiltinProfiles lists the profile names compiled into the binary.
func BuiltinProfiles() []string {
	ents, _ := builtinProfiles.ReadDir("profiles")
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".toml"))
	}
	return names
}

// ParseProfile decodes and validates a profile; unknown keys are errors.
func ParseProfile(b []byte) (*Profile, error) {
	var p Profile
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&p)
	if err != nil {
		return nil, fmt.Errorf("board profile: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("board profile: unknown key %q", und[0].String())
	}
	return &p, p.validate()
}

func (p *Profile) validate() error {
	if len(p.Lines) == 0 {
		return errors.New("board profile: no [[line]] entries")
	}
	seen := map[int]bool{}
	pins := map[string]int{}
	for i := range p.Lines {
		l := &p.Lines[i]
		key := fmt.Sprintf("line[%d]", i)
		if l.Line < 1 {
			return fmt.Errorf("board profile: %s.line: must be >= 1", key)
		}
		if seen[l.Line] {
			return fmt.Errorf("board profile: %s.line: line %d listed twice", key, l.Line)
		}
		seen[l.Line] = true
		if err := checkPin(pins, key+".meter", l.Meter.Chip, l.Meter.Offset, l.Line); err != nil {
			return err
		}
		if err := checkPin(pins, key+".valve", l.Valve.Chip, l.Valve.Offset, l.Line); err != nil {
			return err
		}
		switch l.Meter.Bias {
		case "", "pull-up", "pull-down", "none":
		default:
			return fmt.Errorf("board profile: %s.meter.bias: %q is not pull-up, pull-down or none", key, l.Meter.Bias)
		}
		switch l.Meter.Edge {
		case "", "falling", "rising":
		default:
			return fmt.Errorf("board profile: %s.meter.edge: %q is not falling or rising", key, l.Meter.Edge)
		}
		if l.Meter.BufferSize < 0 {
			return fmt.Errorf("board profile: %s.meter.buffer_size: must not be negative", key)
		}
	}
	return nil
}

func checkPin(pins map[string]int, key, chip string, offset, line int) error {
	if chip == "" {
		return fmt.Errorf("board profile: %s.chip: missing", key)
	}
	if offset < 0 {
		return fmt.Errorf("board profile: %s.offset: must not be negative", key)
	}
	id := fmt.Sprintf("%s:%d", chip, offset)
	if other, dup := pins[id]; dup {
		return fmt.Errorf("board profile: %s: pin %s already used by line %d", key, id, other)
	}
	pins[id] = line
	return nil
}

// Line returns the pins of tap line n.
func (p *Profile) Line(n int) (LinePin, bool) {
	for _, l := range p.Lines {
		if l.Line == n {
			return l, true
		}
	}
	return LinePin{}, false
}
