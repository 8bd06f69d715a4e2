// Package smartnowsync applies what SmartNow holds for this machine — its
// stored configuration (by hostname), its assortment (PLU → name, price)
// and its opening hours — and runs the commands SmartNow queues for it,
// each exactly once across a crash (docs/clouds.md, "SmartNow:
// configuration and commands"). The assembly builds it before the wall
// (its prices and opening hours are read from bbolt, so they hold from the
// first pour after a restart, network or not) and starts it after.
package smartnowsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
)

// Bucket holds the last applied machine state (key "applied") and the
// command journal (keys "cmd/" + 8-byte command id).
const Bucket = "smartnow_config"

// Wall is what the commands and the applied configuration reach of the
// wall core (device.Agent).
type Wall interface {
	SetLocked(by device.Actor, line int, locked bool) error
	SetCleaning(by device.Actor, line int, on bool) error
	Lines() []int
	Status() []device.LineStatus
	Kegs() []device.KegInfo
	Report(device.Event)
	SetProductNames(names map[int]string) []int
}

// Options build a Sync.
type Options struct {
	Config *config.Config
	Store  *storage.Store
	// Client talks to SmartNow; nil builds one from [smartnow].
	Client *smartnow.Client
	Now    func() time.Time
	Log    *slog.Logger
}

// Sync fetches and applies the machine's configuration and runs its
// commands. Its Catalog and Hours are read by the wall.
type Sync struct {
	cfg    config.SmartNow
	lines  []config.Line
	zone   *time.Location
	store  *storage.Store
	client *smartnow.Client
	now    func() time.Time
	log    *slog.Logger

	state   atomic.Pointer[Applied]
	kick    chan struct{}
	applyMu sync.Mutex // one fetch-and-apply at a time (poll, refresh command)

	mu   sync.Mutex
	wall Wall
}

// New builds the sync from the configuration and loads the last applied
// state from the store; nothing is fetched before Start.
func New(o Options) (*Sync, error) {
	if o.Config == nil || o.Store == nil {
		return nil, errors.New("smartnowsync: config and store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	zone, err := o.Config.TTG.Location()
	if err != nil {
		return nil, fmt.Errorf("smartnowsync: %w", err)
	}
	s := &Sync{cfg: o.Config.SmartNow, lines: o.Config.Lines, zone: zone, store: o.Store, client: o.Client,
		now: o.Now, log: o.Log, kick: make(chan struct{}, 1)}
	if s.client == nil {
		c := s.cfg
		s.client = smartnow.NewClient(smartnow.Config{BaseURL: c.URL, Username: c.Username, Password: c.Password, Paths: c.Paths,
			Timeout: c.Timeout.Duration, TokenLifetime: c.TokenLifetime.Duration, Now: o.Now, Log: o.Log})
	}
	st, err := loadApplied(o.Store)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	return s, nil
}

// Start applies the stored product names, then fetches at once and every
// config_poll and polls commands at once and every command_poll until ctx
// ends; stop waits for both loops.
func (s *Sync) Start(ctx context.Context, w Wall) (stop func()) {
	s.Attach(w)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.configLoop(ctx) }()
	go func() { defer wg.Done(); s.commandLoop(ctx) }()
	return func() { cancel(); wg.Wait() }
}

// Attach gives the sync the wall its commands and names act on and names
// the lines' products from the stored assortment; Start calls it.
func (s *Sync) Attach(w Wall) {
	s.mu.Lock()
	s.wall = w
	s.mu.Unlock()
	a := s.state.Load()
	s.applyNames(a)
	s.unpriced(a)
}

func (s *Sync) getWall() Wall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wall
}

// configLoop fetches at once, then every config_poll or when kicked.
func (s *Sync) configLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		if _, err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("smartnow machine configuration not fetched; the last applied one stays", "err", err)
		}
		t.Reset(s.cfg.ConfigPoll.Duration)
	}
}

// commandLoop reports what a crash left, then polls at once and every
// command_poll.
func (s *Sync) commandLoop(ctx context.Context) {
	if s.cfg.MachineID <= 0 {
		return // commands are addressed by the machine's id
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.PollCommands(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("smartnow commands not polled", "err", err)
		}
		t.Reset(s.cfg.CommandPoll.Duration)
	}
}

// Applied is what was last applied from SmartNow, as kept in bbolt.
type Applied struct {
	// Assortment is nil until one was fetched; Products by PLU.
	Assortment map[int]smartnow.Product `json:"assortment"`
	// Hours are the opening hours; HaveHours is false until fetched (an
	// empty list fetched means no opening hours: always open).
	Hours     []smartnow.OpeningHour `json:"hours"`
	HaveHours bool                   `json:"have_hours"`
	// Settings are the machine configuration's keys that map.
	Settings Settings  `json:"settings"`
	Ignored  []string  `json:"ignored,omitempty"`
	At       time.Time `json:"at"`
}

var appliedKey = []byte("applied")

func loadApplied(st *storage.Store) (*Applied, error) {
	a := &Applied{}
	err := st.View(Bucket, func(b storage.Bucket) error {
		raw := b.Get(appliedKey)
		if raw == nil {
			return nil
		}
		return json.Unmarshal(raw, a)
	})
	if err != nil {
		return nil, fmt.Errorf("smartnowsync: reading the applied configuration: %w", err)
	}
	return a, nil
}

func (s *Sync) saveApplied(a *Applied) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.store.Update(Bucket, func(b storage.Bucket) error { return b.Put(appliedKey, raw) })
}

// State is the configuration applied now (a copy's pointer: never modify).
func (s *Sync) State() *Applied { return s.state.Load() }

func (s *Sync) report(ev device.Event) {
	if w := s.getWall(); w != nil {
		w.Report(ev)
	}
}
