package simwall

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/doctor"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/sim/nfcsim"
	"github.com/tapagent/tapagent/storage"
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

// cardReader is the card side of a simulated wall: a PN532 with the deck
// (or a real reader) and the tap controller on the agent.
type cardReader struct {
	sim   *nfcsim.Reader // nil with a real reader
	deck  map[string]*nfcsim.Card
	tap   *cardpay.Tap
	close func()
}

// startCards runs the tap controller on a simulated PN532 over a
// pseudo-terminal (the real driver, real frames), or on the reader at
// port. observe is pointed at the controller so it sees the agent's events.
func startCards(ctx context.Context, cfg *config.Config, agent *device.Agent, store *storage.Store, port string,
	observe *atomic.Pointer[func(device.Event)], now func() time.Time) (*cardReader, error) {
	keys, err := cardpay.Keys(cfg.Cards)
	if err != nil {
		return nil, err
	}
	cr := &cardReader{deck: map[string]*nfcsim.Card{}}
	var t pn532.Transport
	var closers []func()
	if port != "" {
		if t, err = pn532.OpenHSU(port); err != nil {
			return nil, err
		}
	} else {
		m, s, err := pty.Open()
		if err != nil {
			return nil, err
		}
		cr.sim = &nfcsim.Reader{T: nfcsim.Realistic}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { cr.sim.Serve(sctx, s); close(done) }()
		closers = append(closers, func() { stop(); s.Close(); <-done })
		t = pn532.NewHSU(pty.File{File: m})
	}
	d := pn532.NewDevice(t, pn532.Options{})
	fail := func(err error) (*cardReader, error) {
		d.Close()
		for _, c := range closers {
			c()
		}
		return nil, err
	}
	if cr.sim != nil {
		if err := cr.issueDeck(keys); err != nil {
			return fail(err)
		}
	}
	fw, err := doctor.AskReader(ctx, d)
	if err != nil {
		return fail(fmt.Errorf("card reader: %w", err))
	}
	// The tap gets a context of its own: cancelled before the reader is
	// closed, a tap blocked on the reader (a poll waits up to a second)
	// returns at once instead of reporting the closed port as a fault.
	tctx, cancelTap := context.WithCancel(ctx)
	tap, stop, err := cardpay.Start(tctx, d, cfg, agent, store, now, nil)
	if err != nil {
		cancelTap()
		return fail(err)
	}
	cr.tap = tap
	obs := tap.Observe
	observe.Store(&obs)
	var once sync.Once
	cr.close = func() {
		once.Do(func() {
			cancelTap()
			d.Close()
			stop()
			for _, c := range closers {
				c()
			}
		})
	}
	agent.Report(device.Event{Type: "reader_ready", Detail: fmt.Sprintf("%s, lines %v", fw, cardpay.Lines(cfg))})
	return cr, nil
}

// issueDeck writes tapagent's application onto each deck card, straight
// through the card emulator (a charger's job, done before the shift).
func (cr *cardReader) issueDeck(keys cardapp.Keys) error {
	for i, name := range DeckNames() {
		dc := Deck[name]
		c := nfcsim.NewCard(uint64(1000 + i))
		uid, _, _, _ := c.Activation()
		s := &cardapp.Session{C: desfire.New(direct{c}), UID: uid, Keys: keys}
		if err := s.Issue(context.Background(), dc.info, dc.credit); err != nil {
			return fmt.Errorf("simulated card %s: %w", name, err)
		}
		cr.deck[name] = c
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

// present puts a deck card on the simulated reader.
func (cr *cardReader) present(name string) error {
	if cr.sim == nil {
		return fmt.Errorf("a real reader is in use: present the card by hand")
	}
	c, ok := cr.deck[name]
	if !ok {
		return fmt.Errorf("no card %q in the deck (%v)", name, DeckNames())
	}
	c.PutBack()
	cr.sim.Put(c)
	return nil
}

func (cr *cardReader) take() {
	if cr.sim != nil {
		cr.sim.Remove()
	}
}
