package simwall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/agent/auditfeed"
	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/agent/diagcmd"
	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
	"github.com/tapagent/tapagent/web"
)

// Output selects how a run is shown.
type Output int

// Outputs.
const (
	OutputLines Output = iota // one readable line per event
	OutputView                // live terminal view, redrawn in place
	OutputJSON                // one JSON event per line
)

// Options configure a simulated run.
type Options struct {
	Config   *config.Config
	Scenario *sim.Scenario
	// Duration of virtual time; zero takes the scenario's, negative runs
	// until ctx ends.
	Duration time.Duration
	// Speed is virtual seconds per real second; zero runs flat out.
	Speed  float64
	Out    io.Writer
	Output Output
	Log    *slog.Logger
	// Start is the virtual wall time at the beginning; zero takes time.Now.
	Start time.Time
	// NoTTG runs without a TTG server; otherwise Config.TTG.URL is used, or
	// the embedded emulator when it is empty.
	NoTTG bool
	// Version is reported in the MQTT status and the audit.
	Version string
	// ConfigPath is the --config file, if any (config.set writes it).
	ConfigPath string
	// ReaderPort uses a real PN532 on this serial port instead of the
	// simulated reader and its deck of cards.
	ReaderPort string
	// TerminalPort uses a real MDB adapter or UART ([mdb] transport) on
	// this port instead of the simulated cashless reader.
	TerminalPort string
	// MachinePort uses a real EXE bridge on this port instead of the
	// simulated vending machine ([exe] items, paid at the terminal).
	MachinePort string
	// WebLogin tells how to log in to the dashboard ([web] listen); it is
	// shown beside the dashboard's address.
	WebLogin string
}

// Summary is what a run did, for the closing line.
type Summary struct {
	Virtual time.Duration
	Events  map[string]int // count by event type
	Outbox  int            // records waiting for upload
	Dropped int            // events the output could not keep up with (all are in the event log)
	TTG     string         // the TTG server used, "" for none
}

// stepLen is how much virtual time passes between scenario and pacing checks.
const stepLen = 5 * time.Millisecond

