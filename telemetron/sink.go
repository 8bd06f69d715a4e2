package telemetron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/agent/delivery"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// SinkName is Telemetron's name in the outbox.
const SinkName = "telemetron"

// maxRows is the most rows Telemetron takes in one call.
const maxRows = 1000

// Cache keys of what the sink remembers across restarts.
const cacheReportAt = "telemetron/report_at"

// Memory keeps small documents across restarts (storage.Store's cache).
type Memory interface {
	PutCache(key string, v []byte) error
	Cache(key string) ([]byte, error)
}

// SinkOptions are what the sink needs beyond its client.
type SinkOptions struct {
	// MachineID is the vending machine in Telemetron; Paths its resources
	// ({id} is filled in).
	MachineID int64
	Paths     config.TelemetronPaths
	Machine   Machine
	// Lines are the wall's line ids; Kegs reads the kegs on them now.
	Lines []int
	Kegs  func() (map[int]flow.Keg, error)
	// Locked reads the operator's line locks as the store keeps them
	// across restarts (device.LockedLines); the event log's line_locked
	// and line_unlocked keep them current after that.
	Locked func() (map[int]bool, error)
	// Report takes a fresh EVA-DTS read-out; Snapshot is the
	// configuration without its secrets.
	Report   func() ([]byte, error)
	Snapshot func() (map[string]any, error)
	Memory   Memory
	// Encoding is [telemetron] report_encoding.
	Encoding                                                 string
	RequestPoll, StateInterval, ReportInterval, NoSalesAfter time.Duration
	Now                                                      func() time.Time
	Log                                                      *slog.Logger
}

// Sink delivers sales as vend rows (batched), the event log as events,
// keg changes as refills and inventories, and keeps the machine state,
// the EVA-DTS reports and the data requests current. Resends are
// idempotent on Telemetron's terms: a refill or inventory carries the
// device time of its change as created_at (a resend is L102 Duplicate,
// counted as delivered), an identical event, vend row or report is stored
// once, and what was acknowledged is never offered again (the pump's
// cursor, the event cursor).
type Sink struct {
	c *Client
	o SinkOptions

	mu       sync.Mutex // Tend and the state it keeps
	started  time.Time
	lastSale time.Time
	locked   map[int]bool
	sent     *State
	stateAt  time.Time
	polledAt time.Time
	reportAt time.Time
	report   *pendingReport // a read-out not yet acknowledged
}

// pendingReport is a report document and its query flags.
type pendingReport struct {
	doc Report
	q   url.Values
}

var (
	_ delivery.Sink      = (*Sink)(nil)
	_ delivery.EventSink = (*Sink)(nil)
)

// NewSink builds the sink over client c.
func NewSink(c *Client, o SinkOptions) *Sink {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Paths == (config.TelemetronPaths{}) {
		o.Paths = config.DefaultTelemetronPaths()
	}
	d := config.Base().Telemetron
	for _, p := range []struct{ v, def *time.Duration }{{&o.RequestPoll, &d.RequestPoll.Duration},
		{&o.StateInterval, &d.StateInterval.Duration}, {&o.ReportInterval, &d.ReportInterval.Duration},
		{&o.NoSalesAfter, &d.NoSalesAfter.Duration}} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	s := &Sink{c: c, o: o, started: o.Now(), locked: map[int]bool{}}
	s.reportAt = s.started
	if o.Locked != nil {
		if locked, err := o.Locked(); err == nil {
			maps.Copy(s.locked, locked)
		} else {
			o.Log.Warn("telemetron state: the line locks are unreadable; lines count as unlocked until they change", "err", err)
		}
	}
	if o.Memory != nil {
		if raw, err := o.Memory.Cache(cacheReportAt); err == nil && len(raw) > 0 {
			if ms, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
				s.reportAt = time.UnixMilli(ms)
			}
		}
	}
	return s
}

