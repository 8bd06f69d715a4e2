// Package localapi is the agent's local API: HTTP over a unix socket in the
// data directory, for the commands an operator runs on the controller
// while the agent runs (keg and line operations, history, the outbox, the
// audit, the card journal), so that they neither wait for the database's
// lock nor open it beside the agent. Only root, the agent's own user and
// the members of its group get an answer: the socket is mode 0660 and
// every connection's peer is checked with SO_PEERCRED.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/agent/cardpay"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// SocketName is the socket's file name in the data directory.
const SocketName = "agent.sock"

// SocketPath is where the agent with this data directory listens.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// Limits of a request.
const (
	maxBody        = 64 << 10
	maxOutbox      = 100_000
	requestTimeout = 30 * time.Second
	// maxSocketPath is what sockaddr_un holds, less its terminating NUL.
	maxSocketPath = 107
)

// Options are what the API serves.
type Options struct {
	// Path is the socket (SocketPath of the data directory).
	Path  string
	Agent *device.Agent
	Store *storage.Store
	// Audit and Identity serve dex report; nil Audit answers 501.
	Audit    *evadts.Audit
	Identity evadts.Identity
	Version  string
	// UIDOrder is [cards] uid_order: events name a settled card by the
	// salted hash of its decimal id, as the history does.
	UIDOrder string
	Now      func() time.Time
	Log      *slog.Logger
	// Self is who may connect; zero means this process's uid and gid.
	Self Self
}

// Start listens on o.Path and serves until stop (or ctx's end). A socket
// file left by an agent that died is replaced; one another agent answers
// on is an error.
func Start(ctx context.Context, o Options) (stop func(), err error) {
	if o.Agent == nil || o.Store == nil || o.Path == "" {
		return nil, errors.New("localapi: agent, store and socket path are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Self.UID == 0 && o.Self.GID == 0 {
		o.Self.UID, o.Self.GID = uint32(os.Getuid()), uint32(os.Getgid())
	}
	if len(o.Path) > maxSocketPath {
		return nil, fmt.Errorf("localapi: socket path %s is %d bytes, more than a unix socket takes (%d): choose a shorter data_dir", o.Path, len(o.Path), maxSocketPath)
	}
	if err := clearStale(o.Path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", o.Path)
	if err != nil {
		return nil, fmt.Errorf("localapi: %w", err)
	}
	if err := os.Chmod(o.Path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("localapi: %w", err)
	}
	s := &server{o: o, hist: history.New(o.Store)}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: requestTimeout,
		WriteTimeout: 2 * requestTimeout, ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if pc, ok := c.(peerConn); ok {
				return context.WithValue(ctx, peerKey{}, pc.peer)
			}
			return ctx
		}}
	g := guarded{Listener: ln, self: o.Self, refuse: func(p Peer, err error) {
		o.Log.Warn("local API: connection refused", "uid", p.UID, "gid", p.GID, "pid", p.PID, "err", err)
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(g); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Log.Error("local API stopped", "err", err)
		}
	}()
	o.Agent.Report(device.Event{Type: device.EventLocalAPI, Detail: o.Path})
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	}()
	return func() {
		cancel()
		<-done
		os.Remove(o.Path)
	}, nil
}

// clearStale removes a socket file nobody answers on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("localapi: %w", err)
	case fi.Mode()&os.ModeSocket == 0:
		return fmt.Errorf("localapi: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("localapi: another agent answers on %s", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("localapi: stale socket: %w", err)
	}
	return nil
}

type server struct {
	o    Options
	hist *history.Log
}

