package simwall

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/exesim"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/sim/nfcsim"
	"github.com/tapagent/tapagent/transport"
	"github.com/tapagent/tapagent/ttg"
)

// deckCard is a card the simulator issues at start.
type deckCard struct {
	info   cardapp.Info
	credit int64
}

// Deck is the simulated wall's cards, by the name scenarios present them with.
var Deck = map[string]deckCard{
	"guest":   {cardapp.Info{Type: ttg.CardPre, Name: "Guest", Alcohol: true}, 2000},
	"minor":   {cardapp.Info{Type: ttg.CardPre, Name: "Under 18"}, 1000},
	"empty":   {cardapp.Info{Type: ttg.CardPre, Name: "Spent", Alcohol: true}, 0},
	"tab":     {cardapp.Info{Type: ttg.CardBill, Name: "Table 4", Alcohol: true, ServingsLimit: 6}, 0},
	"cleaner": {cardapp.Info{Type: ttg.CardClean, Name: "Cleaning"}, 0},
	"manager": {cardapp.Info{Type: ttg.CardManager, Name: "Manager"}, 0},
}

// DeckNames lists the deck for help texts.
func DeckNames() []string {
	var out []string
	for n := range Deck {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Board is the simulated controller the assembly runs on: the wall's
// valves and meters, a PN532 with the deck of cards, an MDB cashless
// reader behind the Qibixx adapter protocol, an EXE machine behind its
// bridge and a DEX port with no handheld attached, each on a
// pseudo-terminal with the real drivers and frames. A port given in
// Options replaces the simulated peripheral with a real one.
type Board struct {
	*Wall
	cfg *config.Config
	o   Options

	mu      sync.Mutex
	reader  *nfcsim.Reader // nil with a real reader
	deck    map[string]*nfcsim.Card
	cashier *mdbsim.Reader  // nil with a real adapter
	machine *exesim.Machine // nil with a real bridge
	closers []func()
}

// NewBoard builds the simulated board for cfg.
func NewBoard(cfg *config.Config, w *Wall, o Options) *Board {
	return &Board{Wall: w, cfg: cfg, o: o, deck: map[string]*nfcsim.Card{}}
}

// Lines are the simulated lines' valves and meters.
func (b *Board) Lines() (agent.Lines, error) {
	return agent.Lines{Valves: b.Valves, Meters: b.Meters, Release: func() error { return nil }}, nil
}

// Has reports the simulated peripherals: the card reader always; the
// terminal when the configuration sells through one ([mdb] port or lines)
// or a real one is given; the EXE machine, paid at the terminal, when
// [exe] has a port or items or a real bridge is given; the DEX port when
// [dex] names one.
func (b *Board) Has(p agent.Peripheral) bool {
	c := b.cfg
	switch p {
	case agent.CardReader:
		return true
	case agent.CardTerminal:
		return len(c.MDB.Lines) > 0 || c.MDB.Port != "" || b.o.TerminalPort != ""
	case agent.VendMachine:
		return b.Has(agent.CardTerminal) && (len(c.EXE.Items) > 0 || c.EXE.Port != "" || b.o.MachinePort != "")
	case agent.DEXPort:
		return c.DEX.Port != ""
	}
	return false
}

func (b *Board) closeLater(f func()) {
	b.mu.Lock()
	b.closers = append(b.closers, f)
	b.mu.Unlock()
}

// Close stops the simulated peripherals; the assembly has closed its ends.
func (b *Board) Close() {
	b.mu.Lock()
	c := b.closers
	b.closers = nil
	b.mu.Unlock()
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// serve runs a simulated peer on the slave side of a new pseudo-terminal
// until the board closes, and returns the master side for the driver.
func (b *Board) serve(peer func(ctx context.Context, s *os.File)) (*os.File, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { peer(ctx, s); close(done) }()
	b.closeLater(func() { stop(); s.Close(); <-done })
	return m, nil
}

// OpenReader is a simulated PN532 with the deck issued, or the real
// reader on Options.ReaderPort.
func (b *Board) OpenReader(context.Context) (pn532.Transport, error) {
	if b.o.ReaderPort != "" {
		return transport.ReaderPort(b.cfg.Reader, b.o.ReaderPort)
	}
	keys, err := cardpay.Keys(b.cfg.Cards)
	if err != nil {
		return nil, err
	}
	r := &nfcsim.Reader{T: nfcsim.Realistic}
	if err := b.issueDeck(keys); err != nil {
		return nil, err
	}
	m, err := b.serve(func(ctx context.Context, s *os.File) { r.Serve(ctx, s) })
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.reader = r
	b.mu.Unlock()
	return pn532.NewHSU(pty.File{File: m}), nil
}

// issueDeck writes tapagent's application onto each deck card, straight
// through the card emulator (a charger's job, done before the shift).
func (b *Board) issueDeck(keys cardapp.Keys) error {
	for i, name := range DeckNames() {
		dc := Deck[name]
		c := nfcsim.NewCard(uint64(1000 + i))
		if len(keys.PICC.Bytes) > 0 {
			// The site's blanks come with its card master key set.
			c.PICCKey = keys.PICC
		}
		uid, _, _, _ := c.Activation()
		s := &cardapp.Session{C: desfire.New(direct{c}), UID: uid, Keys: keys}
		if err := s.Issue(context.Background(), dc.info, dc.credit); err != nil {
			return fmt.Errorf("simulated card %s: %w", name, err)
		}
		b.deck[name] = c
	}
	return nil
}

// direct reaches a simulated card without a reader.
type direct struct{ c *nfcsim.Card }

func (d direct) Transceive(_ context.Context, frame []byte) ([]byte, error) {
	if out := d.c.Handle(frame); out != nil {
		return out, nil
	}
	return nil, os.ErrDeadlineExceeded
}

// DeviceName says, for the agent's log, where the terminal and the
// machine are: the real port given, or the simulated device.
func (b *Board) DeviceName(p agent.Peripheral) string {
	switch p {
	case agent.CardTerminal:
		if b.o.TerminalPort != "" {
			return b.o.TerminalPort
		}
		return "a pseudo-terminal to the simulated cashless reader"
	case agent.VendMachine:
		if b.o.MachinePort != "" {
			return b.o.MachinePort
		}
		return "a pseudo-terminal to the simulated machine"
	}
	return ""
}

// OpenTerminal is a simulated cashless reader behind the Qibixx adapter
// protocol, or the real transport on Options.TerminalPort.
func (b *Board) OpenTerminal(ctx context.Context) (transport.Bus, error) {
	if b.o.TerminalPort != "" {
		return terminalsale.Open(ctx, b.cfg.MDB, b.o.TerminalPort)
	}
	r := mdbsim.New(transport.MDBAddress(b.cfg.MDB))
	r.Level, r.CashSale = 3, true
	m, err := b.serve(func(ctx context.Context, s *os.File) { mdbsim.ServeQibixx(ctx, s, r) })
	if err != nil {
		return nil, err
	}
	q := mdb.NewQibixx(pty.File{File: m})
	if err := q.Start(ctx); err != nil {
		q.Close()
		return nil, err
	}
	b.mu.Lock()
	b.cashier = r
	b.mu.Unlock()
	return q, nil
}

// OpenMachine is a simulated EXE machine behind its bridge, or the real
// bridge on Options.MachinePort.
func (b *Board) OpenMachine(context.Context) (transport.Port, error) {
	if b.o.MachinePort != "" {
		m, err := transport.OpenEXE(b.cfg.EXE, b.o.MachinePort)
		if err != nil {
			return nil, err
		}
		return m.P, nil
	}
	mc := &exesim.Machine{}
	mc.Set(false, false, false, false, 800*time.Millisecond) // a can takes a moment to drop
	br, err := mc.OnBridge()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.machine = mc
	b.mu.Unlock()
	return bridgePort{File: br.Line, br: br}, nil
}

// bridgePort is the simulated bridge's line; closing it stops the machine.
type bridgePort struct {
	pty.File
	br *exesim.Bridge
}

func (p bridgePort) Close() error { p.br.Close(); return nil }

// OpenDEX is a DEX port with no handheld plugged in: the agent waits for
// a read-out that never comes, as on a machine nobody audits.
func (b *Board) OpenDEX(context.Context) (transport.Port, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, err
	}
	b.closeLater(func() { s.Close() })
	return pty.File{File: m}, nil
}

// present puts a deck card on the simulated reader.
func (b *Board) present(name string) error {
	b.mu.Lock()
	r := b.reader
	b.mu.Unlock()
	if r == nil {
		return fmt.Errorf("a real reader is in use: present the card by hand")
	}
	c, ok := b.deck[name]
	if !ok {
		return fmt.Errorf("no card %q in the deck (%v)", name, DeckNames())
	}
	c.PutBack()
	r.Put(c)
	return nil
}

func (b *Board) take() {
	b.mu.Lock()
	r := b.reader
	b.mu.Unlock()
	if r != nil {
		r.Remove()
	}
}

// pay puts a payment card with funds (the agent's minor units; 0 for
// unknown) at the simulated terminal.
func (b *Board) pay(funds int64) error {
	b.mu.Lock()
	r := b.cashier
	b.mu.Unlock()
	switch {
	case !b.Has(agent.CardTerminal):
		return fmt.Errorf("no MDB terminal: set [mdb] lines")
	case r == nil:
		return fmt.Errorf("a real terminal is in use: present the card by hand")
	}
	f := int32(-1)
	if funds > 0 {
		p, err := mdb.Price(funds, r.Scale, r.Decimals, byte(b.cfg.Device.Decimals), true)
		if err != nil {
			return err
		}
		f = int32(p)
	}
	r.PresentCard(f)
	return nil
}

// vend is a customer pressing a selection on the simulated EXE machine.
func (b *Board) vend(sel int) error {
	b.mu.Lock()
	m := b.machine
	b.mu.Unlock()
	switch {
	case !b.Has(agent.VendMachine):
		return fmt.Errorf("no EXE machine: set [exe] items")
	case m == nil:
		return fmt.Errorf("a real EXE machine is in use: press its button by hand")
	case sel < 0 || sel > 0xFD:
		return fmt.Errorf("selection %d: must be 0-253", sel)
	}
	m.Choose(byte(sel))
	return nil
}