// Run plays the scenario until its duration or ctx ends, then shuts the
// agent down the way SIGTERM does: valves closed, pours settled and booked.
func Run(ctx context.Context, o Options) (*Summary, error) {
	cfg := o.Config
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	clk := clock.NewManual(o.Start)
	wall, err := NewWall(cfg, clk)
	if err != nil {
		return nil, err
	}
	store, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{
		OpenTimeout: cfg.Storage.OpenTimeout.Duration, MaxEvents: cfg.Storage.MaxEvents, Now: time.Now})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	out := newPrinter(o, cfg)
	opts := device.Options{Config: cfg, Clock: clk, Store: store, Valves: wall.Valves,
		Meters: wall.Meters, Log: o.Log, Emit: out.emit,
		// A simulated wall has nothing to restart; the request is an event.
		Restart: func() error { return nil }}
	var register *cashregister.Register
	if cfg.POS.Listen != "" {
		register = cashregister.NewRegister(store, cashregister.ArticlesFrom(cfg), clk.Now)
		opts.Register = register
	}
	audit := evadts.NewAudit(store, clk.Now)
	withTerminal := len(cfg.MDB.Lines) > 0 || o.TerminalPort != ""
	if withTerminal {
		opts.Settle = auditfeed.Settle(audit, register, cardpay.Settle, terminalsale.Settle)
	} else {
		opts.Settle = auditfeed.Settle(audit, register, cardpay.Settle)
	}
	var mqttEvents, tapEvents, webEvents atomic.Pointer[func(device.Event)]
	opts.Emit = auditfeed.Events(audit, func(ev device.Event) {
		out.emit(ev)
		if f := webEvents.Load(); f != nil {
			(*f)(ev)
		}
		if f := mqttEvents.Load(); f != nil {
			(*f)(ev)
		}
		if f := tapEvents.Load(); f != nil {
			(*f)(ev)
		}
	}, o.Log)
	var up *serversync.Uplink
	if !o.NoTTG {
		if up, err = serversync.New(cfg, store, true, o.Log); err != nil {
			return nil, err
		}
		opts.Catalog, opts.Cards, opts.OnBooked = up.Syncer, up.Syncer, up.Syncer.Kick
	}
	agent, err := device.New(opts)
	if err != nil {
		return nil, err
	}
	var readerTap atomic.Pointer[cardpay.Tap]
	var term atomic.Pointer[terminal]
	parts := diagcmd.Parts{Config: cfg, Agent: agent, Store: store, Audit: audit, Uplink: up, Version: o.Version, ConfigPath: o.ConfigPath, Log: o.Log,
		Reader: func() any {
			if t := readerTap.Load(); t != nil {
				return t.Health()
			}
			return nil
		}}
	if withTerminal {
		parts.Terminal = func() any { return term.Load().health() }
		parts.TerminalSelect = func(line int) error { return term.Load().choose(line) }
		if len(cfg.EXE.Items) > 0 || o.MachinePort != "" {
			parts.Machine = func() any { return term.Load().machineHealth() }
		}
	}
	if parts.Updater, err = diagcmd.NewUpdater(parts); err != nil {
		return nil, err
	}
	src := web.Sources{Reader: parts.Reader, Terminal: parts.Terminal, Machine: parts.Machine, Sys: sysinfo.NewReader(cfg.Device.DataDir)}
	if up != nil {
		src.Link = up.LinkState
	}
	if cfg.MQTT.Broker != "" {
		dctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		dg, events, err := diagcmd.Start(dctx, parts, fmt.Sprintf("%d-%d", cfg.Device.ID, time.Now().UnixMilli()), done)
		switch {
		case errors.Is(err, diagcmd.ErrLinkRefused):
			// Only the link is off, as on a real wall: the simulation runs on.
			stop()
			o.Log.Error("MQTT diagnostics off; fix the configuration and restart", "err", err)
		case err != nil:
			stop()
			return nil, err
		default:
			mqttEvents.Store(&events)
			src.Broker, src.BrokerURL = dg.LinkError, cfg.MQTT.Broker
			// Runs after the agent has closed and booked (defers run last-in first-out).
			defer func() { stop(); <-done }()
		}
	}
	if err := agent.Start(); err != nil {
		return nil, err
	}
	stopAPI, err := localapi.Start(ctx, localapi.Options{Path: localapi.SocketPath(cfg.Device.DataDir), Agent: agent, Store: store,
		Audit: audit, Identity: evadts.IdentityFrom(cfg, o.Version), Version: o.Version, Now: clk.Now, Log: o.Log})
	if err != nil {
		return nil, err
	}
	defer stopAPI()
	var cash *cashregister.Server
	if register != nil {
		if n, err := register.Reconcile(); err != nil {
			return nil, err
		} else if n > 0 {
			agent.Report(device.Event{Type: "pos_reconciled", Detail: fmt.Sprintf("%d unused waiter reservations given back", n)})
		}
		if cash, err = cashregister.Serve(cfg.POS.Listen, cfg.POS.APIKey, register); err != nil {
			return nil, fmt.Errorf("cash interface: %w", err)
		}
		defer cash.Close()
		agent.Report(device.Event{Type: "pos_listening", Detail: cash.URL})
	}
	if cfg.Web.Listen != "" {
		ws, err := web.Start(ctx, web.ForAgent(cfg, dashboardWall{agent, wall}, store, src, clk.Now, o.Version, o.Log))
		if err != nil {
			return nil, err
		}
		defer ws.Close()
		obs := ws.Observe
		webEvents.Store(&obs)
		out.banner("web dashboard " + ws.URL + "/ " + o.WebLogin)
		agent.Report(device.Event{Type: device.EventWebListening, Detail: ws.URL})
	}
	if cfg.Control.Listen != "" {
		ctl, err := startControl(cfg, agent, up, func() { _, _ = parts.Updater.Notified(ctx, cfg.Firmware.ManifestURL, o.Version) })
		if err != nil {
			return nil, err
		}
		defer ctl.Close()
	}
	if up != nil {
		up.Start(agent.Report)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := up.Syncer.Refresh(rctx); err != nil {
			o.Log.Warn("TTG server not reachable at start; pricing from configuration", "url", up.URL, "err", err)
		}
		cancel()
	}
	cards, err := startCards(ctx, cfg, agent, store, o.ReaderPort, &tapEvents, clk.Now)
	if err != nil {
		return nil, err
	}
	defer cards.close()
	readerTap.Store(cards.tap)
	tm, err := startTerminal(ctx, cfg, agent, store, o.TerminalPort, o.MachinePort, o.Version, clk.Now)
	if err != nil {
		return nil, fmt.Errorf("MDB terminal: %w", err)
	}
	if tm != nil {
		defer tm.close()
		term.Store(tm)
	}
	r := &runner{o: o, cfg: cfg, clk: clk, wall: wall, agent: agent, out: out, ctx: ctx, up: up, cash: cash, cards: cards, terminal: tm}
	r.loop(ctx)
	cards.close() // no new taps while the wall shuts down
	if tm != nil {
		tm.close()
	}
	closeErr := r.shutdown()
	if up != nil {
		if err := up.Stop(5 * time.Second); err != nil {
			o.Log.Warn("TTG upload incomplete at exit; records stay in the outbox", "err", err)
		}
	}
	out.close()
	sum := &Summary{Virtual: clk.Mono() - time.Second, Events: out.counts, Dropped: out.dropped}
	sum.Outbox, _ = store.OutboxLen()
	if up != nil {
		sum.TTG = up.URL
	}
	return sum, closeErr
}

