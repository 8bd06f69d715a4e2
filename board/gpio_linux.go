package board

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/warthog618/go-gpiocdev"
)

// GPIOMeter is a flow meter on a GPIO input line, read through the Linux
// GPIO character device (uAPI v2: kernel timestamps, debounce, sequence
// numbers).
type GPIOMeter struct {
	line int
	pin  MeterPin

	mu  sync.Mutex
	req *gpiocdev.Line
}

// NewGPIOMeter prepares a meter for tap line n; nothing is requested until Start.
func NewGPIOMeter(n int, pin MeterPin) *GPIOMeter { return &GPIOMeter{line: n, pin: pin} }

// Start requests the line with edge detection and delivers edges to h.
func (m *GPIOMeter) Start(h func(Edge)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.req != nil {
		return fmt.Errorf("meter line %d: already started", m.line)
	}
	n := m.line
	opts := []gpiocdev.LineReqOption{
		gpiocdev.WithConsumer(fmt.Sprintf("tapagent-meter%d", n)),
		gpiocdev.WithEventHandler(func(ev gpiocdev.LineEvent) {
			h(Edge{Line: n, Time: ev.Timestamp, Seq: ev.LineSeqno})
		}),
	}
	if m.pin.Edge == "rising" {
		opts = append(opts, gpiocdev.WithRisingEdge)
	} else {
		opts = append(opts, gpiocdev.WithFallingEdge)
	}
	switch m.pin.Bias {
	case "pull-down":
		opts = append(opts, gpiocdev.WithPullDown)
	case "none":
		opts = append(opts, gpiocdev.WithBiasDisabled)
	case "", "pull-up":
		opts = append(opts, gpiocdev.WithPullUp)
	}
	if m.pin.Debounce.Duration > 0 {
		opts = append(opts, gpiocdev.WithDebounce(m.pin.Debounce.Duration))
	}
	if m.pin.BufferSize > 0 {
		opts = append(opts, gpiocdev.WithEventBufferSize(m.pin.BufferSize))
	}
	chip, err := chipPath(m.pin.Chip)
	if err != nil {
		return fmt.Errorf("meter line %d: %w", n, err)
	}
	req, err := gpiocdev.RequestLine(chip, m.pin.Offset, opts...)
	if err != nil {
		return fmt.Errorf("meter line %d on %s:%d: %w", n, m.pin.Chip, m.pin.Offset, err)
	}
	m.req = req
	return nil
}

// Close releases the input line; it waits for a running handler to return.
func (m *GPIOMeter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.req == nil {
		return nil
	}
	err := m.req.Close()
	m.req = nil
	return err
}

// GPIOValve is a valve driven by a GPIO output line.
type GPIOValve struct {
	line int
	req  *gpiocdev.Line
}

// OpenGPIOValve requests the output line, driven closed from the first instant.
func OpenGPIOValve(n int, pin ValvePin) (*GPIOValve, error) {
	opts := []gpiocdev.LineReqOption{
		gpiocdev.WithConsumer(fmt.Sprintf("tapagent-valve%d", n)),
		gpiocdev.AsOutput(0),
	}
	if pin.ActiveLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	chip, err := chipPath(pin.Chip)
	if err != nil {
		return nil, fmt.Errorf("valve line %d: %w", n, err)
	}
	req, err := gpiocdev.RequestLine(chip, pin.Offset, opts...)
	if err != nil {
		return nil, fmt.Errorf("valve line %d on %s:%d: %w", n, pin.Chip, pin.Offset, err)
	}
	return &GPIOValve{line: n, req: req}, nil
}

// Open energises the valve.
func (v *GPIOValve) Open() error {
	if err := v.req.SetValue(1); err != nil {
		return fmt.Errorf("valve line %d open: %w", v.line, err)
	}
	return nil
}

// Close de-energises the valve.
func (v *GPIOValve) Close() error {
	if err := v.req.SetValue(0); err != nil {
		return fmt.Errorf("valve line %d close: %w", v.line, err)
	}
	return nil
}

// Release drives the valve closed and gives the line back to the kernel.
func (v *GPIOValve) Release() error {
	cerr := v.Close()
	if err := v.req.Close(); err != nil {
		return fmt.Errorf("valve line %d release: %w", v.line, err)
	}
	return cerr
}

// ListChips reports the GPIO chips of the running system with the lines
// other consumers hold.
func ListChips() ([]ChipInfo, error) {
	var out []ChipInfo
	for _, name := range gpiocdev.Chips() {
		c, err := gpiocdev.NewChip(name)
		if err != nil {
			return out, fmt.Errorf("gpio chip %s: %w", name, err)
		}
		info := ChipInfo{Name: c.Name, Label: c.Label, Lines: c.Lines(), Used: map[int]string{}}
		for o := 0; o < info.Lines; o++ {
			li, err := c.LineInfo(o)
			if err == nil && li.Used {
				info.Used[o] = li.Consumer
			}
		}
		c.Close()
		out = append(out, info)
	}
	return out, nil
}

// chipPath turns a profile's chip (name or label) into what gpiocdev opens:
// a name with a device node is used as it is, anything else is looked up
// by label.
func chipPath(chip string) (string, error) {
	dev := chip
	if !strings.HasPrefix(dev, "/dev/") {
		dev = "/dev/" + chip
	}
	if _, err := os.Stat(dev); err == nil {
		return chip, nil
	}
	chips, err := ListChips()
	if err != nil {
		return "", err
	}
	c, err := MatchChip(chip, chips)
	if err != nil {
		return "", err
	}
	return c.Name, nil
}
