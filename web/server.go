// Package web is the dashboard the agent serves to bar staff and
// technicians: a live tap list, pour history with CSV, charts, events,
// device health and the service actions, behind a login, with live updates
// over server-sent events, and the Prometheus /metrics endpoint.
package web

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/httpguard"
	"github.com/tapagent/tapagent/storage"
)

// maxConcurrentChecks bounds the password checks in flight: the
// controller has two cores and must keep counting pulses.
const maxConcurrentChecks = 1

// maxBody bounds a form post; a login or an action is a few hundred bytes.
const maxBody = 8 << 10

// Deps are the parts the dashboard is built on.
type Deps struct {
	Config *config.Config
	Wall   Wall
	// History answers the pour history and its totals.
	History History
	// Events returns up to n most recent events of the durable log,
	// oldest first (storage.Store.Events).
	Events func(n int) ([][]byte, error)
	// Outbox is the upload queue for /metrics; nil leaves its figures out.
	Outbox Outbox
	// Health reports the device's components (reader, terminal, machine,
	// server link, broker, disk, clock).
	Health func() []Component
	// Intents are the open pours on disk (storage.Store.Intents), for the
	// checkpoint lag on /metrics.
	Intents func() ([]storage.Intent, error)
	Now     func() time.Time
	Log     *slog.Logger
	Version string
	Commit  string
	// ListenFallback is listened on when [web] listen is taken by another
	// program ("" fails instead): the simulator's default port may be in
	// use by another simulator, and probing it first would race.
	ListenFallback string
	// Voucher scans a SmartNow voucher code typed on a line's card (staff
	// and operators; agent/voucherpay); nil shows no voucher field.
	Voucher func(ctx context.Context, line int, code, via string) error
	// ReadTimeout bounds reading a request, headers and body; zero is 10 s.
	// A client slower than that is cut off.
	ReadTimeout time.Duration
}

// Server is the running dashboard.
type Server struct {
	// URL is where it listens, e.g. "http://127.0.0.1:8080".
	URL string

	d        Deps
	tls      bool
	users    string
	userFile userFile
	sessions *sessions
	limit    *limiter
	live     *hub
	metrics  *metrics
	hs       *http.Server
	dummy    []byte
	// checks bounds the bcrypt compares running at once.
	checks chan struct{}
	// keepalive is the live stream's keepalive and re-check interval (ns).
	keepalive atomic.Int64
	alarms    alarms
	todayC    todayCache
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

// Check is what `run --check-config` and the start refuse: a dashboard
// reachable from the network that no user can log in to, or HTTPS files
// that do not load.
func Check(cfg *config.Config) error {
	w := cfg.Web
	if w.Listen == "" {
		return nil
	}
	if w.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(w.CertFile, w.KeyFile); err != nil {
			return fmt.Errorf("web.cert_file: %w", err)
		}
	}
	local, err := httpguard.Loopback(w.Listen)
	if err != nil {
		return fmt.Errorf("web.listen: %w", err)
	}
	path := w.Users(cfg.Device.DataDir)
	users, err := LoadUsers(path)
	if err != nil {
		return err
	}
	if !local && len(users) == 0 {
		return fmt.Errorf("web.listen %q is reachable from the network and %s has no user: add one with `tapagent web user add NAME --role operator`", w.Listen, path)
	}
	return nil
}

// Start listens on [web] listen and serves until ctx ends or Close.
func Start(ctx context.Context, d Deps) (*Server, error) {
	if err := Check(d.Config); err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.ReadTimeout <= 0 {
		d.ReadTimeout = 10 * time.Second
	}
	if d.History == nil || d.Wall == nil {
		return nil, errors.New("web: a wall and a history are required")
	}
	w := d.Config.Web
	s := &Server{d: d, tls: w.CertFile != "", users: w.Users(d.Config.Device.DataDir),
		sessions: newSessions(w.SessionTTL.Duration, d.Now), limit: newLimiter(w.LoginAttempts, d.Now)}
	s.userFile.path = s.users
	s.checks = make(chan struct{}, maxConcurrentChecks)
	s.keepalive.Store(int64(keepalive))
	s.dummy, _ = bcrypt.GenerateFromPassword([]byte("no user has this password"), bcryptCost)
	s.metrics = newMetrics(s)
	ln, err := net.Listen("tcp", w.Listen)
	if errors.Is(err, syscall.EADDRINUSE) && d.ListenFallback != "" {
		ln, err = net.Listen("tcp", d.ListenFallback)
	}
	if err != nil {
		return nil, fmt.Errorf("web: listening on %s: %w", w.Listen, err)
	}
	scheme := "http"
	if s.tls {
		cert, err := tls.LoadX509KeyPair(w.CertFile, w.KeyFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("web.cert_file: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.URL = scheme + "://" + ln.Addr().String()
	ctx, s.cancel = context.WithCancel(ctx)
	s.ctx = ctx
	s.live = newHub(s.statusJSON, d.Now)
	// Write timeouts are per request: the live stream extends its own.
	s.hs = &http.Server{Handler: s.routes(), ReadHeaderTimeout: d.ReadTimeout, ReadTimeout: d.ReadTimeout,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.live.run(ctx) }()
	go func() { defer s.wg.Done(); s.metrics.run(ctx) }()
	go func() { defer s.wg.Done(); _ = s.hs.Serve(ln) }()
	return s, nil
}

// Observe takes an agent event for the live view and the metrics; it never
// blocks (the agent's event sink calls it).
func (s *Server) Observe(ev device.Event) {
	s.metrics.observe(ev)
	s.alarms.observe(ev)
	if ev.Type == device.EventPourBooked {
		s.todayC.invalidate()
	}
	s.live.publish(ev)
}

// Close stops serving; live streams end at once.
func (s *Server) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.hs.Shutdown(ctx)
	s.wg.Wait()
	return err
}

// authenticate reads the users file (when it changed), so `tapagent web
// user add` takes effect without a restart.
func (s *Server) authenticate(name string, password []byte) (User, bool) {
	users, err := s.userFile.current()
	if err != nil {
		s.d.Log.Error("web: users file unreadable; nobody can log in", "err", err)
	}
	return checkPassword(users, name, password, s.dummy)
}

// remoteIsLoopback is the connection's own address, never a header's.
func remoteIsLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

func remoteHost(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}

// userFile caches the users file by modification time and size, so each
// request can check its user still exists with the same role.
type userFile struct {
	mu    sync.Mutex
	path  string
	mod   time.Time
	size  int64
	ino   uint64 // a rewrite renames a new file into place
	users []User
	err   error
}

// current returns the file's users, re-read when it changed.
func (f *userFile) current() ([]User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f.users, f.err, f.mod, f.size = nil, nil, time.Time{}, -1
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("users file: %w", err)
	}
	var ino uint64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = sys.Ino
	}
	if !st.ModTime().Equal(f.mod) || st.Size() != f.size || ino != f.ino {
		f.users, f.err = LoadUsers(f.path)
		f.mod, f.size, f.ino = st.ModTime(), st.Size(), ino
	}
	return f.users, f.err
}

// stillValid reports whether a session's user is still in the file with
// the same role and password: removing a user, changing their role or
// resetting their password ends their sessions at their next request.
func (s *Server) stillValid(ss session) bool {
	users, err := s.userFile.current()
	if err != nil {
		s.d.Log.Error("web: users file unreadable; sessions refused", "err", err)
		return false
	}
	for _, u := range users {
		if u.Name == ss.user {
			return u.Role == ss.role && subtle.ConstantTimeCompare([]byte(u.Hash), []byte(ss.hash)) == 1
		}
	}
	return false
}
