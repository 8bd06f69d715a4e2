package telemetron

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// Options configure an emulator.
type Options struct {
	// Addr is where Start listens when called with ""; loopback only.
	Addr string
	// Users maps user names (e-mail addresses) to passwords; default
	// tapagent@example.com / tapagent.
	Users map[string]string
	// Clients maps OAuth2 client ids to secrets; default tapagent / tapagent-secret.
	Clients map[string]string
	// TokenTTL is the access token's expires_in (default 86400 s, the
	// reference's example).
	TokenTTL time.Duration
	// Machines are created when the state is new; default one, T123.
	Machines []Machine
	// Zone is the offset times are rendered in; default +03:00.
	Zone *time.Location
	// StateFile, when set, is loaded at start and written within 100 ms
	// of every change and by Close.
	StateFile string
	// AuthErrorBody answers a refused token request with {message} instead
	// of the reference's 400 with no content.
	AuthErrorBody bool
	// StoreDuplicates stores a resent identical event or sales row again,
	// as a cloud without deduplication would.
	StoreDuplicates bool
	// Faults are injected from the start; SetFaults changes them later.
	Faults cloudemu.Faults
	Now    func() time.Time
	Log    *slog.Logger
}

// Server is the emulated Telemetron cloud.
type Server struct {
	o    Options
	core cloudemu.Core

	mu sync.Mutex
	st state
}

// New makes an emulator, loading Options.StateFile if it exists.
func New(o Options) (*Server, error) {
	if o.Users == nil {
		o.Users = map[string]string{"tapagent@example.com": "tapagent"}
	}
	if o.Clients == nil {
		o.Clients = map[string]string{"tapagent": "tapagent-secret"}
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 24 * time.Hour
	}
	if o.Zone == nil {
		o.Zone = time.FixedZone("+03:00", 3*3600)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Machines == nil {
		o.Machines = []Machine{{ID: 123, Name: "Tap wall", SerialNumber: "TAP0001", State: 1,
			Modem: &Modem{ID: 1, IMEI: "999999999123456", Bus: "mdb", SWVersion: "1.0", HWVersion: "1"}}}
	}
	s := &Server{o: o}
	found, err := s.core.Open(cloudemu.CoreOptions{Name: "telemetron emulator", Addr: o.Addr, StateFile: o.StateFile, Faults: o.Faults, Log: o.Log}, &s.mu, &s.st)
	if err != nil {
		return nil, err
	}
	if !found {
		s.st = state{Secret: cloudemu.RandomSecret(), Machines: map[int64]*machineData{}, Refresh: map[string]refreshTok{}}
		for _, m := range o.Machines {
			s.st.Machines[m.ID] = &machineData{Machine: m}
		}
	}
	for _, md := range s.st.Machines {
		md.init()
	}
	s.st.Refresh = cloudemu.OrEmpty(s.st.Refresh)
	s.st.Revoked = cloudemu.OrEmpty(s.st.Revoked)
	return s, nil
}

// Start listens on addr (Options.Addr when ""), a loopback address, and
// returns the base URL (the API entry point is URL + "/v2") and a stop
// function.
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

// Close writes a pending change to the state file; the emulator keeps
// serving after it. The stop function of Start calls it.
func (s *Server) Close() error { return s.core.Close() }

// apiError is answered as the reference's error body.
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"message"`
	Subcode string `json:"subcode,omitempty"`
	Errors  any    `json:"errors,omitempty"`
}

// Error is the message the client is told.
func (e *apiError) Error() string { return e.Message }

func errf(status int, format string, a ...any) *apiError {
	return &apiError{Status: status, Message: fmt.Sprintf(format, a...)}
}

// fieldError is the reference's array form of errors: {field, reason}.
type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func badField(field, reason, format string, a ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, a...), Errors: []fieldError{{field, reason}}}
}

// invalid is the 422 the reference shows for failed validation, with
// errors keyed by field.
func invalid(field, msg string) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Message: "The given data was invalid.",
		Errors: map[string][]string{field: {msg}}}
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errf(http.StatusBadRequest, "%v", err)
	}
	cloudemu.WriteJSON(w, ae.Status, ae)
}

// reply is a handler's answer: status and body, or raw bytes already
// encoded (a cp1251 report).
type reply struct {
	status int
	body   any
	raw    []byte
	ctype  string
}

func ok(body any) reply      { return reply{status: http.StatusOK, body: body} }
func created(body any) reply { return reply{status: http.StatusCreated, body: body} }

type endpoint func(r *http.Request) (reply, error)

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	open := func(p string, e endpoint) { mux.Handle(p, s.serve(e, false)) }
	authed := func(p string, e endpoint) { mux.Handle(p, s.serve(e, true)) }
	vm := "/v2/vending_machines/{id}"

	open("POST /auth/", s.token)
	open("POST /auth", s.token)
	authed("GET /logout", s.logout)
	authed("GET /v2/me", s.me)
	authed("GET /v2/vending_machines", s.listMachines)
	authed("GET "+vm, s.getMachine)
	authed("PUT "+vm, s.putMachine)
	authed("GET /v2/modems", s.listModems)
	authed("GET /v2/modems/{id}", s.getModem)
	authed("GET /v2/event_codes", s.eventCodes)
	authed("GET /v2/vm_models", s.vmModels)

	authed("GET "+vm+"/events", s.getEvents)
	authed("POST "+vm+"/events", s.postEvents)
	authed("GET "+vm+"/reports", s.listReports)
	authed("GET "+vm+"/reports/{report}", s.getReport)
	authed("POST "+vm+"/reports", s.postReport)
	authed("GET "+vm+"/loading", s.getLoading)
	authed("POST "+vm+"/loading", s.postLoading)
	authed("POST "+vm+"/inventory", s.postInventory)
	authed("POST "+vm+"/request", s.postRequest)
	authed("GET "+vm+"/request", s.openRequest)
	authed("GET "+vm+"/request/{request}", s.getRequest)
	authed("GET "+vm+"/timestamp", s.getTimestamp)
	authed("POST "+vm+"/timestamp", s.postTimestamp)
	authed("POST "+vm+"/state", s.postState)
	authed("GET "+vm+"/config", s.getConfig)
	authed("POST "+vm+"/config", s.postConfig)
	authed("POST "+vm+"/sales", s.postSales)
	authed("GET "+vm+"/stats/vends/summary", s.machineSummary)
	authed("GET "+vm+"/stats/vends/products", s.vendsProducts)
	authed("GET "+vm+"/stats/vends/payments", s.vendsPayments)
	authed("GET /v2/stats/vends/summary", s.summary)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, errf(http.StatusNotFound, "Not found"))
	})
	return s.core.Handler(mux, func(w http.ResponseWriter) {
		writeErr(w, errf(http.StatusInternalServerError, "Server error (injected)"))
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
		rep, err := e(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		if r.Method != http.MethodGet {
			s.core.Changed()
		}
		switch {
		case rep.raw != nil:
			w.Header().Set("Content-Type", rep.ctype)
			w.WriteHeader(rep.status)
			_, _ = w.Write(rep.raw)
		case rep.body == nil:
			w.WriteHeader(rep.status)
		default:
			cloudemu.WriteJSON(w, rep.status, rep.body)
		}
	})
}

func (s *Server) authorise(r *http.Request) error {
	tok, ok := cloudemu.BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return errf(http.StatusUnauthorized, "Unauthenticated.")
	}
	if _, err := cloudemu.VerifyToken(s.st.Secret, tok, s.o.Now()); err != nil || s.st.Revoked[tok] > 0 {
		return errf(http.StatusUnauthorized, "Unauthenticated.")
	}
	return nil
}

type tokenReq struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Scope        string `json:"scope"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
}

