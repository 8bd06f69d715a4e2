package device

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// Actor is who asks for a keg or line operation: a name, a role and the
// way in ("cli", "mqtt", "web", "card", "scenario"). It goes into the
// operation's audit record and event.
type Actor = history.Actor

// Keg sizes a keg change accepts: from a 1 L mini keg to a 2000 L tank.
const (
	MinKegSize = flow.Vol(1_000 * 10)
	MaxKegSize = flow.Vol(2_000_000 * 10)
)

// maxKegID bounds a keg id (a label or barcode).
const maxKegID = 64

// Reasons an operation is refused.
var (
	// ErrNoLine: the line is not configured.
	ErrNoLine = errors.New("no such line")
	// ErrLineBusy: the line is pouring (or cleaning), or a finished pour
	// waits for storage; operations that change its keg wait for it.
	ErrLineBusy = errors.New("the line is pouring; try again when it is idle")
	// ErrKegSize: the size is outside MinKegSize..MaxKegSize.
	ErrKegSize = fmt.Errorf("keg size must be %s..%s", MinKegSize.LitresExact(), MaxKegSize.LitresExact())
	// ErrBadOperation: the request itself is malformed.
	ErrBadOperation = errors.New("bad operation")
	// ErrNotRecorded: the audit record could not be written, so nothing changed.
	ErrNotRecorded = errors.New("operation not recorded, nothing changed")
)

// KegChange is a fresh keg connected to a line.
type KegChange struct {
	Line int `json:"line"`
	// PLU is the product the keg holds; 0 keeps the line's product.
	PLU int `json:"plu,omitempty"`
	// Size is the keg's volume (full).
	Size flow.Vol `json:"size_ml10"`
	// KegID optionally names the keg (label, barcode).
	KegID string `json:"keg_id,omitempty"`
	// Tapped is when it was connected; zero means now.
	Tapped time.Time `json:"tapped,omitzero"`
}

// KegInfo is a line's keg as `tapagent kegs` and the dashboard show it.
type KegInfo struct {
	Line     int      `json:"line"`
	Product  string   `json:"product"`
	PLU      int      `json:"plu"`
	Keg      flow.Keg `json:"keg"`
	Locked   bool     `json:"locked,omitempty"`
	Disabled string   `json:"disabled,omitempty"`
	State    string   `json:"state"`
}

// Kegs lists every line's keg.
func (a *Agent) Kegs() []KegInfo {
	out := make([]KegInfo, 0, len(a.order))
	for _, l := range a.order {
		l.mu.Lock()
		out = append(out, KegInfo{Line: l.id, Product: l.productName(), PLU: l.plu(), Keg: l.keg,
			Locked: l.locked, Disabled: l.fl.Disabled(), State: l.fl.State().String()})
		l.mu.Unlock()
	}
	return out
}

func checkActor(by Actor) error {
	if by.Via == "" {
		return fmt.Errorf("%w: the actor has no way in (via)", ErrBadOperation)
	}
	return nil
}

// idle refuses an operation on a line that pours or waits for storage; mu held.
func (l *line) idle() error {
	if l.fl.Active() || len(l.unbooked) > 0 {
		return fmt.Errorf("line %d: %w", l.id, ErrLineBusy)
	}
	return nil
}

// state is the line as an audit record shows it; mu held.
func (l *line) state() *history.LineState {
	return &history.LineState{Keg: l.keg, Product: l.productName(), PLU: l.plu(), Locked: l.locked,
		Cleaning: l.cleaning != "" && l.fl.Active(), KMilli: l.fl.Meter().KMilli()}
}

// opEntry is the audit record of an operation on l.
func (a *Agent) opEntry(l *line, by Actor, op string, before, after *history.LineState, detail string) history.Entry {
	return history.Entry{Time: a.clk.Now().UTC(), Kind: history.KindOperation, Op: op, Line: l.id,
		Product: l.productName(), PLU: l.plu(), Payment: history.PayNone, Actor: &by, Before: before, After: after, Detail: detail}
}

