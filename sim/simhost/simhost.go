// Package simhost is a simulated controller for `tapagent doctor`: a
// Raspberry Pi 4 or 5 as the package leaves it (device tree, GPIO chips,
// device nodes with their owners, the service user, a synchronised clock,
// a disk), with named faults a technician meets in the field.
package simhost

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"time"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/sim/nfcsim"
	"github.com/tapagent/tapagent/transport"
)

// Group ids on the simulated board (Raspberry Pi OS numbers).
const (
	gidDialout  = 20
	gidGPIO     = 997
	gidI2C      = 998
	uidTapagent = 990
	gidTapagent = 990
)

// Board is a simulated controller. Its fields are plain data: tests and
// faults change them directly.
type Board struct {
	Compat   []string
	NoDT     bool
	GPIO     []board.ChipInfo
	Nodes    map[string]board.Node
	Accounts map[string]board.Account
	Synced   bool
	MaxError time.Duration
	Free     uint64
	Total    uint64
	Adapters map[string]string
	// ReaderSilent leaves the simulated PN532 unpowered.
	ReaderSilent bool
	// TerminalSilent leaves the simulated MDB card terminal unpowered.
	TerminalSilent bool
}

// New returns a healthy board of the given model ("rpi4" or "rpi5") with
// the agent's data in dataDir and its configuration in confDir.
func New(model, dataDir, confDir string) (*Board, error) {
	b := &Board{
		Nodes: map[string]board.Node{
			"/dev/ttyAMA0":         {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660, GID: gidDialout},
			"/dev/i2c-1":           {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660, GID: gidI2C},
			"/dev/tapagent-dex":    {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660, GID: gidDialout},
			"/dev/tapagent-reader": {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660, GID: gidDialout},
			dataDir:                {Mode: fs.ModeDir | 0o750, UID: uidTapagent, GID: gidTapagent},
			confDir:                {Mode: fs.ModeDir | 0o750, UID: uidTapagent, GID: gidTapagent},
		},
		Accounts: map[string]board.Account{
			"tapagent": {Name: "tapagent", UID: uidTapagent, GIDs: []uint32{gidTapagent, gidDialout, gidGPIO, gidI2C}},
		},
		Synced: true, MaxError: 20 * time.Millisecond,
		Free: 12 << 30, Total: 29 << 30,
		Adapters: map[string]string{"usb-FTDI_FT232R_USB_UART_A10KDEX1-if00-port0": "/dev/ttyUSB0"},
	}
	b.Nodes["/dev/ttyUSB0"] = board.Node{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660, GID: gidDialout}
	switch model {
	case "rpi4":
		b.Compat = []string{"raspberrypi,4-model-b", "brcm,bcm2711"}
		b.GPIO = []board.ChipInfo{
			{Name: "gpiochip0", Label: "pinctrl-bcm2711", Lines: 58, Used: map[int]string{}},
			{Name: "gpiochip1", Label: "raspberrypi-exp-gpio", Lines: 8, Used: map[int]string{2: "led1"}},
		}
	case "rpi5":
		b.Compat = []string{"raspberrypi,5-model-b", "brcm,bcm2712"}
		b.GPIO = []board.ChipInfo{
			{Name: "gpiochip0", Label: "pinctrl-rp1", Lines: 54, Used: map[int]string{}},
			{Name: "gpiochip10", Label: "gpio-brcmstb@107d508500", Lines: 32, Used: map[int]string{}},
		}
	default:
		return nil, fmt.Errorf("simulated board %q: want rpi4 or rpi5", model)
	}
	for _, c := range b.GPIO {
		b.Nodes["/dev/"+c.Name] = board.Node{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660, GID: gidGPIO}
	}
	return b, nil
}

// Faults lists the faults Inject knows.
func Faults() []string {
	return slices.Sorted(maps.Keys(faults))
}

