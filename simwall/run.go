package simwall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tapagent/tapagent/storage"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/agent/accountpay"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
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
	// TermSize reports the terminal's columns and rows for the live view
	// (nil: 80 × 24); Resized signals a change (SIGWINCH) for an
	// immediate redraw. Colour colours alarms and faults in the view.
	TermSize func() (width, height int)
	Resized  <-chan os.Signal
	Colour   bool
	// WebLogin tells how to log in to the dashboard ([web] listen); it is
	// shown beside the dashboard's address.
	WebLogin string
	// WebFallback is where the dashboard listens when [web] listen is
	// taken ("" fails the run instead).
	WebFallback string
	// TouchTopUp runs the TouchTopUp emulator with two accounts and a till
	// that collects their debits (simwall/touchtopup.go).
	TouchTopUp bool
	// Telemetron (--telemetron) starts the Telemetron emulator on
	// loopback and feeds it (simwall/telemetron.go), and serves the
	// machine's own Telemetron API with a printed login
	// (simwall/telemetronapi.go).
	Telemetron bool
	// telemetronLogin is that login, shown beside the API's address.
	telemetronLogin string
	// SmartNow runs the SmartNow emulator with vouchers (simwall/smartnow.go).
	SmartNow bool
}

// Summary is what a run did, for the closing line.
type Summary struct {
	Virtual time.Duration
	Events  map[device.EventType]int // count by event type
	Outbox  int                      // records waiting for upload
	Dropped int                      // events the output could not keep up with (all are in the event log)
	TTG     string                   // the TTG server used, "" for none
	// TTGRecords is how many records the embedded TTG server stored
	// during the run (transactions and card purchases); -1 for another
	// server, whose store the simulator cannot see.
	TTGRecords int
	Clouds     []string // a line per cloud emulator: what arrived
}

// stepLen is how much virtual time passes between scenario and pacing checks.
const stepLen = 5 * time.Millisecond

// Run plays the scenario until its duration or ctx ends, then shuts the
// agent down the way SIGTERM does: valves closed, pours settled and booked.
// It is the daemon's own assembly (package agent) on the simulated board,
// with the embedded TTG server unless one is configured or NoTTG is set.
func Run(ctx context.Context, o Options) (*Summary, error) {
	cfg := o.Config
	o.addScenarioClouds()
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := siteFile(cfg, o); err != nil {
		return nil, err
	}
	clk := clock.NewManual(o.Start)
	wall, err := NewWall(cfg, clk)
	if err != nil {
		return nil, err
	}
	hw := NewBoard(cfg, wall, o)
	defer hw.Close()
	tt, err := startTouchTopUp(cfg, o)
	if err != nil {
		return nil, err
	}
	defer tt.close()
	peers := agent.PeersFrom(cfg)
	var emb *serversync.Embedded
	switch {
	case o.NoTTG:
		peers.TTG = ""
	case peers.TTG == "" && cfg.SmartNow.Prices:
		// One price authority: the embedded TTG server would price the
		// lines beside SmartNow's assortment (Validate refuses ttg.url
		// with [smartnow] prices for the same reason).
		o.Log.Warn("[smartnow] prices: SmartNow's assortment prices the lines; the embedded TTG server is not started")
	case peers.TTG == "":
		if emb, err = serversync.StartEmbedded(cfg, o.Log); err != nil {
			return nil, err
		}
		defer emb.Close()
		peers.TTG = emb.URL
	}
	tm, err := startTelemetron(cfg, o.Telemetron)
	if err != nil {
		return nil, err
	}
	defer tm.close()
	var sn *simSmartNow
	if o.SmartNow {
		cfg.SmartNow.Prices = peers.TTG == "" // one price authority: the assortment prices only without TTG
		if sn, err = startSmartNow(ctx, cfg, o.Log); err != nil {
			return nil, err
		}
		defer sn.close()
	}
	if o.Speed == 0 && needsRealTime(o.Scenario) {
		o.Log.Warn("the scenario puts cards or payment cards on simulated readers, whose timing is real: running at speed 1 instead of flat out")
		o.Speed = 1
	}
	if o.telemetronLogin, err = serveTelemetronAPI(cfg, o); err != nil {
		return nil, err
	}
	out := newPrinter(o, cfg)
	out.emulators(cfg, sn != nil, tm != nil, tt != nil)
	r := &runner{o: o, cfg: cfg, clk: clk, wall: wall, board: hw, out: out, tt: tt, tm: tm, sn: sn}
	sum := &Summary{TTG: peers.TTG, TTGRecords: -1}
	ttgBefore := ttgStored(emb)
	a, err := agent.New(agent.Options{Config: cfg, ConfigPath: o.ConfigPath, Version: o.Version, Hardware: hw, Peers: peers,
		Clock: clk, Log: o.Log, Events: out.emit, Driver: r,
		// A simulated wall has nothing to restart; the request is an event.
		Restart:   func() error { return nil },
		Dashboard: func(d *device.Agent) web.Wall { return dashboardWall{d, wall} }, WebFallback: o.WebFallback,
		Listening: func(a *agent.Agent) error { return tellEmbedded(emb, cfg, a.ControlURL()) },
		Stopped:   func(a *agent.Agent) { sum.Outbox, _ = a.Store().OutboxLen() }})
	if err != nil {
		out.close()
		return nil, err
	}
	err = a.Run(ctx)
	out.close()
	if o.Output == OutputView && r.ran {
		out.draw(r.agent.Status(), clk.Mono()-time.Second) // the wall as it was left
		out.scr.end()
	}
	sum.Virtual, sum.Events, sum.Dropped = clk.Mono()-time.Second, out.counts, out.dropped
	if emb != nil {
		sum.TTGRecords = ttgStored(emb) - ttgBefore
	}
	sum.Clouds = append(sum.Clouds, tt.summary(cfg)...)
	if line := tm.summary(); line != "" {
		sum.Clouds = append(sum.Clouds, line)
	}
	sn.summarise(sum)
	if err != nil && !r.ran {
		return nil, err
	}
	return sum, err
}