type runner struct {
	o        Options
	cfg      *config.Config
	clk      *clock.Manual
	wall     *Wall
	agent    *device.Agent
	out      *printer
	next     int
	ctx      context.Context
	up       *serversync.Uplink
	cash     *cashregister.Server
	cards    *cardReader
	terminal *terminal
	// creditAt is where each credit step's resource is, by registerID,
	// for replays sent later.
	creditAt map[int64]string
}

// item resolves a scenario's item_id against the server's items for the
// line: portion volume, price now (happy hours included) and the item id
// that the transaction must carry.
func (r *runner) item(req *device.Request, st sim.Step) error {
	if r.up == nil || r.up.Syncer.Catalog() == nil {
		if st.PortionML > 0 {
			return nil // no server: the step's own portion_ml and portion_price
		}
		return fmt.Errorf("item %q needs the TTG server's catalog", st.ItemID)
	}
	items, err := r.agent.LineItems(st.Line) // as a real wall prices them
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.ItemID == st.ItemID {
			req.Auth = flow.Auth{Mode: flow.ModePortion, PortionVol: it.Volume, PortionPrice: it.Price}
			req.Ref[ttg.RefItemID], req.Ref[device.RefPricingState] = it.ItemID, fmt.Sprint(it.State)
			return nil
		}
	}
	return fmt.Errorf("item %q is not offered on line %d", st.ItemID, st.Line)
}

func (r *runner) loop(ctx context.Context) {
	dur := r.o.Duration
	if dur == 0 && r.o.Scenario != nil {
		dur = r.o.Scenario.Duration.Duration
	}
	t0, real0 := r.clk.Mono(), time.Now()
	tick := r.cfg.Device.Tick.Duration
	lastTick, lastDraw := t0, time.Time{}
	for ctx.Err() == nil && (dur <= 0 || r.clk.Mono()-t0 < dur) {
		r.play(r.clk.Mono() - t0)
		r.wall.Board.Advance(stepLen)
		if now := r.clk.Mono(); now-lastTick >= tick {
			r.agent.Tick()
			lastTick = now
		}
		if r.o.Output == OutputView && time.Since(lastDraw) >= 250*time.Millisecond {
			r.out.draw(r.agent.Status(), r.clk.Mono()-t0)
			lastDraw = time.Now()
		}
		r.pace(real0, r.clk.Mono()-t0)
	}
}

// pace sleeps so that virtual time follows real time at the chosen speed.
func (r *runner) pace(real0 time.Time, virtual time.Duration) {
	if r.o.Speed <= 0 {
		return
	}
	ahead := time.Duration(float64(virtual)/r.o.Speed) - time.Since(real0)
	if ahead > 2*time.Millisecond {
		time.Sleep(ahead)
	}
}

// play applies the scenario steps that are due.
func (r *runner) play(at time.Duration) {
	sc := r.o.Scenario
	for sc != nil && r.next < len(sc.Steps) && sc.Steps[r.next].At.Duration <= at {
		st := sc.Steps[r.next]
		r.next++
		if err := r.apply(st); err != nil {
			r.out.emit(device.Event{Time: r.clk.Now().UTC(), Type: "scenario_error", Line: st.Line,
				Detail: fmt.Sprintf("%s: %v", st.Action, err)})
		}
	}
}

func (r *runner) apply(st sim.Step) error {
	switch st.Action { // the reader's actions name no line
	case "present":
		return r.cards.present(st.Card)
	case "take":
		r.cards.take()
		return nil
	case "terminal":
		return r.terminal.present(st.Funds)
	case "select":
		return r.terminal.choose(st.Line)
	case "vend":
		return r.terminal.vend(st.Selection)
	}
	line := r.wall.Board.Line(st.Line)
	lc, ok := r.cfg.Line(st.Line)
	if line == nil || !ok {
		return fmt.Errorf("no line %d", st.Line)
	}
	switch st.Action {
	case "authorise":
		req := device.Request{Auth: authFor(st, lc), Ref: map[string]string{"source": "scenario"}}
		if st.ItemID != "" {
			if err := r.item(&req, st); err != nil {
				return err
			}
		}
		_, err := r.agent.Authorise(st.Line, req)
		return err
	case "pour":
		p, err := st.FlowProfile()
		if err != nil {
			return err
		}
		line.Pour(p)
	case "release_handle":
		line.ReleaseHandle()
	case "stop":
		return r.agent.Stop(st.Line)
	case "leak":
		line.Leak(st.RateMLs, st.For.Duration)
	case "empty_keg":
		left := st.KegML
		if left == 0 {
			left = 100
		}
		line.SetKeg(left)
	case "change_keg":
		size := st.KegSizeL
		if size == 0 {
			size = lc.KegSizeL
		}
		line.SetKeg(size * 1000)
		return r.agent.ChangeKeg(scenarioActor, device.KegChange{Line: st.Line, Size: flow.Vol(size * 10000)})
	case "card":
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		defer cancel()
		_, err := r.agent.CardTap(ctx, st.Line, st.CardID)
		return err
	case "credit":
		return r.postCredit(st)
	case "waiter":
		_, err := r.agent.WaiterTap(st.Line, st.Waiter)
		return err
	case "lock":
		return r.agent.SetLocked(scenarioActor, st.Line, true)
	case "unlock":
		return r.agent.SetLocked(scenarioActor, st.Line, false)
	}
	return nil
}

