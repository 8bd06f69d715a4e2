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
	Name        string `toml:"name"`
	Description string `toml:"description"`
	// Compatible lists device-tree compatible strings of the boards the
	// profile is for (/proc/device-tree/compatible); `tapagent doctor`
	// warns when none of them is the running board's.
	Compatible []string  `toml:"compatible"`
	Ports      Ports     `toml:"ports"`
	Lines      []LinePin `toml:"line"`
}

// Ports are where the board's serial and I2C peripherals are, as device
// paths. Empty means the board has none of that kind wired.
type Ports struct {
	// MDB is the UART of the MDB interface (e.g. the PL011 on GPIO 14/15).
	MDB string `toml:"mdb"`
	// Reader is a PN532 on a serial port (HSU).
	Reader string `toml:"reader"`
	// ReaderI2C is the I2C bus of a PN532 on I2C, with its 7-bit address.
	ReaderI2C     string `toml:"reader_i2c"`
	ReaderI2CAddr int    `toml:"reader_i2c_addr"`
	// DEX is the DEX/UCS serial port.
	DEX string `toml:"dex"`
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
	if a := p.Ports.ReaderI2CAddr; a < 0 || a > 0x7f {
		return fmt.Errorf("board profile: ports.reader_i2c_addr: %#x is not a 7-bit address", a)
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

// ChipInfo describes one GPIO chip found on the running board.
type ChipInfo struct {
	// Name is the device name, e.g. "gpiochip0".
	Name string
	// Label is the driver's label, e.g. "pinctrl-bcm2711" or "pinctrl-rp1".
	Label string
	// Lines is the number of lines the chip has.
	Lines int
	// Used maps the offsets some consumer holds to that consumer's name.
	Used map[int]string
}

// MatchChip finds the chip a profile names: by device name ("gpiochip0" or
// "/dev/gpiochip0") or by label. Labels are the stable way to name a chip
// whose number changes between kernels, like the Raspberry Pi 5's RP1.
func MatchChip(want string, chips []ChipInfo) (ChipInfo, error) {
	name := strings.TrimPrefix(want, "/dev/")
	for _, c := range chips {
		if c.Name == name {
			return c, nil
		}
	}
	for _, c := range chips {
		if c.Label == want {
			return c, nil
		}
	}
	if len(chips) == 0 {
		return ChipInfo{}, fmt.Errorf("no GPIO chip named or labelled %q: this machine has no GPIO chips", want)
	}
	found := make([]string, len(chips))
	for i, c := range chips {
		found[i] = c.Name + " (" + c.Label + ")"
	}
	return ChipInfo{}, fmt.Errorf("no GPIO chip named or labelled %q (found: %s)", want, strings.Join(found, ", "))
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
