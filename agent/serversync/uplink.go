// Package serversync wires the TTG sync engine to the agent: client and syncer
// from the configuration, notices into the agent's event stream, and the
// embedded emulator for bench runs.
package serversync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// Uplink is the agent's TTG link during a run, with the embedded server
// when no external one was given.
type Uplink struct {
	Syncer *ttg.Syncer
	Server *ttgserver.Server // nil when an external server is used
	URL    string

	loc    *time.Location // the server's zone (ttg.time_zone)
	http   *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
	report func(device.Event)
	mu     sync.Mutex
}

// StartEmulator serves a TTG emulator on a loopback port, its time_zone
// set to zone (an IANA name) whatever its database held.
func StartEmulator(dataDir, zone string, log *slog.Logger) (*ttgserver.Server, *http.Server, string, error) {
	srv, err := ttgserver.New(ttgserver.Options{DataDir: dataDir, Zone: zone, Log: log})
	if err != nil {
		return nil, nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, nil, "", err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return srv, hs, "http://" + ln.Addr().String(), nil
}

// Embedded is the simulator's own TTG server, serving on a loopback port.
type Embedded struct {
	Server *ttgserver.Server
	URL    string
	http   *http.Server
}

// StartEmbedded serves the TTG emulator for cfg (data under the data
// directory, the time zone of ttg.time_zone or else the host's) on a
// loopback port.
func StartEmbedded(cfg *config.Config, log *slog.Logger) (*Embedded, error) {
	srv, hs, url, err := embedded(cfg, log)
	if err != nil {
		return nil, err
	}
	return &Embedded{Server: srv, URL: url, http: hs}, nil
}

// Close stops serving and closes the emulator's database.
func (e *Embedded) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = e.http.Shutdown(ctx)
	return e.Server.Close()
}

func embedded(cfg *config.Config, log *slog.Logger) (*ttgserver.Server, *http.Server, string, error) {
	zone, err := emulatorZone(cfg.TTG, systemHost())
	if err != nil {
		return nil, nil, "", fmt.Errorf("embedded TTG server: %w", err)
	}
	srv, hs, url, err := StartEmulator(filepath.Join(cfg.Device.DataDir, "ttg-server"), zone, log)
	if err != nil {
		return nil, nil, "", fmt.Errorf("embedded TTG server: %w", err)
	}
	return srv, hs, url, nil
}

// New builds the client and syncer for cfg.TTG, starting the
// embedded emulator when cfg.TTG.URL is empty and embed is true.
func New(cfg *config.Config, store *storage.Store, embed bool, log *slog.Logger) (*Uplink, error) {
	loc, err := cfg.TTG.Location()
	if err != nil {
		return nil, err
	}
	u := &Uplink{URL: cfg.TTG.URL, loc: loc, report: func(device.Event) {}}
	if u.URL == "" {
		if !embed {
			return nil, errors.New("no TTG server configured")
		}
		if u.Server, u.http, u.URL, err = embedded(cfg, log); err != nil {
			return nil, err
		}
	}
	client := ttg.NewClient(ttg.ClientConfig{BaseURL: u.URL, Username: cfg.TTG.Username, Password: cfg.TTG.Password,
		ClientID: cfg.Device.ID, ClientName: cfg.TTG.ClientName, Timeout: cfg.TTG.Timeout.Duration, Log: log})
	lines := make([]int, 0, len(cfg.Lines))
	for _, l := range cfg.Lines {
		lines = append(lines, l.ID)
	}
	u.Syncer = ttg.NewSyncer(client, store, ttg.SyncConfig{DeviceID: cfg.Device.ID, LocationID: cfg.Device.LocationID,
		Lines: lines, Refresh: cfg.TTG.Refresh.Duration, StampPoll: cfg.TTG.StampPoll.Duration, Batch: cfg.TTG.Batch,
		Loc: loc, Log: log}, u.notice)
	return u, nil
}

// notice turns syncer notices into agent events.
func (u *Uplink) notice(n ttg.Notice) {
	u.mu.Lock()
	report := u.report
	u.mu.Unlock()
	report(device.Event{Type: n.Type, PourID: n.RecordID, Detail: n.Detail})
}

// LinkState is the server link as the device-status call reports it:
// 1 connected, 0 broken, with the server's URL.
func (u *Uplink) LinkState() (int, string) {
	if u.Syncer.Link() == ttg.LinkUp {
		return 1, u.URL
	}
	return 0, u.URL
}

// Token is the TTG server token the device uses; the device status call
// (3.34 ttg_server_auth_token) reports only its fingerprint.
func (u *Uplink) Token() string { return u.Syncer.Token() }

// Attach sends the syncer's notices into the agent's event stream.
func (u *Uplink) Attach(report func(device.Event)) {
	u.mu.Lock()
	u.report = report
	u.mu.Unlock()
}

// Start reports into the agent's event stream and syncs until Stop.
func (u *Uplink) Start(report func(device.Event)) {
	u.Attach(report)
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	u.wg.Add(1)
	go func() { defer u.wg.Done(); u.Syncer.Run(ctx) }()
}

// Stop delivers what it can within grace, then stops syncing and the
// embedded server.
func (u *Uplink) Stop(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	err := u.Syncer.Flush(ctx)
	cancel()
	if u.cancel != nil {
		u.cancel()
		u.cancel = nil
	}
	u.wg.Wait()
	if u.http != nil {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		_ = u.http.Shutdown(sctx)
		scancel()
		err = errors.Join(err, u.Server.Close())
		u.http = nil
	}
	return err
}