// idleLine checks by and returns the line lineID locked, with no pour
// running on it; the caller defers unlock.
func (a *Agent) idleLine(by Actor, lineID int) (l *line, unlock func(), err error) {
	if err := checkActor(by); err != nil {
		return nil, nil, err
	}
	if l, err = a.line(lineID); err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	if err := l.idle(); err != nil {
		l.mu.Unlock()
		return nil, nil, err
	}
	return l, l.mu.Unlock, nil
}

// commitKeg makes k the keg of l, with the audit record of op (detail;
// edit, when set, completes the after-state beyond the keg) in the same
// commit; l.mu held. Nothing changes in memory unless the commit is on disk.
func (a *Agent) commitKeg(l *line, by Actor, op string, k flow.Keg, detail string, edit func(after *history.LineState)) (history.Entry, error) {
	before := l.state()
	after := *before
	after.Keg = k
	if edit != nil {
		edit(&after)
	}
	e := a.opEntry(l, by, op, before, &after, detail)
	if err := a.store.PutKeg(l.id, k, history.Change(e)); err != nil {
		return e, fmt.Errorf("line %d: %w: %w", l.id, ErrNotRecorded, err)
	}
	l.keg = k
	return e, nil
}

// ChangeKeg records a fresh, full keg on a line (its product too when the
// PLU changes) and puts a line that was disabled because its keg ran empty
// back in service, durably: after a restart it pours as well. The keg and
// the audit record are one commit.
func (a *Agent) ChangeKeg(by Actor, c KegChange) error {
	if err := checkActor(by); err != nil {
		return err
	}
	l, err := a.line(c.Line)
	if err != nil {
		return err
	}
	if err := checkKegChange(c, a.clk.Now()); err != nil {
		return fmt.Errorf("line %d: %w", c.Line, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.idle(); err != nil {
		return err
	}
	prod, err := a.productFor(l, c.PLU)
	if err != nil {
		return fmt.Errorf("line %d: %w", c.Line, err)
	}
	tapped := c.Tapped
	if tapped.IsZero() {
		tapped = a.clk.Now()
	}
	k := flow.NewKeg(c.KegID, c.Size, l.cfg.KegLowPercent, tapped)
	if prod.plu != l.cfg.PLU {
		k.PLU, k.Product = prod.plu, prod.name
	}
	e, err := a.commitKeg(l, by, history.OpKegChange, k, kegChangeDetail(c, prod.name),
		func(after *history.LineState) { after.Product, after.PLU = prod.name, prod.plu })
	if err != nil {
		return err
	}
	l.prod.Store(&prod)
	if l.fl.Disabled() == "keg_empty" {
		l.fl.SetDisabled("")
	}
	a.event(Event{Type: EventKegChanged, Line: l.id, Keg: &k, By: &by, Detail: e.Detail})
	return nil
}

// kegChangeDetail says what was connected, for the audit and the event:
// "30.00 L keg K-77 of Weizen" (the keg id only when one was given).
func kegChangeDetail(c KegChange, product string) string {
	id := ""
	if c.KegID != "" {
		id = " " + c.KegID
	}
	return fmt.Sprintf("%s keg%s of %s", c.Size.Litres(), id, product)
}

func checkKegChange(c KegChange, now time.Time) error {
	switch {
	case c.Size < MinKegSize || c.Size > MaxKegSize:
		return fmt.Errorf("%w, not %s", ErrKegSize, c.Size.LitresExact())
	case c.PLU < 0:
		return fmt.Errorf("%w: PLU %d", ErrBadOperation, c.PLU)
	case len(c.KegID) > maxKegID:
		return fmt.Errorf("%w: keg id longer than %d bytes", ErrBadOperation, maxKegID)
	case c.Tapped.After(now.Add(time.Minute)):
		return fmt.Errorf("%w: tapped date %s is in the future", ErrBadOperation, c.Tapped.Format(time.RFC3339))
	}
	for _, r := range c.KegID {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: keg id holds a control character", ErrBadOperation)
		}
	}
	return nil
}

// productFor is the product a keg of plu puts on l (0: the current one).
// With a server catalog an unknown PLU is refused.
func (a *Agent) productFor(l *line, plu int) (product, error) {
	switch {
	case plu == 0 || plu == l.plu():
		return *l.prod.Load(), nil
	case plu == l.cfg.PLU:
		return product{name: l.cfg.Product, plu: plu}, nil
	}
	if a.catalog != nil {
		if p, ok := a.catalog.Product(plu); ok {
			return product{name: p.Name, plu: plu}, nil
		}
		if _, loaded := a.catalog.Units(); loaded {
			return product{}, fmt.Errorf("%w: the server has no product with PLU %d", ErrBadOperation, plu)
		}
	}
	return product{name: "PLU " + strconv.Itoa(plu), plu: plu}, nil
}

// AdjustKeg sets what is left in a line's keg after a manual measurement
// (0..the keg's size). A measured level above zero puts a line disabled for
// an empty keg back in service: the measurement is the truth.
func (a *Agent) AdjustKeg(by Actor, lineID int, remaining flow.Vol) error {
	l, unlock, err := a.idleLine(by, lineID)
	if err != nil {
		return err
	}
	defer unlock()
	k := l.keg
	if remaining < 0 || remaining > k.Size {
		return fmt.Errorf("line %d: %w: the level must be 0..%s (the keg's size), not %s", lineID, ErrBadOperation, k.Size, remaining)
	}
	k.Remaining = remaining
	k.Low = k.FillPermille() <= k.LowPercent*10
	k.Empty = remaining <= 0
	if remaining > 0 {
		k.Kicked = false
	}
	e, err := a.commitKeg(l, by, history.OpKegAdjust, k, fmt.Sprintf("%s -> %s left", l.keg.Remaining.Litres(), remaining.Litres()), nil)
	if err != nil {
		return err
	}
	if !k.Kicked && l.fl.Disabled() == "keg_empty" {
		l.fl.SetDisabled("")
	}
	a.event(Event{Type: EventKegAdjusted, Line: l.id, Keg: &k, By: &by, Detail: e.Detail})
	return nil
}

// MarkEmpty records that a line's keg is empty (someone saw it): the line
// takes no pour until a keg change, across restarts too.
func (a *Agent) MarkEmpty(by Actor, lineID int) error {
	l, unlock, err := a.idleLine(by, lineID)
	if err != nil {
		return err
	}
	defer unlock()
	k := l.keg
	k.Remaining, k.Empty, k.Kicked = 0, true, true
	k.Low = k.Size > 0
	if _, err := a.commitKeg(l, by, history.OpKegEmpty, k, "keg marked empty", nil); err != nil {
		return err
	}
	l.fl.SetDisabled("keg_empty")
	a.event(Event{Type: EventKegMarkedEmpty, Line: l.id, Keg: &k, By: &by})
	return nil
}

// SetLocked takes a line out of service (a running pour is stopped) or
// returns it to service. The audit record is on disk first.
func (a *Agent) SetLocked(by Actor, lineID int, locked bool) error {
	if err := checkActor(by); err != nil {
		return err
	}
	l, err := a.line(lineID)
	if err != nil {
		return err
	}
	op, typ := history.OpUnlock, EventLineUnlocked
	if locked {
		op, typ = history.OpLock, EventLineLocked
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.state()
	after := *before
	after.Locked = locked
	// The lock outlives a restart (a line in maintenance stays out of
	// service through an update), in the audit record's commit.
	if err := a.store.Apply(history.Change(a.opEntry(l, by, op, before, &after, "")), lockChange(l.id, locked)); err != nil {
		return fmt.Errorf("line %d: %w: %w", l.id, ErrNotRecorded, err)
	}
	l.locked = locked
	if locked {
		l.fl.Stop(a.clk.Mono(), flow.ReasonStopped)
	}
	a.event(Event{Type: typ, Line: l.id, By: &by})
	return nil
}

// LineStateBucket holds what the agent keeps of each line besides its keg
// and calibration: whether it is locked. Keys are the line number as
// 4-byte big-endian, values JSON.
const LineStateBucket = "line_state"

type lineState struct {
	Locked bool `json:"locked"`
}

func lineStateKey(line int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(line)) }

func lockChange(line int, locked bool) storage.Change {
	return storage.Change{Bucket: LineStateBucket, Apply: func(b storage.Bucket) error {
		raw, err := json.Marshal(lineState{Locked: locked})
		if err != nil {
			return err
		}
		return b.Put(lineStateKey(line), raw)
	}}
}

// lockedLines reads which lines were locked when the agent stopped.
func (a *Agent) lockedLines() (map[int]bool, error) { return LockedLines(a.store) }

// LockedLines reads which lines an operator has locked, as the store
// keeps it across restarts: for parts that report the wall's state from
// the store (the Telemetron sink's machine state).
func LockedLines(store *storage.Store) (map[int]bool, error) {
	out := map[int]bool{}
	err := store.View(LineStateBucket, func(b storage.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			var st lineState
			if len(k) != 4 || json.Unmarshal(v, &st) != nil {
				return fmt.Errorf("line state %x unreadable", k)
			}
			out[int(binary.BigEndian.Uint32(k))] = st.Locked
			return nil
		})
	})
	return out, err
}

