package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// LineStatus is a line as the terminal view and diagnostics show it.
type LineStatus struct {
	Line        int      `json:"line"`
	Product     string   `json:"product"`
	State       string   `json:"state"`
	Disabled    string   `json:"disabled,omitempty"`
	Locked      bool     `json:"locked,omitempty"`
	Closed      string   `json:"closed,omitempty"`
	PourID      string   `json:"pour_id,omitempty"`
	Mode        string   `json:"mode,omitempty"`
	FlowRate    flow.Vol `json:"flow_ml10_per_s"`
	Poured      flow.Vol `json:"poured_ml10"`
	Charged     flow.Vol `json:"charged_ml10"`
	Amount      int64    `json:"amount"`
	KegLeft     flow.Vol `json:"keg_remaining_ml10"`
	KegPermille int64    `json:"keg_permille"`
	KMilli      int64    `json:"k_milli"`
	Pulses      int64    `json:"pulses_total"`
	Bounced     int64    `json:"bounced_total"`
	Lost        int64    `json:"lost_total"`
	Latency     int64    `json:"valve_latency_us"`
	Unbooked    int      `json:"unbooked,omitempty"`
}

// Status returns a snapshot of every line.
func (a *Agent) Status() []LineStatus {
	out := make([]LineStatus, 0, len(a.order))
	for _, l := range a.order {
		l.mu.Lock()
		m := l.fl.Meter()
		s := LineStatus{
			Line: l.id, Product: l.productName(), State: l.fl.State().String(), Disabled: l.fl.Disabled(),
			Locked: l.locked, Closed: l.closed, PourID: l.intent.PourID, FlowRate: m.FlowRate(), KegLeft: l.keg.Remaining,
			KegPermille: l.keg.FillPermille(), KMilli: m.KMilli(), Pulses: m.Pulses(), Bounced: m.Bounced(),
			Lost: m.Lost(), Latency: l.fl.Latency().Microseconds(), Unbooked: len(l.unbooked),
		}
		if p, ok := l.fl.Progress(); ok {
			s.Poured, s.Charged, s.Amount = p.Volume, p.Charged, p.Amount
			s.Mode = l.fl.Auth().Mode.String()
		}
		l.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// Busy reports whether any line has a pour open or a booking pending.
func (a *Agent) Busy() bool {
	for _, l := range a.order {
		l.mu.Lock()
		busy := l.fl.Active() || len(l.unbooked) > 0
		l.mu.Unlock()
		if busy {
			return true
		}
	}
	return false
}

// StopAll closes every valve and ends the pours; they book once settled.
func (a *Agent) StopAll(why flow.Reason) {
	now := a.clk.Mono()
	for _, l := range a.order {
		l.mu.Lock()
		l.fl.Stop(now, why)
		_ = l.valve.Close()
		l.mu.Unlock()
	}
}

// Close books whatever is still open (without waiting for overrun), books
// unattributed flow, closes every valve and stops the meters. Pours whose
// booking still fails stay as intents on disk and are recovered next start.
func (a *Agent) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	var errs []error
	now := a.clk.Mono()
	for _, l := range a.order {
		l.mu.Lock()
		if err := l.valve.Close(); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", l.id, err))
			a.event(Event{Type: EventValveCloseFailed, Line: l.id, Detail: err.Error()})
		}
		if res := l.fl.Abort(now, flow.ReasonShutdown); res != nil {
			if res.Unattributed {
				a.bookLeak(l, res)
			} else {
				a.finishPour(l, res)
			}
		}
		a.alarms(l)
		a.retryBookings(l)
		if n := len(l.unbooked); n > 0 {
			errs = append(errs, fmt.Errorf("line %d: %d bookings not stored", l.id, n))
		}
		l.mu.Unlock()
	}
	for _, l := range a.order {
		if err := a.meters[l.id].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	a.event(Event{Type: EventAgentStopped})
	return errors.Join(errs...)
}

// closeAllValves is the last resort on a panic: no locks (the panicking
// goroutine may hold one), just every valve's Close, which is safe anywhere.
func (a *Agent) closeAllValves() {
	for _, l := range a.order {
		_ = l.valve.Close()
	}
}

// Drain makes every line refuse new pours (running ones finish as usual)
// until Undrain; Busy tells when the last has been booked.
func (a *Agent) Drain(why string) {
	a.draining.Store(true)
	a.event(Event{Type: EventDraining, Detail: why})
}

// Undrain lets pours start again.
func (a *Agent) Undrain() {
	if a.draining.Swap(false) {
		a.event(Event{Type: EventDrainingEnded})
	}
}

// Calibrate stores a new K-factor for a line computed from a pour of
// pulses into a vessel that held measured, with its audit record in the
// same commit; the line must be idle.
func (a *Agent) Calibrate(by Actor, id int, pulses int64, measured flow.Vol) (storage.Calibration, error) {
	if err := checkActor(by); err != nil {
		return storage.Calibration{}, err
	}
	l, err := a.line(id)
	if err != nil {
		return storage.Calibration{}, err
	}
	if pulses <= 0 || measured <= 0 {
		return storage.Calibration{}, fmt.Errorf("line %d: need pulses and a measured volume > 0", id)
	}
	// pulses per litre ×1000 = pulses × 10000 (mL×10 per litre) × 1000 / measured
	k := (pulses*10_000_000 + int64(measured)/2) / int64(measured)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.idle(); err != nil {
		return storage.Calibration{}, err
	}
	c := storage.Calibration{KMilli: k, At: a.clk.Now().UnixMilli(), Pulses: pulses, Measured: measured,
		Previous: l.fl.Meter().KMilli()}
	if err := l.fl.SetKMilli(k); err != nil {
		return storage.Calibration{}, fmt.Errorf("line %d: %w", id, err)
	}
	before := l.state()
	before.KMilli = c.Previous
	after := *before
	after.KMilli = k
	detail := fmt.Sprintf("K-factor %s -> %s pulses/L", FormatK(c.Previous), FormatK(k))
	e := a.opEntry(l, by, history.OpCalibrate, before, &after, detail)
	e.Volume = measured
	if err := a.store.PutCalibration(id, c, history.Change(e)); err != nil {
		_ = l.fl.SetKMilli(c.Previous)
		return storage.Calibration{}, fmt.Errorf("line %d: %w", id, err)
	}
	a.event(Event{Type: EventLineCalibrated, Line: id, Pulses: pulses, Volume: measured, By: &by, Detail: detail})
	return c, nil
}

// NetPulses is a pour's pulse count less the line-refill share that was not
// charged: the pulses the beer in the vessel really produced. Calibration
// uses it so a new K-factor agrees with how pours are charged.
func NetPulses(r flow.Result) int64 {
	if r.KMilli <= 0 {
		return r.Pulses
	}
	return r.Pulses - (int64(r.Compensated)*r.KMilli+5_000_000)/10_000_000
}

// FormatK prints a K-factor held as pulses per litre ×1000.
func FormatK(kMilli int64) string { return fmt.Sprintf("%d.%03d", kMilli/1000, kMilli%1000) }

// Run drives the timers on the real clock until ctx ends, then stops the
// pours, lets them settle (bounded by settle) and books everything.
func (a *Agent) Run(ctx context.Context, tick time.Duration, settle time.Duration) error {
	defer func() {
		if r := recover(); r != nil {
			a.closeAllValves()
			panic(r)
		}
	}()
	t := time.NewTicker(tick)
	defer t.Stop()
	stopCkpt, ckptPanic := a.runCheckpointer(tick)
	defer stopCkpt()
	for {
		select {
		case <-t.C:
			a.Tick()
		case r := <-ckptPanic:
			panic(r)
		case <-ctx.Done():
			a.StopAll(flow.ReasonShutdown)
			deadline := time.Now().Add(settle)
			for a.Busy() && time.Now().Before(deadline) {
				<-t.C
				a.Tick()
			}
			return a.Close()
		}
	}
}

// runCheckpointer hands the writer the checkpoints that are due every tick,
// beside the main loop: a tick waits for the commits of bookings (and an
// authorisation holds its line while its intent commits), and the pours on
// the other lines must not wait with it. A line whose lock is held is
// skipped until the next tick: it is booking or authorising, or an edge is
// being counted. A panic in it closes every valve at once and is handed to
// Run (panics) to end the main loop like its own. stop ends it, waits for it
// and raises a panic it had that Run did not take.
func (a *Agent) runCheckpointer(tick time.Duration) (stop func(), panics <-chan any) {
	quit, done, pc := make(chan struct{}), make(chan struct{}), make(chan any, 1)
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				a.closeAllValves()
				pc <- r
			}
		}()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				a.checkpointTick()
			case <-quit:
				return
			}
		}
	}()
	stop = func() {
		close(quit)
		<-done
		select {
		case r := <-pc:
			panic(r)
		default:
		}
	}
	return stop, pc
}

// checkpointTick hands over the due checkpoints of every line not busy.
func (a *Agent) checkpointTick() {
	for _, l := range a.order {
		a.tryCheckpoint(l)
	}
}

// tryCheckpoint releases the line's lock even when it panics, so the main
// loop can take the line and end on the panic Run is handed.
func (a *Agent) tryCheckpoint(l *line) {
	if !l.mu.TryLock() {
		return
	}
	defer l.mu.Unlock()
	a.checkpointDue(l, a.clk.Mono())
}
