package smartnow

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// Options configure an emulator.
type Options struct {
	// Addr is where Start listens when called with ""; loopback only.
	Addr string
	// Users maps user names to passwords; default tapagent/tapagent.
	Users map[string]string
	// TokenTTL is how long an access token is valid (default 1 h);
	// RefreshTTL a refresh token (default 30 days).
	TokenTTL, RefreshTTL time.Duration
	// StateFile, when set, is loaded at start and written within 100 ms
	// of every change and by Close, so that the cloud outlives a restart
	// of the emulator.
	StateFile string
	// Machines are created when the state is new (no state file yet).
	Machines []Machine
	// Products are the seeded assortments (Product.Machine names the machine).
	Products []Product
	// RefusalsAsErrors answers a voucher refused on validate or redeem
	// (expired, used up, locked, wrong product) with 400 {message}
	// instead of 200 with valid/redeemed false and a reason: the
	// reference allows both readings, and a client must handle both.
	RefusalsAsErrors bool
	// NoRedeemDedup makes a resent redeem of the same order charge the
	// voucher again, as a server without order idempotency would.
	NoRedeemDedup bool
	// Faults are injected from the start; SetFaults changes them later.
	Faults cloudemu.Faults
	Now    func() time.Time
	Log    *slog.Logger
}

// Server is the emulated SmartNow cloud.
type Server struct {
	o    Options
	core cloudemu.Core

	mu sync.Mutex
	st state
}

// New makes an emulator, loading Options.StateFile if it exists.
func New(o Options) (*Server, error) {
	if o.Users == nil {
		o.Users = map[string]string{"tapagent": "tapagent"}
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 30 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o}
	found, err := s.core.Open(cloudemu.CoreOptions{Name: "smartnow emulator", Addr: o.Addr, StateFile: o.StateFile, Faults: o.Faults, Log: o.Log}, &s.mu, &s.st)
	if err != nil {
		return nil, err
	}
	if !found {
		s.seed()
	}
	s.st.Refresh = cloudemu.OrEmpty(s.st.Refresh)
	s.st.Configs = cloudemu.OrEmpty(s.st.Configs)
	s.st.ConfigFields = cloudemu.OrEmpty(s.st.ConfigFields)
	s.st.OpeningHours = cloudemu.OrEmpty(s.st.OpeningHours)
	return s, nil
}

func (s *Server) seed() {
	s.st = state{Secret: cloudemu.RandomSecret()}
	now := s.stamp()
	for _, m := range s.o.Machines {
		m.ID = max(m.ID, s.st.NextID+1)
		s.st.NextID = m.ID
		m.CreatedAt, m.UpdatedAt = now, now
		if m.ConfigState == "" {
			m.ConfigState = "applied"
		}
		s.st.Machines = append(s.st.Machines, &m)
	}
	for _, p := range s.o.Products {
		p.ID = s.st.id()
		p.CreatedAt, p.UpdatedAt = now, now
		s.st.Products = append(s.st.Products, &p)
	}
}

// Start listens on addr (Options.Addr when ""), a loopback address, and
// returns the base URL and a function that stops the listener.
func (s *Server) Start(addr string) (url string, stop func(), err error) {
	return s.core.Start(addr, s.Handler())
}

// SetFaults replaces the injected faults; ExpireTokens invalidates every
// access token issued so far.
func (s *Server) SetFaults(f cloudemu.Faults) {
	if s.core.SetFaults(f) {
		s.mu.Lock()
		s.st.Secret = cloudemu.RandomSecret()
		s.core.Changed()
		s.mu.Unlock()
	}
}

// stamp is the reference's createdAt form: UTC, seconds, "Z".
func (s *Server) stamp() string { return s.o.Now().UTC().Format(time.RFC3339) }

// Close writes a pending change to the state file; the emulator keeps
// serving after it. The stop function of Start calls it.
func (s *Server) Close() error { return s.core.Close() }

// apiError is an error with the HTTP status it is answered with.
type apiError struct {
	status int
	msg    string
	extra  map[string]any
}

// Error is the message the client is told.
func (e *apiError) Error() string { return e.msg }

func errf(status int, format string, a ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, a...)}
}

// writeErr answers err as the reference's error body {message}.
func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errf(http.StatusBadRequest, "%v", err)
	}
	body := map[string]any{"message": ae.msg}
	for k, v := range ae.extra {
		body[k] = v
	}
	cloudemu.WriteJSON(w, ae.status, body)
}

