package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/transport"
)

// Linux is the controller's own board: GPIO valves and meters from the
// board profile, and the peripherals on the ports the configuration names.
type Linux struct {
	cfg *config.Config
}

// LinuxBoard is the board of `tapagent run` for cfg; it opens nothing yet.
func LinuxBoard(cfg *config.Config) *Linux { return &Linux{cfg: cfg} }

// Lines requests every valve (driven closed at once) and prepares the
// meters of the configured lines from the board profile.
func (b *Linux) Lines() (Lines, error) {
	prof, err := board.LoadProfile(b.cfg.Board.Profile)
	if err != nil {
		return Lines{}, err
	}
	var gpio []*board.GPIOValve
	release := func() error {
		var errs []error
		for _, v := range gpio {
			errs = append(errs, v.Release())
		}
		return errors.Join(errs...)
	}
	l := Lines{Valves: map[int]board.Valve{}, Meters: map[int]board.PulseSource{}, Release: release}
	for _, lc := range b.cfg.Lines {
		pins, ok := prof.Line(lc.ID)
		if !ok {
			_ = release()
			return Lines{}, fmt.Errorf("board profile %q has no line %d", prof.Name, lc.ID)
		}
		v, err := board.OpenGPIOValve(lc.ID, pins.Valve)
		if err != nil {
			_ = release()
			return Lines{}, err
		}
		gpio = append(gpio, v)
		l.Valves[lc.ID] = v
		l.Meters[lc.ID] = board.NewGPIOMeter(lc.ID, pins.Meter)
	}
	return l, nil
}

// Has reports the peripherals the configuration names a port for.
func (b *Linux) Has(p Peripheral) bool {
	c := b.cfg
	switch p {
	case CardReader:
		return c.Reader.Port != "" || c.Reader.I2C != ""
	case CardTerminal:
		return c.MDB.Port != ""
	case VendMachine:
		return c.EXE.Port != ""
	case DEXPort:
		return c.DEX.Port != ""
	}
	return false
}

// OpenReader opens the PN532 on its serial port or I2C bus.
func (b *Linux) OpenReader(context.Context) (pn532.Transport, error) {
	return transport.ReaderPort(b.cfg.Reader, "")
}

// OpenTerminal opens the MDB bus as a link the terminal reopens when the
// port disappears and comes back.
func (b *Linux) OpenTerminal(ctx context.Context) (transport.Bus, error) {
	return terminalsale.Open(ctx, b.cfg.MDB, "")
}

// OpenMachine opens the EXE bridge.
func (b *Linux) OpenMachine(context.Context) (transport.Port, error) {
	m, err := transport.OpenEXE(b.cfg.EXE, "")
	if err != nil {
		return nil, err
	}
	return m.P, nil
}

// OpenDEX opens the DEX/UCS port.
func (b *Linux) OpenDEX(context.Context) (transport.Port, error) {
	return transport.OpenDEX(b.cfg.DEX)
}