type tokenReply struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// tokenParams reads the token request from the query string or, as the
// reference allows, a JSON body (which then needs Content-Type
// application/json).
func tokenParams(r *http.Request) (tokenReq, error) {
	var req tokenReq
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		req = tokenReq{GrantType: q.Get("grant_type"), ClientID: q.Get("client_id"), ClientSecret: q.Get("client_secret"),
			Scope: q.Get("scope"), Username: q.Get("username"), Password: q.Get("password"), RefreshToken: q.Get("refresh_token")}
		if req.GrantType != "" {
			return req, nil
		}
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return req, errors.New("parameters in the query string, or JSON with Content-Type: application/json")
	}
	if err := cloudemu.DecodeJSON(r, &req); err != nil {
		return req, err
	}
	return req, nil
}

// token is the OAuth2 entry point; refusals are the reference's 400
// without content (or with {message}, Options.AuthErrorBody).
func (s *Server) token(r *http.Request) (reply, error) {
	req, err := tokenParams(r)
	if err == nil {
		err = s.checkToken(req)
	}
	if err != nil {
		if s.o.AuthErrorBody {
			return reply{}, errf(http.StatusBadRequest, "%v", err)
		}
		return reply{status: http.StatusBadRequest}, nil
	}
	user := req.Username
	if req.GrantType == "refresh_token" {
		user = s.st.Refresh[req.RefreshToken].User
		delete(s.st.Refresh, req.RefreshToken)
	}
	now := s.o.Now()
	cloudemu.PruneTokens(s.st.Refresh, func(r refreshTok) int64 { return r.Expires }, now.Unix())
	cloudemu.PruneTokens(s.st.Revoked, func(exp int64) int64 { return exp }, now.Unix())
	rt := cloudemu.RandomHex(32)
	s.st.Refresh[rt] = refreshTok{User: user, Expires: now.Add(30 * 24 * time.Hour).Unix()}
	at := cloudemu.SignToken(s.st.Secret, cloudemu.Claims{Sub: user, Iat: now.Unix(), Exp: now.Add(s.o.TokenTTL).Unix()})
	return ok(tokenReply{TokenType: "Bearer", ExpiresIn: int64(s.o.TokenTTL / time.Second), AccessToken: at, RefreshToken: rt}), nil
}