// record commits one audit entry on its own.
func (a *Agent) record(e history.Entry) error {
	if err := a.store.Update(history.Bucket, func(b storage.Bucket) error { return history.Put(b, e) }); err != nil {
		return fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	return nil
}

// SetCleaning starts or stops cleaning mode on a line: an uncharged
// cleaning pour (the one a cleaning card runs), bounded by the line's
// max_duration; on a locked line it runs as a service pour. Its booking
// goes into the history as a cleaning, beside the audit record of who
// started and stopped it.
func (a *Agent) SetCleaning(by Actor, lineID int, on bool) error {
	if err := checkActor(by); err != nil {
		return err
	}
	l, err := a.line(lineID)
	if err != nil {
		return err
	}
	if !on {
		return a.stopCleaning(by, l)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.idle(); err != nil {
		return err
	}
	before := l.state()
	after := *before
	after.Cleaning = true
	// The audit record first: a cleaning nobody can account for never opens a valve.
	if err := a.record(a.opEntry(l, by, history.OpCleanOn, before, &after, "")); err != nil {
		return fmt.Errorf("line %d: %w", l.id, err)
	}
	id, err := a.authorise(l, Request{Auth: flow.Auth{Mode: flow.ModeCleaning}, Service: l.locked,
		Ref: storage.Ref{Source: "cleaning", Actor: by.String()}})
	if err != nil {
		a.event(Event{Type: EventPourRefused, Line: l.id, Mode: flow.ModeCleaning.String(), Detail: err.Error()})
		return fmt.Errorf("line %d: %w", l.id, err)
	}
	l.cleaning = id
	a.event(Event{Type: EventCleaningStarted, Line: l.id, PourID: id, By: &by})
	return nil
}

func (a *Agent) stopCleaning(by Actor, l *line) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.intent.PourID == "" || l.fl.Auth().Mode != flow.ModeCleaning || !l.fl.Active() {
		return fmt.Errorf("line %d: %w: it is not cleaning", l.id, ErrBadOperation)
	}
	before := l.state()
	after := *before
	after.Cleaning = false
	if err := a.record(a.opEntry(l, by, history.OpCleanOff, before, &after, "")); err != nil {
		return fmt.Errorf("line %d: %w", l.id, err)
	}
	l.fl.Stop(a.clk.Mono(), flow.ReasonStopped)
	a.event(Event{Type: EventCleaningStopped, Line: l.id, PourID: l.intent.PourID, By: &by})
	return nil
}