// FromConfig builds the client and sink of [telemetron] over the agent's
// store: kegs, the audit's read-outs and the cache come from it.
func FromConfig(cfg *config.Config, store *storage.Store, zone *time.Location, now func() time.Time, version string, log *slog.Logger) *Sink {
	t := cfg.Telemetron
	c := NewClient(Config{BaseURL: t.URL, AuthURL: t.AuthURL, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
		Username: t.Username, Password: t.Password, Scope: t.Scope, Timeout: t.Timeout.Duration, Now: now, Log: log})
	sel := map[int]int{}
	for _, it := range cfg.EXE.Items {
		sel[it.PLU] = it.Selection
	}
	lines := make([]int, 0, len(cfg.Lines))
	for _, l := range cfg.Lines {
		lines = append(lines, l.ID)
	}
	audit := evadts.NewAudit(store, now)
	id := evadts.IdentityFrom(cfg, version)
	full := cfg.Audit.ResetOnRead == "full"
	return NewSink(c, SinkOptions{MachineID: t.MachineID, Paths: t.Paths, Machine: Machine{Zone: zone, Selections: sel},
		Lines: lines, Kegs: store.Kegs, Locked: func() (map[int]bool, error) { return device.LockedLines(store) }, Report: func() ([]byte, error) { return audit.Read(id, full, "telemetron") },
		Snapshot: func() (map[string]any, error) { return Snapshot(cfg) }, Memory: store, Encoding: t.ReportEncoding,
		RequestPoll: t.RequestPoll.Duration, StateInterval: t.StateInterval.Duration, ReportInterval: t.ReportInterval.Duration,
		NoSalesAfter: t.NoSalesAfter.Duration, Now: now, Log: log})
}

// Name is the sink's name in the outbox.
func (s *Sink) Name() string { return SinkName }

func (s *Sink) path(p string) string {
	return strings.ReplaceAll(p, "{id}", strconv.FormatInt(s.o.MachineID, 10))
}

// Deliver sends the sales among recs as vend rows in one call, settles
// the records that are no vend, and tends the machine's other documents.
func (s *Sink) Deliver(ctx context.Context, recs []storage.Record) ([]delivery.Outcome, error) {
	out := make([]delivery.Outcome, 0, len(recs))
	var rows []Sale
	var seqs []uint64
	for _, r := range recs {
		row, ok, err := VendRow(r, s.o.Machine)
		switch {
		case err != nil:
			out = append(out, delivery.Outcome{Seq: r.Seq, Refused: err.Error()})
		case !ok:
			out = append(out, delivery.Outcome{Seq: r.Seq}) // nothing Telemetron keeps
		default:
			rows, seqs = append(rows, row), append(seqs, r.Seq)
			s.noteSale(time.UnixMilli(r.EndedAt))
		}
	}
	for len(rows) > 0 {
		n := min(len(rows), maxRows)
		refused, err := postList(ctx, s, s.path(s.o.Paths.Sales), rows[:n])
		if err != nil {
			return out, fmt.Errorf("vend rows: %w", err)
		}
		for i, seq := range seqs[:n] {
			out = append(out, delivery.Outcome{Seq: seq, Refused: refused[i]})
		}
		rows, seqs = rows[n:], seqs[n:]
	}
	return out, s.Tend(ctx, true)
}

func (s *Sink) noteSale(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.After(s.lastSale) {
		s.lastSale = at
	}
}

// postList posts docs as one list; when Telemetron refuses the list
// (400/422: the documents, not the link), each is posted alone, so one bad
// document is refused alone. refused[i] is the reason for docs[i], "" for
// delivered.
func postList[T any](ctx context.Context, s *Sink, path string, docs []T) ([]string, error) {
	refused := make([]string, len(docs))
	reason, err := s.post(ctx, path, nil, docs)
	if err != nil || reason == "" {
		return refused, err
	}
	if len(docs) == 1 {
		refused[0] = reason
		return refused, nil
	}
	for i := range docs {
		if refused[i], err = s.post(ctx, path, nil, docs[i:i+1]); err != nil {
			return nil, err
		}
	}
	return refused, nil
}

// post creates one document. refused is Telemetron's reason when it
// refused the document itself (400, 422); L102 Duplicate means it holds
// the document already: delivered. A 2xx that is not JSON, a 5xx, a 401
// after a fresh login or the network is an error: try again later.
func (s *Sink) post(ctx context.Context, path string, q url.Values, body any) (refused string, err error) {
	status, raw, err := s.c.Call(ctx, http.MethodPost, path, q, body)
	if err != nil {
		return "", err
	}
	switch status {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
		if err := DecodeCreated(raw); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		return "", nil
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		e := DecodeError(raw)
		if e.Subcode == "L102" {
			return "", nil
		}
		return fmt.Sprintf("telemetron %s: HTTP %d: %s", path, status, e), nil
	}
	return "", &APIError{Status: status, Path: path, Body: DecodeError(raw)}
}

// kegEvent says whether an event changes a keg's level by hand: a keg
// change, an adjustment, a keg marked empty.
func kegEvent(t device.EventType) bool {
	return t == device.EventKegChanged || t == device.EventKegAdjusted || t == device.EventKegMarkedEmpty
}