func (s *Server) checkToken(req tokenReq) error {
	if req.GrantType == "" || req.ClientID == "" || req.ClientSecret == "" {
		return errors.New("grant_type, client_id and client_secret are required")
	}
	if sec, ok := s.o.Clients[req.ClientID]; !ok || sec != req.ClientSecret {
		return errors.New("unknown client or wrong client secret")
	}
	if req.Scope != "" && req.Scope != "teleport" {
		return fmt.Errorf("unknown scope %q", req.Scope)
	}
	switch req.GrantType {
	case "password":
		if pw, ok := s.o.Users[req.Username]; !ok || pw != req.Password {
			return errors.New("wrong username or password")
		}
	case "refresh_token":
		rt, ok := s.st.Refresh[req.RefreshToken]
		if !ok || s.o.Now().Unix() >= rt.Expires {
			return errors.New("refresh token invalid or expired")
		}
	case "auth_code":
		return errors.New("the emulator does not offer the auth_code grant")
	default:
		return fmt.Errorf("unknown grant_type %q", req.GrantType)
	}
	return nil
}

func (s *Server) logout(r *http.Request) (reply, error) {
	tok, _ := cloudemu.BearerToken(r.Header.Get("Authorization"))
	c, _ := cloudemu.VerifyToken(s.st.Secret, tok, s.o.Now())
	cloudemu.PruneTokens(s.st.Revoked, func(exp int64) int64 { return exp }, s.o.Now().Unix())
	s.st.Revoked[tok] = c.Exp
	return ok(map[string]string{"bye": "bye"}), nil
}

type role struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Title string `json:"title"`
}

type user struct {
	ID        int64   `json:"id"`
	CompanyID int64   `json:"company_id"`
	FirstName string  `json:"first_name"`
	LastName  string  `json:"last_name"`
	Position  string  `json:"position"`
	Email     string  `json:"email"`
	Lang      *string `json:"lang"`
	Status    bool    `json:"status"`
	LastLogin string  `json:"last_login"`
	Phone     bool    `json:"phone"`
	Roles     []role  `json:"roles"`
}

func (s *Server) me(r *http.Request) (reply, error) {
	tok, _ := cloudemu.BearerToken(r.Header.Get("Authorization"))
	c, _ := cloudemu.VerifyToken(s.st.Secret, tok, s.o.Now())
	return ok(user{ID: 1, CompanyID: 1, FirstName: "Tap", LastName: "Agent", Email: c.Sub, Status: true,
		LastLogin: s.stamp(time.Unix(c.Iat, 0)), Roles: []role{{3, "operator", "Operator"}}}), nil
}

// stamp renders a time as the reference does: ISO 8601 with the offset.
func (s *Server) stamp(t time.Time) string { return t.In(s.o.Zone).Format(time.RFC3339) }

// parseTime reads an ISO 8601 time with an offset. The reference's own
// examples put a bare "+03:00" (and "+03") in query strings, where it
// arrives as a space; that is read as the plus it was meant to be.
func parseTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05Z07", "2006-01-02T15:04:05Z07"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
		if i := strings.LastIndexByte(v, ' '); i > 0 && len(v)-i <= 6 {
			if t, err := time.Parse(layout, v[:i]+"+"+v[i+1:]); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time with an offset (2018-01-01T00:00:00+03:00)", v)
}

// period reads since/until (both included) with the default range and
// the longest window the resource allows.
func (s *Server) period(q url.Values, def func(now time.Time) (time.Time, time.Time), longest time.Duration) (time.Time, time.Time, error) {
	since, until := def(s.o.Now())
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &since}, {"until", &until}} {
		if v := q.Get(p.name); v != "" {
			t, err := parseTime(v)
			if err != nil {
				return since, until, badField(p.name, "invalid", "%s: %v", p.name, err)
			}
			*p.t = t
		}
	}
	switch {
	case until.Before(since):
		return since, until, badField("until", "invalid", "until is before since")
	case until.Sub(since) > longest:
		return since, until, badField("since", "invalid", "the period is longer than %s", days(longest))
	}
	return since, until, nil
}

func days(d time.Duration) string { return fmt.Sprintf("%d days", int(d/(24*time.Hour))) }

func lastDays(n int) func(time.Time) (time.Time, time.Time) {
	return func(now time.Time) (time.Time, time.Time) { return now.Add(-time.Duration(n) * 24 * time.Hour), now }
}

// today is the reference's default range for statistics: the current
// day in the server's zone.
func (s *Server) today(now time.Time) (time.Time, time.Time) {
	l := now.In(s.o.Zone)
	y, m, d := l.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, s.o.Zone), now
}
