package device

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// line is one tap line's runtime state; mu serialises everything on it.
type line struct {
	mu    sync.Mutex
	id    int
	cfg   config.Line
	valve board.Valve
	fl    *flow.Line
	keg   flow.Keg

	intent storage.Intent // open pour, PourID == "" when none
	prev   flow.State
	// lastCkpt is when a checkpoint was last handed to the writer and
	// lastCkptEv when the last checkpoint event was raised.
	lastCkpt, lastCkptEv time.Duration
	// durable is the Mono reading at which the newest progress on disk was
	// taken (the intent's when none yet). The writer goroutine raises it.
	durable atomic.Int64
	// ckptLat is how long recent checkpoints took from measurement to disk,
	// decaying slowly after a spike; the writer goroutine sets it.
	ckptLat atomic.Int64
	// ckptFail is set by the storage writer goroutine. It must not take mu:
	// the writer may be committing a booking that a holder of mu waits for.
	ckptFail atomic.Pointer[ckptFailure]
	locked   bool
	// closed is why the line is outside its opening hours ("" when open),
	// as the last tick found it (Hours).
	closed string
	// unbooked holds finished pours whose booking failed; the line takes no
	// new pour until they are on disk.
	unbooked    []storage.Booking
	lastBookErr error
	// prod is the product on tap: the configured one until a keg change
	// connects another (kept with the keg, so it survives a restart). Read
	// without mu by the remote-login and card checks.
	prod atomic.Pointer[product]
	// cleaning is the pour id of a cleaning started by SetCleaning.
	cleaning string
}

// product is what a line pours.
type product struct {
	name string
	plu  int
}

func (l *line) plu() int            { return l.prod.Load().plu }
func (l *line) productName() string { return l.prod.Load().name }

// Catalog prices and limits pours from the server's configuration.
type Catalog interface {
	// FreePourPrice is the unit price of plu now and the pricing state
	// (default or a happy hour) it comes from; ok is false without data.
	FreePourPrice(plu int, now time.Time, keg flow.Keg) (flow.Price, int, bool)
	// Alcoholic says whether plu is alcohol; known is false without data.
	Alcoholic(plu int) (yes, known bool)
	// ServingsLimit is the volume of plu a patron may pour given the card's
	// servings limit (×100, 0 for the server default); ok is false when none applies.
	ServingsLimit(plu int, limit100 int64) (flow.Vol, bool)
	// Units is the server's volume base unit; ok is false without data.
	Units() (ttg.Units, bool)
	// Product is the server's product for plu.
	Product(plu int) (Product, bool)
	// LineItems are the portions offered on a line, priced now.
	LineItems(line, plu int, now time.Time, keg flow.Keg) ([]ttg.LineItem, error)
}

type ckptFailure struct {
	pourID string
	err    error
}

// Request is a request to pour on a line.
type Request struct {
	// Auth is the authorisation; a free pour without a valid price is
	// priced by the agent (server catalog, happy hours, else configuration).
	Auth flow.Auth
	// Ref carries who or what paid (card, session), copied into the record.
	Ref storage.Ref
	// NoAlcohol refuses alcoholic products (under-age cards).
	NoAlcohol bool
	// Service marks a technician's pour (valve test, calibration): it runs
	// only on a locked line, and only in an uncharged mode, so a line in
	// service can be worked on without a customer pouring at the same time.
	Service bool
}

// ErrLocked is returned for a pour on a locked line.
var ErrLocked = errors.New("line locked")

// ErrDraining is returned while the agent lets running pours finish before
// an update; it starts no new ones.
var ErrDraining = errors.New("the tap wall is being updated; no new pours")

// ErrNotInService is returned for a service pour on a line that is not
// locked: a technician takes the line out of service first.
var ErrNotInService = errors.New("line is not in service mode (lock it first)")

// Authorise opens a line for a pour. The intent is on disk before the valve
// opens; the returned id names the pour in every later event and record.
func (a *Agent) Authorise(id int, r Request) (string, error) {
	l, err := a.line(id)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	pourID, err := a.authorise(l, r)
	if err != nil {
		a.event(Event{Type: EventPourRefused, Line: id, Mode: r.Auth.Mode.String(), Detail: err.Error()})
		return "", fmt.Errorf("line %d: %w", id, err)
	}
	return pourID, nil
}