// DeliverEvents sends the alarms and service events among evs as events
// (batched) and the keg operations as refills and inventories, in the
// log's order, and returns how far it got: what was acknowledged is never
// offered again.
func (s *Sink) DeliverEvents(ctx context.Context, evs []storage.LoggedEvent) (uint64, error) {
	d := eventPass{s: s}
	for i := 0; i < len(evs); i++ {
		ev, ok := decodeEvent(evs[i])
		s.noteLock(ev)
		if !ok || !kegEvent(ev.Type) || ev.Keg == nil {
			if doc, ok := EventDoc(ev, evs[i].Seq, s.o.Machine.Zone); ok {
				d.batch = append(d.batch, doc)
			}
			d.pending = evs[i].Seq
			if len(d.batch) >= maxRows {
				if err := d.flush(ctx); err != nil {
					return d.upTo, err
				}
			}
			continue
		}
		if err := d.flush(ctx); err != nil {
			return d.upTo, err
		}
		group, j := kegGroup(evs, i, ev)
		if err := s.loads(ctx, group); err != nil {
			return d.upTo, err
		}
		d.upTo, d.pending, i = evs[j].Seq, evs[j].Seq, j
	}
	if err := d.flush(ctx); err != nil {
		return d.upTo, err
	}
	return d.upTo, s.Tend(ctx, false)
}

// kegGroup is the keg operation ev at evs[i] with those that follow it in
// the same second, which go as one document (Telemetron tells documents
// apart by created_at, to the second), and the index of the last.
func kegGroup(evs []storage.LoggedEvent, i int, ev device.Event) ([]device.Event, int) {
	group := []device.Event{ev}
	for i+1 < len(evs) {
		next, ok := decodeEvent(evs[i+1])
		if !ok || !kegEvent(next.Type) || next.Keg == nil || next.Time.Unix() != ev.Time.Unix() {
			break
		}
		group, i = append(group, next), i+1
	}
	return group, i
}

// eventPass is one DeliverEvents call's batch of events.
type eventPass struct {
	s       *Sink
	batch   []Event
	pending uint64 // the last sequence the batch covers
	upTo    uint64
}

func (d *eventPass) flush(ctx context.Context) error {
	if len(d.batch) > 0 {
		refused, err := postList(ctx, d.s, d.s.path(d.s.o.Paths.Events), d.batch)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		for i, r := range refused {
			if r != "" {
				d.s.o.Log.Warn("telemetron refused an event; it is not sent again", "code", d.batch[i].Code, "reason", r)
			}
		}
		d.batch = d.batch[:0]
	}
	d.upTo = max(d.upTo, d.pending)
	return nil
}

func decodeEvent(e storage.LoggedEvent) (device.Event, bool) {
	var ev device.Event
	if err := json.Unmarshal(e.Raw, &ev); err != nil || ev.Time.IsZero() {
		return device.Event{}, false
	}
	return ev, true
}

// noteLock follows the line locks the event log reports.
func (s *Sink) noteLock(ev device.Event) {
	if ev.Type != device.EventLineLocked && ev.Type != device.EventLineUnlocked {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locked[ev.Line] = ev.Type == device.EventLineLocked
}

// loads sends keg operations of one second: a refill for the kegs
// changed, then an inventory of every keg named, both at the device time
// of the change.
func (s *Sink) loads(ctx context.Context, group []device.Event) error {
	at := group[0].Time
	kegs := map[int]flow.Keg{}
	var refill Load
	for _, ev := range group {
		kegs[ev.Line] = *ev.Keg
		if ev.Type == device.EventKegChanged {
			r := Refill(ev.Line, *ev.Keg, at, s.o.Machine.Zone)
			refill.Data, refill.Note, refill.CreatedAt = append(refill.Data, r.Data...), r.Note, r.CreatedAt
		}
	}
	if len(refill.Data) > 0 {
		if err := s.load(ctx, s.o.Paths.Loading, refill); err != nil {
			return err
		}
	}
	return s.load(ctx, s.o.Paths.Inventory, Inventory(kegs, at, s.o.Machine.Zone, string(group[len(group)-1].Type)))
}

func (s *Sink) load(ctx context.Context, path string, ld Load) error {
	refused, err := s.post(ctx, s.path(path), nil, ld)
	if err != nil {
		return fmt.Errorf("keg levels: %w", err)
	}
	if refused != "" {
		s.o.Log.Warn("telemetron refused a keg level; it is not sent again", "reason", refused)
	}
	return nil
}

// Run tends the machine's documents every request_poll until ctx ends,
// so that requests, state and reports go out when no record does.
func (s *Sink) Run(ctx context.Context) {
	t := time.NewTicker(s.o.RequestPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Tend(ctx, true); err != nil && ctx.Err() == nil {
				s.o.Log.Warn("telemetron: tending the machine's documents failed; retried", "err", err)
			}
		}
	}
}