// addScenarioClouds starts the cloud emulators the scenario names, as
// their flags would.
func (o *Options) addScenarioClouds() {
	if o.Scenario == nil {
		return
	}
	for _, c := range o.Scenario.Clouds {
		switch c {
		case "smartnow":
			o.SmartNow = true
		case "telemetron":
			o.Telemetron = true
		case "touchtopup":
			o.TouchTopUp = true
		}
	}
}

// ttgStored is how many records the embedded TTG server holds (its store
// outlives a run, in the data directory).
func ttgStored(emb *serversync.Embedded) int {
	if emb == nil {
		return 0
	}
	return len(emb.Server.Transactions()) + len(emb.Server.CardPurchases())
}

// tellEmbedded tells the embedded TTG server where this device's
// client-control API listens and the token it requires.
func tellEmbedded(emb *serversync.Embedded, cfg *config.Config, controlURL string) error {
	if emb == nil || controlURL == "" {
		return nil
	}
	return emb.Server.RegisterClient(cfg.Device.ID, controlURL, cfg.Control.Token)
}

type runner struct {
	o     Options
	cfg   *config.Config
	clk   *clock.Manual
	wall  *Wall
	board *Board
	out   *printer
	next  int
	ran   bool // the scenario was driven
	ctx   context.Context
	asm   *agent.Agent
	agent *device.Agent
	up    *serversync.Uplink
	// sn is the SmartNow emulator and scanner (--smartnow); nil without.
	sn *simSmartNow
	// creditAt is where each credit step's resource is, by registerID,
	// for replays sent later.
	creditAt map[int64]string
	tt       *touchTopUp
	tm       *simTelemetron // nil without --telemetron
}

// Drive plays the scenario in virtual time (agent.Driver).
func (r *runner) Drive(ctx context.Context, a *agent.Agent) {
	r.ctx, r.asm, r.agent, r.up, r.ran = ctx, a, a.Device(), a.Uplink(), true
	r.loop(ctx)
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
			req.Ref.ItemID, req.Ref.PricingState = it.ItemID, fmt.Sprint(it.State)
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
		r.tt.tick(r, r.clk.Mono()-t0)
		r.wall.Board.Advance(stepLen)
		if now := r.clk.Mono(); now-lastTick >= tick {
			r.agent.Tick()
			lastTick = now
		}
		if r.o.Output == OutputView && (time.Since(lastDraw) >= 250*time.Millisecond || resized(r.o.Resized)) {
			r.out.draw(r.agent.Status(), r.clk.Mono()-t0)
			lastDraw = time.Now()
		}
		r.pace(real0, r.clk.Mono()-t0)
	}
}

