// Package clouds starts the outbox sinks other than the TTG server from
// the configuration (SmartNow and Telemetron now; TouchTopUp plugs in here
// with a delivery.Sink) and says which sinks the store delivers to.
// It is the one entry point `tapagent run` and `tapagent sim` call.
package clouds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tapagent/tapagent/agent/delivery"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/telemetron"
)

// Names is every sink the outbox delivers to with cfg: the TTG server
// always (without one configured its records wait, as they always did),
// SmartNow when [smartnow] url is set, Telemetron when [telemetron] url is.
func Names(cfg *config.Config) []string {
	names := []string{storage.DefaultSink}
	if cfg.SmartNow.URL != "" {
		names = append(names, smartnow.SinkName)
	}
	if cfg.Telemetron.URL != "" {
		names = append(names, telemetron.SinkName)
	}
	return names
}

// StoreOptions are the storage options of the agent's database: the
// sinks and what every record carries (zone, currency).
func StoreOptions(cfg *config.Config, now func() time.Time, log *slog.Logger) storage.Options {
	return storage.Options{OpenTimeout: cfg.Storage.OpenTimeout.Duration, MaxEvents: cfg.Storage.MaxEvents, Now: now,
		Sinks: Names(cfg), Stamp: Stamp(cfg, log)}
}

// Stamp is the zone and currency Book writes into every record: the
// wall's zone (ttg.time_zone, "Local" named as the host names it) and
// device.currency.
func Stamp(cfg *config.Config, log *slog.Logger) storage.Stamp {
	st := storage.Stamp{Currency: cfg.Device.Currency, Decimals: cfg.Device.Decimals}
	loc, err := cfg.TTG.Location()
	if err != nil {
		return st // Validate has refused it already
	}
	st.Zone = loc
	if name, err := serversync.ZoneName(cfg.TTG); err == nil {
		st.ZoneName = name
	} else if log != nil {
		log.Warn("records carry no IANA zone name", "err", err)
	}
	return st
}

// Links are the running cloud sinks.
type Links struct {
	log    *slog.Logger
	pumps  []*delivery.Pump
	loops  []func(context.Context) // a sink's own work beside its pump
	report func(device.Event)
	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a pump for every configured cloud over its view of store.
func New(cfg *config.Config, store *storage.Store, now func() time.Time, version string, log *slog.Logger) (*Links, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Links{log: log, report: func(device.Event) {}}
	if s := cfg.SmartNow; s.URL != "" {
		view, err := store.Sink(smartnow.SinkName)
		if err != nil {
			return nil, err
		}
		c := smartnow.NewClient(smartnow.Config{BaseURL: s.URL, Username: s.Username, Password: s.Password, Paths: s.Paths,
			Timeout: s.Timeout.Duration, TokenLifetime: s.TokenLifetime.Duration, Now: now, Log: log})
		st := Stamp(cfg, log)
		sink := smartnow.NewSink(c, smartnow.Machine{Hostname: s.Hostname, ID: s.MachineID, Zone: st.Zone, ZoneName: st.ZoneName})
		l.pumps = append(l.pumps, delivery.NewPump(sink, view, delivery.Options{Batch: s.Batch, Now: now, Log: log, Notify: l.notice}))
	}
	if cfg.Telemetron.URL != "" {
		if err := l.addTelemetron(cfg, store, now, version, log); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// addTelemetron adds the Telemetron sink: its pump, and its own loop for
// the data requests, state and reports (whose CB1 names the agent's
// version).
func (l *Links) addTelemetron(cfg *config.Config, store *storage.Store, now func() time.Time, version string, log *slog.Logger) error {
	view, err := store.Sink(telemetron.SinkName)
	if err != nil {
		return err
	}
	sink := telemetron.FromConfig(cfg, store, Stamp(cfg, log).Zone, now, version, log)
	l.pumps = append(l.pumps, delivery.NewPump(sink, view, delivery.Options{Batch: cfg.Telemetron.Batch, Now: now, Log: log, Notify: l.notice}))
	l.loops = append(l.loops, sink.Run)
	return nil
}

func (l *Links) notice(n delivery.Notice) {
	l.mu.Lock()
	report := l.report
	l.mu.Unlock()
	detail := n.Sink
	if n.Detail != "" {
		detail += ": " + n.Detail
	}
	if n.Count > 0 {
		detail = fmt.Sprintf("%s: %d records", n.Sink, n.Count)
	}
	report(device.Event{Type: n.Type, PourID: n.RecordID, Detail: detail})
}

// Kick wakes every sink: a record was booked. It never blocks.
func (l *Links) Kick() {
	for _, p := range l.pumps {
		p.Kick()
	}
}

// Start reports into the agent's event stream and delivers until Stop.
func (l *Links) Start(report func(device.Event)) {
	l.mu.Lock()
	l.report = report
	l.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for _, p := range l.pumps {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); p.Run(ctx) }()
	}
	for _, run := range l.loops {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); run(ctx) }()
	}
}

// Stop stops every sink, then delivers what it can within grace; what is
// left stays in the outbox (logged).
func (l *Links) Stop(grace time.Duration) error {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
		l.cancel = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var errs []error
	for _, p := range l.pumps {
		errs = append(errs, p.Flush(ctx))
	}
	err := errors.Join(errs...)
	if err != nil {
		l.log.Warn("cloud delivery incomplete at exit; what a cloud has not taken (records in the outbox, events in the event log) goes at the next start", "err", err)
	}
	return err
}

// Then runs first and then l.Kick: the agent's OnBooked with the clouds
// added.
func (l *Links) Then(first func()) func() {
	return func() {
		if first != nil {
			first()
		}
		l.Kick()
	}
}