// Tend asks for the open data request (poll, or when request_poll has
// passed) and fulfils it, sends a report when the audit period has passed
// and the state when it changed or state_interval passed. An error is a
// failure of the link: what was not sent is sent at the next pass.
func (s *Sink) Tend(ctx context.Context, poll bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	var errs []error
	if poll || now.Sub(s.polledAt) >= s.o.RequestPoll {
		if err := s.request(ctx); err != nil {
			errs = append(errs, err)
		} else {
			s.polledAt = now
		}
	}
	if now.Sub(s.reportAt) >= s.o.ReportInterval {
		errs = append(errs, s.sendReport(ctx))
	}
	errs = append(errs, s.sendState(ctx, now))
	return errors.Join(errs...)
}

// request fulfils the open data request, if any: a fresh report and the
// configuration snapshot, as asked.
func (s *Sink) request(ctx context.Context) error {
	path := s.path(s.o.Paths.Request)
	status, raw, err := s.c.Call(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	switch status {
	case http.StatusNotFound:
		return nil // nothing asked
	case http.StatusOK:
	default:
		return &APIError{Status: status, Path: path, Body: DecodeError(raw)}
	}
	req, err := DecodeOpenRequest(raw)
	if err != nil {
		return err
	}
	s.o.Log.Info("telemetron data request", "request", req.ID, "report", req.Report, "config", req.Config)
	var errs []error
	if req.Report {
		errs = append(errs, s.sendReport(ctx))
	}
	if req.Config {
		errs = append(errs, s.sendConfig(ctx))
	}
	return errors.Join(errs...)
}

// sendReport posts a fresh EVA-DTS read-out, encoded as report_encoding
// says. A read-out whose post failed is posted again as it was, not read
// anew: Telemetron stores an identical report once, so a lost reply does
// not make two.
func (s *Sink) sendReport(ctx context.Context) error {
	if s.o.Report == nil {
		return nil
	}
	now := s.o.Now()
	if s.report == nil {
		raw, err := s.o.Report()
		if err != nil {
			return fmt.Errorf("telemetron report: %w", err)
		}
		doc, q, err := EncodeReport(raw, now, s.o.Machine.Zone, evadts.PortOwn, s.o.Encoding)
		if err != nil {
			return err
		}
		s.report = &pendingReport{doc: doc, q: q}
	}
	refused, err := s.post(ctx, s.path(s.o.Paths.Reports), s.report.q, s.report.doc)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if refused != "" {
		s.o.Log.Warn("telemetron refused the EVA-DTS report", "reason", refused)
	}
	s.report, s.reportAt = nil, now
	if s.o.Memory != nil {
		if err := s.o.Memory.PutCache(cacheReportAt, []byte(strconv.FormatInt(now.UnixMilli(), 10))); err != nil {
			s.o.Log.Warn("telemetron: report time not kept", "err", err)
		}
	}
	return nil
}

// sendConfig posts the configuration snapshot, every secret removed.
func (s *Sink) sendConfig(ctx context.Context) error {
	if s.o.Snapshot == nil {
		return nil
	}
	doc, err := s.o.Snapshot()
	if err != nil {
		return err
	}
	refused, err := s.post(ctx, s.path(s.o.Paths.Config), nil, doc)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if refused != "" {
		s.o.Log.Warn("telemetron refused the configuration snapshot", "reason", refused)
	}
	return nil
}

// sendState posts the machine state when it changed or state_interval passed.
func (s *Sink) sendState(ctx context.Context, now time.Time) error {
	kegs := map[int]flow.Keg{}
	if s.o.Kegs != nil {
		var err error
		if kegs, err = s.o.Kegs(); err != nil {
			return fmt.Errorf("telemetron state: %w", err)
		}
	}
	st := StateOf(Wall{Lines: s.o.Lines, Kegs: kegs, Locked: s.locked, LastSale: s.lastSale}, now, s.started, s.o.NoSalesAfter)
	if s.sent != nil && *s.sent == st && now.Sub(s.stateAt) < s.o.StateInterval {
		return nil
	}
	refused, err := s.post(ctx, s.path(s.o.Paths.State), nil, st)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if refused != "" {
		s.o.Log.Warn("telemetron refused the machine state", "reason", refused)
	}
	s.sent, s.stateAt = &st, now
	return nil
}
