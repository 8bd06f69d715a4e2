// Package delivery feeds the outbox to the back ends other than the TTG
// server (SmartNow now; Telemetron and TouchTopUp plug in the same way):
// one Pump per Sink, each on its own cursor of the shared outbox
// (storage.SinkView), so that one back end being down or misconfigured
// never delays another, nor the wall.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// Sink is one back end fed from the outbox.
type Sink interface {
	// Name is the sink's name in the store and in `tapagent outbox`.
	Name() string
	// Deliver sends recs (oldest first) and returns an outcome for every
	// record it settled. A record the back end has no use for (a
	// calibration for a sales cloud) is settled without being sent. An
	// error means "try again later": the records without an outcome stay
	// and are offered again, so Deliver must be idempotent on the back
	// end's own terms.
	Deliver(ctx context.Context, recs []storage.Record) ([]Outcome, error)
}

// EventSink is a Sink that also takes the agent's durable event log
// (alarms as SmartNow logs). DeliverEvents returns the sequence up to which
// it has handled the events (sent, or of no use to it); an error means the
// rest is offered again.
type EventSink interface {
	DeliverEvents(ctx context.Context, evs []storage.LoggedEvent) (upTo uint64, err error)
}

// Outcome is what became of one record.
type Outcome struct {
	Seq uint64
	// Refused, when not empty, is the back end's reason for refusing the
	// record for good: it becomes one of this sink's dead letters.
	Refused string
}

// Outbox is the sink's view of the outbox (storage.SinkView).
type Outbox interface {
	Outbox(after uint64, n int) ([]storage.Record, error)
	Ack(seqs ...uint64) error
	Bury(seq uint64, reason string, at int64) error
	NoteError(msg string, at int64) error
	Events(n int) ([]storage.LoggedEvent, error)
	TakeEvents(seq uint64) error
}

// Notice is something a pump reports: records delivered, a dead letter,
// the link going down or coming back.
type Notice struct {
	Sink     string
	Type     device.EventType
	RecordID string
	Detail   string
	Count    int
}

// Notice types: the agent's event types.
const (
	NoticeDelivered  = device.EventSinkDelivered
	NoticeDeadLetter = device.EventSinkDeadLetter
	NoticeDown       = device.EventSinkDown
	NoticeUp         = device.EventSinkUp
)

// Options tune a pump.
type Options struct {
	// Batch is how many records one Deliver call gets (default 50).
	Batch int
	// Idle is the poll interval with nothing to send (a Kick wakes it
	// sooner; default 1 s); MaxBackoff caps the wait after failures
	// (default 1 min).
	Idle, MaxBackoff time.Duration
	Now              func() time.Time
	Log              *slog.Logger
	Notify           func(Notice)
}

// Pump delivers one sink's records until its context ends.
type Pump struct {
	sink Sink
	box  Outbox
	o    Options
	kick chan struct{}

	mu    sync.Mutex // one pass at a time (Run and Flush)
	noted string
	down  bool
}

// NewPump builds the pump of sink over its outbox view.
func NewPump(sink Sink, box Outbox, o Options) *Pump {
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Idle <= 0 {
		o.Idle = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Notify == nil {
		o.Notify = func(Notice) {}
	}
	return &Pump{sink: sink, box: box, o: o, kick: make(chan struct{}, 1)}
}

// Kick wakes the pump: a record was booked. It never blocks.
func (p *Pump) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, backing off while the back end fails.
func (p *Pump) Run(ctx context.Context) {
	fails := 0
	for ctx.Err() == nil {
		n, err := p.Once(ctx)
		wait := p.o.Idle
		switch {
		case err != nil && ctx.Err() == nil:
			fails++
			wait = ttg.Backoff(fails, 500*time.Millisecond, p.o.MaxBackoff, rand.Float64)
			p.o.Log.Warn("delivery failed; what the sink has not taken stays for the next try", "sink", p.sink.Name(), "err", err,
				"attempt", fails, "retry_in", wait.Round(time.Millisecond))
		case n > 0:
			fails = 0
			continue
		default:
			fails = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-p.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// Flush delivers until nothing is left to send, the back end fails or
// ctx ends.
func (p *Pump) Flush(ctx context.Context) error {
	for {
		n, err := p.Once(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// Once offers one batch to the sink and settles what it reports; it
// returns how many records were settled.
func (p *Pump) Once(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := p.records(ctx)
	if err == nil {
		var m int
		m, err = p.events(ctx)
		n += m
	}
	if err != nil {
		p.link(err)
		return n, fmt.Errorf("%s: %w", p.sink.Name(), err)
	}
	if n > 0 {
		p.link(nil)
	}
	return n, nil
}

func (p *Pump) records(ctx context.Context) (int, error) {
	recs, err := p.box.Outbox(0, p.o.Batch)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	outs, derr := p.sink.Deliver(ctx, recs)
	n, serr := p.settle(recs, outs)
	return n, errors.Join(derr, serr)
}

// events offers the next events to a sink that takes them.
func (p *Pump) events(ctx context.Context) (int, error) {
	es, ok := p.sink.(EventSink)
	if !ok {
		return 0, nil
	}
	evs, err := p.box.Events(p.o.Batch)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	upTo, derr := es.DeliverEvents(ctx, evs)
	n := 0
	for _, e := range evs {
		if e.Seq <= upTo {
			n++
		}
	}
	if n > 0 {
		if err := p.box.TakeEvents(upTo); err != nil {
			return 0, errors.Join(derr, err)
		}
	}
	return n, derr
}

// settle acknowledges and buries what the sink reported, ignoring
// outcomes for records it was not offered.
func (p *Pump) settle(recs []storage.Record, outs []Outcome) (int, error) {
	byseq := make(map[uint64]string, len(recs))
	for _, r := range recs {
		byseq[r.Seq] = r.ID
	}
	var acks []uint64
	n := 0
	for _, o := range outs {
		id, ok := byseq[o.Seq]
		if !ok {
			continue
		}
		delete(byseq, o.Seq)
		n++
		if o.Refused == "" {
			acks = append(acks, o.Seq)
			continue
		}
		if err := p.box.Bury(o.Seq, o.Refused, p.o.Now().UnixMilli()); err != nil {
			return n, err
		}
		p.o.Notify(Notice{Sink: p.sink.Name(), Type: NoticeDeadLetter, RecordID: id, Detail: o.Refused})
	}
	if err := p.box.Ack(acks...); err != nil {
		return n, err
	}
	if len(acks) > 0 {
		p.o.Notify(Notice{Sink: p.sink.Name(), Type: NoticeDelivered, Count: len(acks)})
	}
	return n, nil
}

// link keeps the sink's last error in the store and reports changes.
func (p *Pump) link(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg != p.noted {
		if e := p.box.NoteError(msg, p.o.Now().UnixMilli()); e == nil {
			p.noted = msg
		}
	}
	switch {
	case err != nil && !p.down:
		p.down = true
		p.o.Notify(Notice{Sink: p.sink.Name(), Type: NoticeDown, Detail: msg})
	case err == nil && p.down:
		p.down = false
		p.o.Notify(Notice{Sink: p.sink.Name(), Type: NoticeUp})
	}
}