// unavailable says why the line takes no such pour now, nil when it would.
func (a *Agent) unavailable(l *line, r Request) error {
	closed := ""
	if !r.Service && !l.locked {
		closed = a.closedWhy(l, a.clk.Now())
	}
	switch {
	case a.draining.Load():
		return ErrDraining
	case r.Service && !l.locked:
		return ErrNotInService
	case r.Service && r.Auth.Mode != flow.ModeCleaning && r.Auth.Mode != flow.ModeCalibration:
		return fmt.Errorf("a service pour must be a cleaning or calibration pour, not %s", r.Auth.Mode)
	case l.locked && !r.Service:
		return ErrLocked
	case closed != "":
		return fmt.Errorf("%w (%s)", ErrClosed, closed)
	case len(l.unbooked) > 0:
		return fmt.Errorf("%w: a finished pour is waiting for storage", flow.ErrBusy)
	}
	return nil
}

func (a *Agent) authorise(l *line, r Request) (string, error) {
	if err := a.unavailable(l, r); err != nil {
		return "", err
	}
	r = a.price(l, r)
	if err := l.fl.CanOpen(r.Auth); err != nil {
		return "", err
	}
	if r.NoAlcohol && a.alcoholic(l) {
		return "", ErrAlcohol
	}
	now := a.clk.Mono()
	in, err := a.store.CreateIntent(a.cfg.Device.ID, storage.Intent{
		Line: l.id, Product: l.productName(), PLU: l.plu(), OpenedAt: a.wall(now),
		ClockSynced: a.synced(), Auth: r.Auth, KMilli: l.fl.Meter().KMilli(), Ref: r.Ref,
	})
	if err != nil {
		a.event(Event{Type: EventStorageError, Line: l.id, Detail: "pour intent: " + err.Error()})
		return "", fmt.Errorf("pour intent not stored, valve stays closed: %w", err)
	}
	leaked, err := l.fl.Open(now, r.Auth)
	if leaked != nil {
		a.bookLeak(l, leaked)
	}
	if err != nil {
		if derr := a.store.DropIntent(l.id, in.PourID); derr != nil {
			a.log.Error("dropping intent of unopened pour", "line", l.id, "err", derr)
		}
		return "", err
	}
	l.intent, l.prev, l.lastCkpt, l.lastCkptEv = in, flow.Ready, now, now
	l.durable.Store(int64(now))
	l.ckptFail.Store(nil)
	a.event(Event{Type: EventPourAuthorised, Line: l.id, PourID: in.PourID, Mode: r.Auth.Mode.String()})
	return in.PourID, nil
}

// Stop ends the pour on a line (card removed, stop pressed).
func (a *Agent) Stop(id int) error {
	l, err := a.line(id)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fl.Stop(a.clk.Mono(), flow.ReasonStopped) {
		return fmt.Errorf("line %d: no pour to stop", id)
	}
	return nil
}

// Tick runs every line's checkpoints, timers and bookings. Checkpoints of
// all lines are handed to the writer first: they never wait, whereas a
// booking waits for its commit, and a line late in the order must not have
// its checkpoint held up by the bookings of the lines before it.
func (a *Agent) Tick() {
	for _, l := range a.order {
		l.mu.Lock()
		a.checkpointDue(l, a.clk.Mono())
		l.mu.Unlock()
	}
	now := a.clk.Now()
	hours := a.hours != nil && a.hoursAt.Swap(now.Unix()) != now.Unix()
	for _, l := range a.order {
		l.mu.Lock()
		a.tickLine(l, a.clk.Mono())
		if hours {
			a.tickHours(l, now)
		}
		l.mu.Unlock()
	}
	a.lastTick.Store(int64(a.clk.Mono()))
}

// Healthy says whether the main loop has completed a tick within the last
// window: the watchdog stops pinging a stuck loop so that it gets restarted.
func (a *Agent) Healthy(window time.Duration) bool {
	last := a.lastTick.Load()
	return last > 0 && !a.closed.Load() && a.clk.Mono()-time.Duration(last) <= window
}