// scenarioActor is who a scenario's keg and line operations are audited as.
var scenarioActor = device.Actor{Name: "scenario", Via: "scenario"}

// authFor turns a scenario step into an authorisation. A free pour whose
// step names no price is left unpriced, so that the agent prices it as on
// a real wall: the server's price with any happy hour in effect, or the
// line's configured price without a server.
func authFor(st sim.Step, lc config.Line) flow.Auth {
	price := lc.UnitPrice()
	if st.Price > 0 {
		price.Minor = st.Price
	}
	if st.PricePerML > 0 {
		price.PerVol = flow.Vol(st.PricePerML * 10)
	}
	free := flow.Price{}
	if st.Price > 0 || st.PricePerML > 0 {
		free = price
	}
	a := flow.Auth{Mode: flow.ModeFree, Price: free, CapVol: flow.Vol(st.CapML * 10), CapMoney: st.CapMoney}
	switch st.Mode {
	case "portion":
		a = flow.Auth{Mode: flow.ModePortion, PortionVol: flow.Vol(st.PortionML * 10), PortionPrice: st.PortionCost, Price: price}
	case "cleaning":
		a = flow.Auth{Mode: flow.ModeCleaning}
	}
	return a
}

// shutdown stops every pour, lets overrun settle in virtual time and books.
func (r *runner) shutdown() error {
	r.agent.StopAll(flow.ReasonShutdown)
	for i := 0; i < 400 && r.agent.Busy(); i++ { // at most 2 s of virtual settling
		r.wall.Board.Advance(stepLen)
		r.agent.Tick()
	}
	return r.agent.Close()
}

// printer serialises events to the output without ever blocking the agent.
type printer struct {
	o       Options
	cfg     *config.Config
	ch      chan device.Event
	done    chan struct{}
	mu      sync.Mutex
	recent  []string
	counts  map[string]int
	dropped int
	enc     *json.Encoder
	// head is shown above the live view (the dashboard's address).
	head string
}

func newPrinter(o Options, cfg *config.Config) *printer {
	p := &printer{o: o, cfg: cfg, ch: make(chan device.Event, 8192), done: make(chan struct{}),
		counts: map[string]int{}, enc: json.NewEncoder(o.Out)}
	go p.run()
	return p
}

func (p *printer) emit(ev device.Event) {
	select {
	case p.ch <- ev:
	default:
		p.mu.Lock()
		p.dropped++
		p.mu.Unlock()
	}
}

func (p *printer) run() {
	defer close(p.done)
	for ev := range p.ch {
		p.mu.Lock()
		p.counts[ev.Type]++
		line := describe(ev, p.cfg)
		if ev.Type != device.EvCheckpoint {
			p.recent = append(p.recent, line)
			if len(p.recent) > 12 {
				p.recent = p.recent[1:]
			}
		}
		p.mu.Unlock()
		switch p.o.Output {
		case OutputJSON:
			_ = p.enc.Encode(ev)
		case OutputLines:
			if ev.Type != device.EvCheckpoint {
				fmt.Fprintln(p.o.Out, line)
			}
		}
	}
}

// banner prints a line now and keeps it above the live view.
func (p *printer) banner(s string) {
	p.mu.Lock()
	p.head = s
	p.mu.Unlock()
	if p.o.Output != OutputJSON {
		fmt.Fprintln(p.o.Out, s)
	}
}

func (p *printer) close() {
	close(p.ch)
	<-p.done
}

func (p *printer) draw(st []device.LineStatus, at time.Duration) {
	p.mu.Lock()
	recent := append([]string(nil), p.recent...)
	head := p.head
	p.mu.Unlock()
	io.WriteString(p.o.Out, "\x1b[H\x1b[2J")
	if head != "" {
		fmt.Fprintln(p.o.Out, head)
	}
	RenderView(p.o.Out, p.cfg, st, recent, at)
}