func (s *server) routes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]string{"version": s.o.Version})
	})
	m.HandleFunc("GET /v1/lines", func(w http.ResponseWriter, r *http.Request) { reply(w, s.o.Agent.Status()) })
	m.HandleFunc("GET /v1/kegs", func(w http.ResponseWriter, r *http.Request) { reply(w, s.o.Agent.Kegs()) })
	m.HandleFunc("POST /v1/lines/{line}/{op}", s.operation)
	m.HandleFunc("GET /v1/history", s.history)
	m.HandleFunc("GET /v1/ttg/outbox", s.outbox)
	m.HandleFunc("GET /v1/ttg/deadletters", func(w http.ResponseWriter, r *http.Request) {
		dl, err := s.o.Store.DeadLetters()
		if err != nil {
			fail(w, http.StatusInternalServerError, "", err)
			return
		}
		reply(w, dl)
	})
	m.HandleFunc("GET /v1/outbox", s.sinks)
	m.HandleFunc("POST /v1/dex/report", s.dexReport)
	m.HandleFunc("GET /v1/dex/reports", s.dexReports)
	m.HandleFunc("GET /v1/card/{uid}", s.cardJournal)
	m.HandleFunc("POST /v1/card/{uid}/settle", s.cardSettle)
	return http.MaxBytesHandler(m, maxBody)
}

// OpRequest is the body of an operation: the fields each one needs.
type OpRequest struct {
	device.KegChange
	Remaining flow.Vol `json:"remaining_ml10,omitempty"`
	On        bool     `json:"on,omitempty"`
}

// Operations by the last path element of POST /v1/lines/{line}/{op}.
const (
	OpKegChange = "keg-change"
	OpKegAdjust = "keg-adjust"
	OpKegEmpty  = "keg-empty"
	OpLock      = "lock"
	OpUnlock    = "unlock"
	OpClean     = "clean"
)

func (s *server) operation(w http.ResponseWriter, r *http.Request) {
	line, err := strconv.Atoi(r.PathValue("line"))
	if err != nil || line <= 0 {
		fail(w, http.StatusBadRequest, codeBad, fmt.Errorf("line %q is not a line number", r.PathValue("line")))
		return
	}
	var req OpRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, codeBad, fmt.Errorf("body: %w", err))
			return
		}
	}
	by := s.actor(r)
	a := s.o.Agent
	switch r.PathValue("op") {
	case OpKegChange:
		req.KegChange.Line = line
		err = a.ChangeKeg(by, req.KegChange)
	case OpKegAdjust:
		err = a.AdjustKeg(by, line, req.Remaining)
	case OpKegEmpty:
		err = a.MarkEmpty(by, line)
	case OpLock, OpUnlock:
		err = a.SetLocked(by, line, r.PathValue("op") == OpLock)
	case OpClean:
		err = a.SetCleaning(by, line, req.On)
	default:
		fail(w, http.StatusNotFound, codeBad, fmt.Errorf("no operation %q", r.PathValue("op")))
		return
	}
	if err != nil {
		opFail(w, err)
		return
	}
	for _, k := range a.Kegs() {
		if k.Line == line {
			reply(w, k)
			return
		}
	}
	reply(w, nil)
}

// actor is the person behind a request: the peer's login name (the kernel
// vouches for it), an operator by the socket's rule.
func (s *server) actor(r *http.Request) device.Actor {
	p, _ := peerFrom(r.Context())
	return device.Actor{Name: actorName(p), Role: "operator", Via: "cli"}
}

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	q, totals, err := ParseQuery(r.URL.Query())
	if err != nil {
		fail(w, http.StatusBadRequest, codeBad, err)
		return
	}
	if totals != "" {
		t, err := s.hist.Totals(r.Context(), q, totals)
		if err != nil {
			fail(w, http.StatusBadRequest, codeBad, err)
			return
		}
		reply(w, t)
		return
	}
	es, err := s.hist.Find(r.Context(), q)
	if err != nil {
		fail(w, http.StatusBadRequest, codeBad, err)
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		if err := history.WriteCSV(w, es, q.Loc); err != nil {
			s.o.Log.Warn("local API: csv", "err", err)
		}
		return
	}
	reply(w, es)
}

func (s *server) outbox(w http.ResponseWriter, r *http.Request) {
	recs, err := s.o.Store.Outbox(0, maxOutbox)
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err)
		return
	}
	reply(w, recs)
}

// OutboxStatus is the answer of GET /v1/outbox: every sink's queue and
// the number of records the shared outbox holds.
type OutboxStatus struct {
	Sinks []storage.SinkStatus `json:"sinks"`
	Total int                  `json:"total"`
}