func (a *Agent) tickLine(l *line, now time.Duration) {
	if f := l.ckptFail.Swap(nil); f != nil && l.fl.Active() && f.pourID == l.intent.PourID {
		a.event(Event{Type: EventStorageError, Line: l.id, PourID: f.pourID,
			Detail: "checkpoint failed, stopping pour: " + f.err.Error()})
		a.finishPour(l, l.fl.Abort(now, flow.ReasonFault))
	}
	res := l.fl.Tick(now)
	a.transitions(l)
	a.alarms(l)
	switch {
	case res != nil && res.Unattributed:
		a.bookLeak(l, res)
	case res != nil:
		a.finishPour(l, res)
	}
	a.retryBookings(l)
}

// transitions reports state changes between ticks.
func (a *Agent) transitions(l *line) {
	st := l.fl.State()
	if st == l.prev {
		return
	}
	if l.prev == flow.Ready && st >= flow.Pouring {
		a.event(Event{Type: EventPourStarted, Line: l.id, PourID: l.intent.PourID})
	}
	if st == flow.Settling {
		p, _ := l.fl.Progress()
		a.event(Event{Type: EventValveClosed, Line: l.id, PourID: l.intent.PourID, Volume: p.Volume,
			Charged: p.Charged, Reason: l.closeReason()})
	}
	l.prev = st
}

func (l *line) closeReason() string {
	r, ok := l.fl.CloseReason()
	if !ok {
		return ""
	}
	return string(r)
}

func (a *Agent) alarms(l *line) {
	for _, al := range l.fl.TakeAlarms() {
		al := al
		typ := EventAlarm
		if !al.Active {
			typ = EventAlarmCleared
		}
		a.event(Event{Type: typ, Line: l.id, Alarm: &al, Detail: al.Detail})
		a.historyAlarm(l, al)
		if al.Kind == "keg_empty" && al.Active {
			a.kegKicked(l)
		}
	}
}

// kegKicked remembers an empty keg across restarts, so the line stays
// disabled until someone connects a fresh one. The wall has decided the
// keg is empty, so nothing is left: the estimate the pours left is wrong by
// whatever the keg really held. A keg change sets it full again.
func (a *Agent) kegKicked(l *line) {
	l.keg.Kicked, l.keg.Remaining, l.keg.Empty = true, 0, true
	l.keg.Low = l.keg.Size > 0
	if err := a.store.PutKeg(l.id, l.keg); err != nil {
		a.event(Event{Type: EventStorageError, Line: l.id, Detail: "keg state: " + err.Error()})
	}
}

// checkpointDue keeps the promise of checkpoint_interval: the progress on
// disk is never older than it. A checkpoint is handed to the writer, which
// puts it first into its next commit, once the durable progress is half the
// interval old, or earlier when commits are slow: the progress on disk can
// age by two commits more (the one in progress and the checkpoint's own),
// so the hand-over comes at the interval less twice the recent commit
// latency, but never before a quarter of it. While the writer is behind
// (a long fsync, a starved CPU) the waiting checkpoint is refreshed every
// eighth of the interval, so the commit that finally takes it writes
// progress as fresh as the last tick, not as old as the first try.
func (a *Agent) checkpointDue(l *line, now time.Duration) {
	iv := a.cfg.Storage.CheckpointInterval.Duration
	due := min(max(iv-2*time.Duration(l.ckptLat.Load()), iv/4), iv/2)
	if !l.fl.Active() || now-time.Duration(l.durable.Load()) < due || now-l.lastCkpt < iv/8 {
		return
	}
	a.checkpoint(l, now)
}

