package board

import (
	"fmt"
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
	req, err := gpiocdev.RequestLine(m.pin.Chip, m.pin.Offset, opts...)
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
	req, err := gpiocdev.RequestLine(pin.Chip, pin.Offset, opts...)
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