func (s *server) sinks(w http.ResponseWriter, r *http.Request) {
	st, err := s.o.Store.SinkStatuses()
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err)
		return
	}
	total, err := s.o.Store.OutboxLen()
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err)
		return
	}
	reply(w, OutboxStatus{Sinks: st, Total: total})
}

// KeptReports is the answer of GET /v1/dex/reports: the kept audit
// reports of the period, oldest first; More says older ones were left out.
type KeptReports struct {
	Reports []evadts.Kept `json:"reports"`
	More    bool          `json:"more"`
}

func (s *server) dexReports(w http.ResponseWriter, r *http.Request) {
	if s.o.Audit == nil {
		fail(w, http.StatusNotImplemented, "", errors.New("this agent keeps no audit"))
		return
	}
	since, until, port, err := ParseReportsQuery(r.URL.Query())
	if err != nil {
		fail(w, http.StatusBadRequest, codeBad, err)
		return
	}
	ks, more, err := s.o.Audit.Reports(since, until, port)
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err)
		return
	}
	reply(w, KeptReports{Reports: ks, More: more})
}

func (s *server) dexReport(w http.ResponseWriter, r *http.Request) {
	if s.o.Audit == nil {
		fail(w, http.StatusNotImplemented, "", errors.New("this agent keeps no audit"))
		return
	}
	rep, err := s.o.Audit.Read(s.o.Identity, r.URL.Query().Get("full") == "1", "cli")
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=us-ascii")
	_, _ = w.Write(rep)
}

func (s *server) cardJournal(w http.ResponseWriter, r *http.Request) {
	e, found, err := cardpay.Journal(s.o.Store, r.PathValue("uid"))
	switch {
	case err != nil:
		fail(w, http.StatusInternalServerError, "", err)
	case !found:
		fail(w, http.StatusNotFound, codeNoEntry, cardpay.ErrNoEntry)
	default:
		reply(w, e)
	}
}

// SettleRequest is the body of POST /v1/card/{uid}/settle.
type SettleRequest struct {
	Decision cardpay.Decision `json:"decision"`
	Staff    string           `json:"staff"`
}

func (s *server) cardSettle(w http.ResponseWriter, r *http.Request) {
	var req SettleRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || strings.TrimSpace(req.Staff) == "" {
		fail(w, http.StatusBadRequest, codeBad, errors.New(`body must be {"decision": "paid"|"unpaid"|"collect", "staff": NAME}`))
		return
	}
	staff := req.Staff + " (" + s.actor(r).Name + ")"
	e, err := cardpay.SettleByStaff(s.o.Store, r.PathValue("uid"), s.o.UIDOrder, req.Decision, staff, s.o.Now())
	switch {
	case errors.Is(err, cardpay.ErrNoEntry):
		fail(w, http.StatusNotFound, codeNoEntry, err)
	case err != nil:
		fail(w, http.StatusConflict, codeBad, err)
	default:
		reply(w, e)
	}
}

// Error codes carried in an error reply, so that a client can tell the
// reasons apart (errors.Is against the device's errors).
const (
	codeNoLine      = "no_line"
	codeBusy        = "busy"
	codeKegSize     = "keg_size"
	codeBad         = "bad_request"
	codeNotRecorded = "not_recorded"
	codeNoEntry     = "no_entry"
)

// errorReply is the body of every error answer.
type errorReply struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

func opFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, device.ErrNoLine):
		fail(w, http.StatusNotFound, codeNoLine, err)
	case errors.Is(err, device.ErrKegSize):
		fail(w, http.StatusBadRequest, codeKegSize, err)
	case errors.Is(err, device.ErrBadOperation):
		fail(w, http.StatusBadRequest, codeBad, err)
	case errors.Is(err, device.ErrNotRecorded):
		fail(w, http.StatusInternalServerError, codeNotRecorded, err)
	case errors.Is(err, device.ErrLineBusy):
		fail(w, http.StatusConflict, codeBusy, err)
	default:
		fail(w, http.StatusConflict, "", err) // the line's state refuses it (locked, empty, draining)
	}
}

func fail(w http.ResponseWriter, status int, code string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorReply{Error: err.Error(), Code: code})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