func (a *Agent) checkpoint(l *line, now time.Duration) {
	p, _ := l.fl.Progress()
	in := l.intent
	in.Progress, in.CheckpointAt = p, a.wall(now)
	l.lastCkpt = now
	a.store.Checkpoint(in, func(err error) {
		if err != nil {
			l.ckptFail.Store(&ckptFailure{pourID: in.PourID, err: err})
			return
		}
		raise(&l.durable, int64(now))
		lat, prev := int64(a.clk.Mono()-now), l.ckptLat.Load()
		l.ckptLat.Store(max(lat, prev-prev/8))
	})
	if now-l.lastCkptEv >= a.cfg.Storage.CheckpointInterval.Duration/2 {
		l.lastCkptEv = now
		a.event(Event{Type: EventPourCheckpoint, Line: l.id, PourID: in.PourID, Volume: p.Volume, Charged: p.Charged, Amount: p.Amount})
	}
}

// raise sets v to x unless it already holds more.
func raise(v *atomic.Int64, x int64) {
	for cur := v.Load(); cur < x && !v.CompareAndSwap(cur, x); cur = v.Load() {
	}
}

// finishPour books a finished pour with its keg update in one commit.
func (a *Agent) finishPour(l *line, res *flow.Result) {
	in := l.intent
	rec := storage.Record{
		ID: in.PourID, Kind: kindOf(res.Auth.Mode, false), Line: l.id, Product: in.Product, PLU: in.PLU,
		StartedAt: in.OpenedAt, EndedAt: a.wall(res.EndedAt), ClockSynced: in.ClockSynced && a.synced(),
		Ref: in.Ref, Pour: *res,
	}
	l.intent, l.prev = storage.Intent{}, flow.Idle
	a.book(l, rec)
}

func (a *Agent) bookLeak(l *line, res *flow.Result) {
	id := fmt.Sprintf("%d-b%d-u%d", a.cfg.Device.ID, a.boot, a.localN.Add(1))
	a.book(l, storage.Record{
		ID: id, Kind: storage.KindUnattributed, Line: l.id, Product: l.productName(), PLU: l.plu(),
		StartedAt: a.wall(res.OpenedAt), EndedAt: a.wall(res.EndedAt), ClockSynced: a.synced(), Pour: *res,
	})
}

// book draws the keg and commits record and keg together. On failure the
// booking is kept and retried every tick; the line refuses pours until it
// is stored. Bookings are committed in order, so kegs never go backwards.
func (a *Agent) book(l *line, rec storage.Record) {
	low, empty := l.keg.Draw(rec.Pour.Volume)
	if l.keg.Kicked {
		l.keg.Remaining = 0 // a keg the wall found empty holds nothing, whatever the meter counted since
	}
	keg := l.keg
	l.unbooked = append(l.unbooked, storage.Booking{Record: rec, Keg: &keg, Also: a.withHistory(rec)})
	if len(l.unbooked) == 1 && !a.commitNext(l) {
		a.event(Event{Type: EventStorageError, Line: l.id, PourID: rec.ID, Detail: "booking failed, will retry: " + l.lastBookErr.Error()})
	}
	if low {
		a.event(Event{Type: EventKegLow, Line: l.id, Keg: &keg})
	}
	if empty {
		a.event(Event{Type: EventKegEmpty, Line: l.id, Keg: &keg, Detail: "keg registry reached zero"})
	}
}

// retryBookings commits what earlier failures left, oldest first.
func (a *Agent) retryBookings(l *line) {
	for len(l.unbooked) > 0 && a.commitNext(l) {
	}
}

// commitNext commits the oldest pending booking and reports success.
func (a *Agent) commitNext(l *line) bool {
	b := l.unbooked[0]
	seq, err := a.store.Book(b)
	if err != nil && !errors.Is(err, storage.ErrDuplicate) {
		l.lastBookErr = err
		return false
	}
	l.unbooked = l.unbooked[1:]
	a.onBooked()
	r := b.Record
	typ := EventPourBooked
	if r.Kind == storage.KindUnattributed {
		typ = EventUnattributedBooked
	}
	a.event(Event{Type: typ, Line: l.id, PourID: r.ID, Kind: r.Kind, Mode: r.Pour.Auth.Mode.String(),
		Reason: string(r.Pour.Reason), Volume: r.Pour.Volume, Charged: r.Pour.Charged, Amount: r.Pour.Amount,
		Pulses: r.Pour.Pulses, Seq: seq, Keg: b.Keg})
	return true
}
