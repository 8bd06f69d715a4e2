// Package telemetronapi serves the machine's own data through the
// resources of Telemetron's API v2 that concern one machine, so that
// Telemetron-style operator tools and scripts can read a tapagent machine
// directly: OAuth2 (password and refresh_token grants, Bearer tokens),
// the machine and its events, EVA-DTS reports, state, loading, vend
// statistics and data requests. Times are ISO 8601 with the wall's
// offset; errors are the reference's {message, subcode, errors}.
// docs/clouds.md "Telemetron: the machine's own API" says which parts
// are the documented API and which are assumptions.
package telemetronapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/httpguard"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/web"
)

// Limits of a request and of the server's tables.
const (
	maxBody = 16 << 10
)

// Wall is the wall as the API reads it (*device.Agent).
type Wall interface {
	Kegs() []device.KegInfo
}

// Audit is the EVA-DTS audit as the API reads and fulfils report
// requests from it (*evadts.Audit).
type Audit interface {
	Reports(since, until time.Time, port int) ([]evadts.Kept, bool, error)
	Read(id evadts.Identity, full bool, terminal string) ([]byte, error)
}

// Options are what the API serves.
type Options struct {
	// Config is the [telemetron] section; Listen must be set.
	Config config.Telemetron
	// DataDir finds the default users file.
	DataDir string
	// Machine describes the one machine served.
	Machine MachineInfo
	Wall    Wall
	Store   *storage.Store
	Audit   Audit
	// Identity names the machine in the reports a report request writes.
	Identity evadts.Identity
	// Snapshot is the secret-free configuration a config request gives
	// (telemetron.Snapshot: the document the uplink sends).
	Snapshot func() (map[string]any, error)
	// NoSalesAfter sets no_recent_sales when nothing was sold for so
	// long ([telemetron] no_sales_after, as the uplink's state).
	NoSalesAfter time.Duration
	// Zone is the wall's time zone: times are rendered with its offset.
	Zone *time.Location
	Now  func() time.Time
	Log  *slog.Logger
	// ReadTimeout bounds reading a request, headers and body; zero is
	// 10 s. A client slower than that is cut off.
	ReadTimeout time.Duration
}

// MachineInfo is what the machine object says of the machine itself.
type MachineInfo struct {
	ID       int64
	Name     string
	Serial   string
	Location string
	// LocationID is the location site's id (device.location_id); 0: none.
	LocationID int64
	Version    string
	// Bus is the payment bus ("mdb", "exe" or "" for none).
	Bus string
	// Selections are the EXE selection of each vended PLU (a vend's
	// layout_number).
	Selections map[int]int
}

// Server is the running API.
type Server struct {
	// URL is where it listens ("https://127.0.0.1:8091").
	URL string

	o      Options
	logins *web.Logins
	tokens *tokens
	reqs   *requests
	hist   *history.Log
	// started counts as the last sale while none is known.
	started time.Time
	hs      *http.Server
	done    chan struct{}
	cancel  context.CancelFunc
	// fulfilling is the request worker, waited for by Close.
	fulfilling sync.WaitGroup
	// lastReadOut is the worker's last audit read-out (reportGap).
	lastReadOut time.Time
}

// Check refuses what must not start: a listen address reachable from the
// network without TLS or without a user who can log in, or TLS files that
// do not load. `run --check-config` and Start call it.
func Check(t config.Telemetron, dataDir string) error {
	if t.Listen == "" {
		return nil
	}
	if t.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(t.TLSCert, t.TLSKey); err != nil {
			return fmt.Errorf("telemetron.tls_cert: %w", err)
		}
	}
	local, err := httpguard.Loopback(t.Listen)
	if err != nil {
		return fmt.Errorf("telemetron.listen: %w", err)
	}
	if local {
		return nil
	}
	if t.TLSCert == "" {
		return fmt.Errorf("telemetron.listen %q is reachable from the network: set tls_cert and tls_key (the API is HTTPS only there)", t.Listen)
	}
	path := t.UsersFile(dataDir)
	users, err := web.LoadUsers(path)
	if err != nil {
		return fmt.Errorf("telemetron.users: %w", err)
	}
	if len(users) == 0 {
		return fmt.Errorf("telemetron.listen %q is reachable from the network and %s has no user: add one with `tapagent telemetron user add NAME`", t.Listen, path)
	}
	return nil
}

// Start listens on [telemetron] listen and serves until ctx ends or Close.
func Start(ctx context.Context, o Options) (*Server, error) {
	if err := Check(o.Config, o.DataDir); err != nil {
		return nil, err
	}
	if o.Store == nil || o.Wall == nil {
		return nil, errors.New("telemetronapi: a store and a wall are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Zone == nil {
		o.Zone = time.Local
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	s := &Server{o: o, logins: web.NewLogins(o.Config.UsersFile(o.DataDir), o.Config.LoginAttempts, o.Now),
		tokens: newTokens(o.Config.TokenTTL.Duration, o.Now), reqs: newRequests(), hist: history.New(o.Store),
		started: o.Now(), done: make(chan struct{})}
	ln, err := net.Listen("tcp", o.Config.Listen)
	if err != nil {
		return nil, fmt.Errorf("telemetron: listening on %s: %w", o.Config.Listen, err)
	}
	scheme := "http"
	if o.Config.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.Config.TLSCert, o.Config.TLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("telemetron.tls_cert: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.URL = scheme + "://" + ln.Addr().String()
	ctx, s.cancel = context.WithCancel(ctx)
	// A slow client is cut off: headers and body within ReadTimeout.
	s.hs = &http.Server{Handler: http.MaxBytesHandler(s.routes(), maxBody), ReadHeaderTimeout: o.ReadTimeout,
		ReadTimeout: o.ReadTimeout, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn)}
	s.fulfilling.Add(1)
	go func() { defer s.fulfilling.Done(); s.fulfil(ctx) }()
	go func() {
		defer close(s.done)
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Log.Error("telemetron API stopped", "err", err)
		}
	}()
	return s, nil
}

// Close stops serving, letting requests in flight finish for 2 s.
func (s *Server) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.hs.Shutdown(ctx)
	<-s.done
	s.fulfilling.Wait()
	return err
}