// resized reports a pending resize signal without waiting.
func resized(c <-chan os.Signal) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// realTimeActions are the scenario steps played on simulated readers
// that run on real time: a card's dialogue with the PN532 or a payment
// card's with the MDB terminal takes real milliseconds whatever the
// virtual clock does.
var realTimeActions = map[string]bool{"present": true, "take": true, "terminal": true, "select": true, "vend": true}

// needsRealTime reports whether a scenario has steps that cannot run flat
// out: at --speed 0 they would find the wall's virtual time long gone.
func needsRealTime(sc *sim.Scenario) bool {
	if sc == nil {
		return false
	}
	for _, st := range sc.Steps {
		if realTimeActions[st.Action] || st.Via == "scanner" {
			return true
		}
	}
	return false
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
		if err := r.apply(st); err != nil && !errors.Is(err, errReported) {
			r.out.emit(device.Event{Time: r.clk.Now().UTC(), Type: device.EventScenarioError, Line: st.Line,
				Detail: fmt.Sprintf("%s: %v", st.Action, err)})
		}
	}
}

// errReported marks a step the agent refused and reported itself (a
// refused card, a refused authorisation): a scenario often does that on
// purpose, so it is not a scenario error.
var errReported = errors.New("refused and reported by the agent")

func (r *runner) apply(st sim.Step) error {
	switch st.Action { // the reader's actions name no line
	case "present":
		return r.board.present(st.Card)
	case "take":
		r.board.take()
		return nil
	case "terminal":
		return r.board.pay(st.Funds)
	case "select":
		if !r.board.Has(agent.CardTerminal) {
			return fmt.Errorf("no MDB terminal: set [mdb] lines")
		}
		return r.asm.TerminalSelect(st.Line)
	case "vend":
		return r.board.vend(st.Selection)
	case "telemetron_request":
		return r.tm.request(r.ctx, st.Request)
	case "smartnow_command":
		return smartnowCommand(r.ctx, r.cfg, st)
	}
	line := r.wall.Board.Line(st.Line)
	lc, ok := r.cfg.Line(st.Line)
	if line == nil || !ok {
		return fmt.Errorf("no line %d", st.Line)
	}
	switch st.Action {
	case "authorise":
		req := device.Request{Auth: authFor(st, lc), Ref: storage.Ref{Source: "scenario"}}
		if st.ItemID != "" {
			if err := r.item(&req, st); err != nil {
				return err
			}
		}
		if _, err := r.agent.Authorise(st.Line, req); err != nil {
			return fmt.Errorf("%w: %w", errReported, err) // the agent reported pour_refused
		}
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
		_, err := r.asm.CardTap(ctx, st.Line, st.CardID)
		if errors.Is(err, device.ErrCardRefused) || errors.Is(err, accountpay.ErrRefused) {
			return fmt.Errorf("%w: %w", errReported, err) // the agent reported card_refused
		}
		return err
	case "credit":
		return r.postCredit(st)
	case "waiter":
		_, err := r.agent.WaiterTap(st.Line, st.Waiter)
		return err
	case "account":
		return r.account(st)
	case "voucher":
		return r.voucher(st)
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

// Shutdown stops every pour, lets overrun settle in virtual time and
// books (agent.Driver).
func (r *runner) Shutdown(a *agent.Agent) error {
	d := a.Device()
	d.StopAll(flow.ReasonShutdown)
	for i := 0; i < 400 && d.Busy(); i++ { // at most 2 s of virtual settling
		r.wall.Board.Advance(stepLen)
		d.Tick()
	}
	return d.Close()
}

// printer serialises events to the output without ever blocking the agent.
type printer struct {
	o         Options
	cfg       *config.Config
	ch        chan device.Event
	done      chan struct{}
	mu        sync.Mutex
	recent    []ViewEvent
	listeners []string
	counts    map[device.EventType]int
	dropped   int
	enc       *json.Encoder
	scr       screen
	// lastConfig is the latest ttg_config, shown only when it changes.
	lastConfig string
	faults     faultSummary
}

func newPrinter(o Options, cfg *config.Config) *printer {
	p := &printer{o: o, cfg: cfg, ch: make(chan device.Event, 8192), done: make(chan struct{}),
		counts: map[device.EventType]int{}, enc: json.NewEncoder(o.Out), scr: screen{w: o.Out}, faults: faultSummary{}}
	go p.run()
	return p
}

// emulators shows where each cloud emulator of the run listens and how an
// operator logs in to it, beside the agent's own listeners: what arrived
// can be read there while the run goes on.
func (p *printer) emulators(cfg *config.Config, smartNow, telemetron, touchTopUp bool) {
	var lines []string
	if smartNow {
		lines = append(lines, fmt.Sprintf("SmartNow emulator: %s (user %s, password %s)", cfg.SmartNow.URL, cfg.SmartNow.Username, cfg.SmartNow.Password))
	}
	if telemetron {
		t := cfg.Telemetron
		lines = append(lines, fmt.Sprintf("Telemetron emulator: %s (token at %s: client %s, secret %s, user %s, password %s; machine %d)",
			t.URL, t.AuthURL, t.ClientID, t.ClientSecret, t.Username, t.Password, t.MachineID))
	}
	if touchTopUp {
		t := cfg.TouchTopUp
		lines = append(lines, fmt.Sprintf("TouchTopUp emulator: %s/index.php (%s: %s)", t.URL, t.KeyHeader, t.APIKey))
	}
	p.mu.Lock()
	p.listeners = append(p.listeners, lines...)
	p.mu.Unlock()
	if p.o.Output == OutputLines {
		for _, l := range lines {
			fmt.Fprintln(p.o.Out, l)
		}
	}
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
		if ev.Type == device.EventWebListening && p.o.Output == OutputLines && p.o.WebLogin != "" {
			fmt.Fprintln(p.o.Out, "web dashboard "+ev.Detail+"/ "+p.o.WebLogin)
		}
		if ev.Type == device.EventTelemetronAPIListening && p.o.Output == OutputLines && p.o.telemetronLogin != "" {
			fmt.Fprintln(p.o.Out, "telemetron API "+ev.Detail+"/v2 "+p.o.telemetronLogin)
		}
		p.mu.Lock()
		p.counts[ev.Type]++
		p.mu.Unlock()
		if p.o.Output == OutputJSON {
			_ = p.enc.Encode(ev) // every event, as it came
			continue
		}
		for _, line := range p.readable(ev) {
			p.show(line)
		}
	}
	for _, line := range p.faults.flush(time.Time{}) {
		p.show(line)
	}
}

// readable is what a person is shown for an event: nothing for
// checkpoints and repeated configuration notices, a summary instead of a
// flood of faults.
func (p *printer) readable(ev device.Event) []ViewEvent {
	switch {
	case ev.Type == device.EventPourCheckpoint:
		return nil
	case ev.Type == device.EventTTGConfig:
		if ev.Detail == p.lastConfig {
			return nil
		}
		p.lastConfig = ev.Detail
	case strings.HasSuffix(string(ev.Type), "_listening"):
		l := ev.Type.Words() + ": " + ev.Detail
		if ev.Type == device.EventWebListening && p.o.WebLogin != "" {
			l += "/ " + p.o.WebLogin
		}
		if ev.Type == device.EventTelemetronAPIListening && p.o.telemetronLogin != "" {
			l += " " + p.o.telemetronLogin
		}
		p.mu.Lock()
		p.listeners = append(p.listeners, l)
		p.mu.Unlock()
	}
	out := p.faults.flush(ev.Time)
	if isFault(ev.Type) && !p.faults.admit(ev) {
		return out
	}
	return append(out, ViewEvent{Text: describe(ev, p.cfg), Alarm: ev.Type == device.EventAlarm || isFault(ev.Type)})
}

func (p *printer) show(e ViewEvent) {
	if p.o.Output == OutputLines {
		fmt.Fprintln(p.o.Out, e.Text)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent = append(p.recent, e)
	if len(p.recent) > maxRecent {
		p.recent = p.recent[1:]
	}
}

// maxRecent is how many recent events the view keeps: a 50-row terminal's
// worth.
const maxRecent = 48

func (p *printer) close() {
	close(p.ch)
	<-p.done
}

func (p *printer) draw(st []device.LineStatus, at time.Duration) {
	width, height := 80, 24
	if p.o.TermSize != nil {
		width, height = p.o.TermSize()
	}
	p.mu.Lock()
	f := Frame{Listeners: append([]string(nil), p.listeners...), Status: st, Recent: append([]ViewEvent(nil), p.recent...), At: at}
	p.mu.Unlock()
	_, _ = p.scr.draw(RenderFrame(p.cfg, f, width, height, p.o.Colour), width, height)
}