var faults = map[string]func(b *Board){
	// The profile is for another board (a Pi 4 profile on a Pi 5).
	"wrong-board": func(b *Board) { b.Compat = []string{"raspberrypi,3-model-b-plus", "brcm,bcm2837"} },
	// A 1-wire overlay holds BCM 17, the first meter's pin.
	"pin-busy": func(b *Board) { b.GPIO[0].Used[17] = "w1-gpio" },
	// Plain Debian: the GPIO chips are root-only.
	"gpio-root-only": func(b *Board) {
		for _, c := range b.GPIO {
			b.Nodes["/dev/"+c.Name] = board.Node{Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600}
		}
	},
	// The UART is still Bluetooth's: no ttyAMA0.
	"uart-off": func(b *Board) { delete(b.Nodes, "/dev/ttyAMA0") },
	// The DEX adapter is unplugged.
	"dex-unplugged": func(b *Board) { delete(b.Nodes, "/dev/tapagent-dex"); b.Adapters = nil },
	// The service user was created by hand, without dialout and gpio.
	"user-groups": func(b *Board) {
		b.Accounts["tapagent"] = board.Account{Name: "tapagent", UID: uidTapagent, GIDs: []uint32{gidTapagent}}
	},
	// No NTP reachable since boot.
	"clock-unsynced": func(b *Board) { b.Synced = false },
	// The SD card is full.
	"disk-full": func(b *Board) { b.Free = 12 << 20 },
	// The card reader has no power or a broken cable.
	"reader-silent": func(b *Board) { b.ReaderSilent = true },
	// The MDB card terminal has no power or sits on the other address.
	"mdb-silent": func(b *Board) { b.TerminalSilent = true },
}

// Inject applies a named fault.
func (b *Board) Inject(name string) error {
	f, ok := faults[name]
	if !ok {
		return fmt.Errorf("unknown fault %q (known: %v)", name, Faults())
	}
	f(b)
	return nil
}

// Compatible implements the host checks of tapagent doctor.
func (b *Board) Compatible() ([]string, error) {
	if b.NoDT {
		return nil, fs.ErrNotExist
	}
	return b.Compat, nil
}

// Chips implements doctor.Host.
func (b *Board) Chips() ([]board.ChipInfo, error) { return b.GPIO, nil }

// Node implements doctor.Host.
func (b *Board) Node(path string) (board.Node, error) {
	n, ok := b.Nodes[path]
	if !ok {
		return board.Node{}, fmt.Errorf("stat %s: %w", path, fs.ErrNotExist)
	}
	return n, nil
}

// Account implements doctor.Host.
func (b *Board) Account(name string) (board.Account, error) {
	a, ok := b.Accounts[name]
	if !ok {
		return board.Account{}, fmt.Errorf("unknown user %s", name)
	}
	return a, nil
}

// Clock implements doctor.Host.
func (b *Board) Clock() (bool, time.Duration, error) { return b.Synced, b.MaxError, nil }

// Disk implements doctor.Host.
func (b *Board) Disk(string) (uint64, uint64, error) { return b.Free, b.Total, nil }

// SerialAdapters implements doctor.Host.
func (b *Board) SerialAdapters() (map[string]string, error) { return b.Adapters, nil }

// ReaderProbe is doctor's reader check against a simulated PN532 on a
// pseudo-terminal, through the real driver.
func (b *Board) ReaderProbe(ctx context.Context) (string, error) {
	m, s, err := pty.Open()
	if err != nil {
		return "", err
	}
	defer m.Close()
	defer s.Close()
	if !b.ReaderSilent {
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { (&nfcsim.Reader{}).Serve(sctx, s); close(done) }()
		defer func() { stop(); s.Close(); <-done }()
	}
	d := pn532.NewDevice(pn532.NewHSU(pty.File{File: m}), pn532.Options{AckTimeout: 50 * time.Millisecond})
	return transport.AskReader(ctx, d)
}

// TerminalBus is an MDB bus with a simulated cashless reader at addr,
// behind the Qibixx adapter protocol on a pseudo-terminal: doctor's MDB
// check runs the real adapter driver and VMC on it. close ends it.
func (b *Board) TerminalBus(ctx context.Context, addr byte) (mdb.Transport, func(), error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	r := mdbsim.New(addr)
	r.F.Silent = b.TerminalSilent
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { mdbsim.ServeQibixx(sctx, s, r); close(done) }()
	end := func() { stop(); s.Close(); <-done; m.Close() }
	q := mdb.NewQibixx(pty.File{File: m})
	q.Timeout = 200 * time.Millisecond
	if err := q.Start(ctx); err != nil {
		end()
		return nil, nil, err
	}
	return q, end, nil
}