// endpoint is a handler that returns its reply or an error; writes are
// serialised by mu.
type endpoint func(r *http.Request) (status int, body any, err error)

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, e endpoint) { mux.Handle(pattern, s.serve(e, false)) }
	authed := func(pattern string, e endpoint) { mux.Handle(pattern, s.serve(e, true)) }

	open("POST /auth/login", s.login)
	open("POST /auth/refresh", s.refresh)

	authed("GET /machine", s.listMachines)
	authed("POST /machine", s.createMachine)
	authed("GET /machine/{id}", s.getMachine)
	authed("GET /machine/hostname/{hostname}/config", s.getConfig)
	authed("PUT /machine/hostname/{hostname}/config", s.putConfig)
	authed("GET /machine/{id}/product", s.listProducts)
	authed("POST /machine/{id}/product", s.createProduct)
	authed("PUT /machine/{id}/assortment", s.putAssortment)
	authed("GET /openinghours/machine/{id}", s.getOpeningHours)
	authed("PUT /openinghours/machine/{id}", s.putOpeningHours)
	authed("POST /command/{command}/hostname/{hostname}", s.queueCommand)
	authed("GET /machine/{id}/commands", s.pendingCommands)
	authed("POST /machine/{id}/commands/{commandId}/result", s.commandResult)

	authed("POST /revenuetransaction", s.postRevenue)
	authed("GET /revenuetransaction", s.listRevenue)
	authed("GET /revenuetransaction/{id}", s.getRevenue)
	authed("GET /revenuetransaction/{id}/paymenttransactions", s.revenuePayments)
	authed("GET /paymenttransaction", s.listPayments)
	authed("POST /log", s.postLog)
	authed("GET /log", s.listLogs)
	authed("GET /log/{id}", s.getLog)

	authed("POST /campaign", s.createCampaign)
	authed("GET /campaign", s.listCampaigns)
	authed("GET /campaign/{id}", s.getCampaign)
	authed("POST /voucher", s.createVoucher)
	authed("GET /voucher", s.listVouchers)
	authed("GET /voucher/{id}", s.getVoucher)
	authed("GET /voucher/{id}/logs", s.voucherLogs)
	authed("POST /voucher/{code}/validate", s.validate)
	authed("POST /voucher/{code}/redeem", s.redeem)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, errf(http.StatusNotFound, "no resource %s %s", r.Method, r.URL.Path))
	})

	return s.core.Handler(mux, func(w http.ResponseWriter) {
		writeErr(w, errf(http.StatusInternalServerError, "internal server error (injected)"))
	}, s.SetFaults)
}

func (s *Server) serve(e endpoint, auth bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if auth {
			if err := s.authorise(r); err != nil {
				writeErr(w, err)
				return
			}
		}
		status, body, err := e(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		if r.Method != http.MethodGet {
			s.core.Changed()
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		cloudemu.WriteJSON(w, status, body)
	})
}

func (s *Server) authorise(r *http.Request) error {
	tok, ok := cloudemu.BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return errf(http.StatusUnauthorized, "missing access token")
	}
	if _, err := cloudemu.VerifyToken(s.st.Secret, tok, s.o.Now()); err != nil {
		return errf(http.StatusUnauthorized, "access token invalid or expired")
	}
	return nil
}

type loginReq struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (s *Server) login(r *http.Request) (int, any, error) {
	var req loginReq
	if err := cloudemu.DecodeJSON(r, &req); err != nil {
		return 0, nil, errf(http.StatusBadRequest, "%v", err)
	}
	if pw, ok := s.o.Users[req.Username]; !ok || pw != req.Password || req.Username == "" {
		return 0, nil, errf(http.StatusUnauthorized, "wrong username or password")
	}
	return http.StatusOK, s.issue(req.Username), nil
}

type refreshReq struct {
	RefreshToken string `json:"refresh_token"`
}

func (s *Server) refresh(r *http.Request) (int, any, error) {
	var req refreshReq
	if err := cloudemu.DecodeJSON(r, &req); err != nil {
		return 0, nil, errf(http.StatusBadRequest, "%v", err)
	}
	rt, ok := s.st.Refresh[req.RefreshToken]
	if !ok || s.o.Now().Unix() >= rt.Expires {
		return 0, nil, errf(http.StatusUnauthorized, "refresh token invalid or expired")
	}
	delete(s.st.Refresh, req.RefreshToken) // a refresh token is used once
	return http.StatusOK, s.issue(rt.User), nil
}

// issue makes an access token (a JWT whose exp claim tells the client
// when to refresh) and a one-time refresh token.
func (s *Server) issue(user string) tokens {
	now := s.o.Now()
	cloudemu.PruneTokens(s.st.Refresh, func(r refreshTok) int64 { return r.Expires }, now.Unix())
	rt := cloudemu.RandomHex(24)
	s.st.Refresh[rt] = refreshTok{User: user, Expires: now.Add(s.o.RefreshTTL).Unix()}
	return tokens{
		AccessToken:  cloudemu.SignToken(s.st.Secret, cloudemu.Claims{Sub: user, Iat: now.Unix(), Exp: now.Add(s.o.TokenTTL).Unix()}),
		RefreshToken: rt,
	}
}
