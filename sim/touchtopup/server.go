package touchtopup

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// Options configure an emulator.
type Options struct {
	// Addr is where Start listens when called with ""; loopback only.
	Addr string
	// APIKeys are the accepted keys; default "tapagent-key".
	APIKeys []string
	// KeyHeader is the header that carries the key; default X-API-KEY.
	KeyHeader string
	// Zone is the companies' local time for the "YYYY-MM-DD HH:MM:SS"
	// stamps; default Europe/London.
	Zone *time.Location
	// Companies are created when the state is new.
	Companies []Company
	// StateFile, when set, is loaded at start and written within 100 ms
	// of every change and by Close.
	StateFile string
	// ErrorStatusCodes answers status-0 refusals with HTTP 400 (404 for
	// "No Data Available") instead of 200; the reference shows only the
	// body, and a client must read "status" either way.
	ErrorStatusCodes bool
	// UserCreateAsUser answers user_create with {"status":1,"user":"N"},
	// the reference's second sample, instead of {"status":1,"uid":N}.
	UserCreateAsUser bool
	// Faults are injected from the start; SetFaults changes them later.
	Faults cloudemu.Faults
	Now    func() time.Time
	Log    *slog.Logger
}

// Server is the emulated TouchTopUp cloud.
type Server struct {
	o    Options
	core cloudemu.Core

	mu sync.Mutex
	st state
}

// New makes an emulator, loading Options.StateFile if it exists.
func New(o Options) (*Server, error) {
	if o.APIKeys == nil {
		o.APIKeys = []string{"tapagent-key"}
	}
	if o.KeyHeader == "" {
		o.KeyHeader = "X-API-KEY"
	}
	if o.Zone == nil {
		loc, err := time.LoadLocation("Europe/London")
		if err != nil {
			return nil, fmt.Errorf("touchtopup emulator: %w", err)
		}
		o.Zone = loc
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o}
	found, err := s.core.Open(cloudemu.CoreOptions{Name: "touchtopup emulator", Addr: o.Addr, StateFile: o.StateFile, Faults: o.Faults, Log: o.Log}, &s.mu, &s.st)
	if err != nil {
		return nil, err
	}
	if !found {
		s.st = state{Companies: map[int64]*Company{}, Users: map[int64]*User{}, Pending: map[string]pending{}}
		for _, c := range o.Companies {
			if err := s.addCompanyLocked(c); err != nil {
				return nil, fmt.Errorf("touchtopup emulator: %w", err)
			}
		}
	}
	s.st.Pending = cloudemu.OrEmpty(s.st.Pending)
	s.st.Users = cloudemu.OrEmpty(s.st.Users)
	s.st.Companies = cloudemu.OrEmpty(s.st.Companies)
	return s, nil
}

// Start listens on addr (Options.Addr when ""), a loopback address, and
// returns the base URL (calls are URL + "/index.php/...") and a stop
// function.
func (s *Server) Start(addr string) (url string, stop func(), err error) {
	return s.core.Start(addr, s.Handler())
}

// SetFaults replaces the injected faults. ExpireTokens has nothing to
// expire here: the API key is the only credential.
func (s *Server) SetFaults(f cloudemu.Faults) { s.core.SetFaults(f) }

// Close writes a pending change to the state file; the emulator keeps
// serving after it. The stop function of Start calls it.
func (s *Server) Close() error { return s.core.Close() }

// refusal is a status-0 answer: msg, and extra fields (auth: "false").
type refusal struct {
	msg    string
	http   int  // the HTTP status with Options.ErrorStatusCodes
	fixed  bool // answered with http whatever the options say
	extras map[string]any
}

// Error is the message the client is told.
func (r *refusal) Error() string { return r.msg }

func refuse(format string, a ...any) *refusal {
	return &refusal{msg: fmt.Sprintf(format, a...), http: http.StatusBadRequest}
}

// noData is the reference's answer when nothing matches the parameters.
func noData() *refusal {
	return &refusal{msg: "No Data Available for the parameters you supplied", http: http.StatusNotFound}
}

// call is one API method: its HTTP method, required parameters and handler.
type call struct {
	method string
	needs  []string
	fn     func(p params) (map[string]any, error)
}

// params are the name/value pairs of the path, and for POST the body's.
type params map[string]string

func (p params) id(name string) (int64, error) {
	n, err := strconv.ParseInt(p[name], 10, 64)
	if err != nil || n <= 0 {
		return 0, refuse("%s must be a positive number", name)
	}
	return n, nil
}

func (s *Server) calls() map[string]call {
	return map[string]call{
		"accounts/auth_user":            {"GET", []string{"username", "password"}, s.authUser},
		"accounts/company_details":      {"GET", []string{"cid"}, s.companyDetails},
		"accounts/customer_details":     {"GET", []string{"coid", "custid"}, s.customerDetails},
		"accounts/customer_balance":     {"GET", []string{"coid", "custid"}, s.customerBalance},
		"accounts/payment_history":      {"GET", []string{"coid", "custid"}, s.paymentHistory},
		"accounts/transaction_history":  {"GET", []string{"coid", "custid"}, s.transactionHistory},
		"accounts/transaction_detail":   {"GET", []string{"tid", "coid"}, s.transactionDetail},
		"accounts/make_payment":         {"GET", []string{"coid", "custid", "pmtType", "amt"}, s.makePayment},
		"accounts/record_payment":       {"POST", []string{"pmtType", "token"}, s.recordPayment},
		"accounts/validate_accountkey":  {"GET", []string{"linkkey"}, s.validateKey},
		"users/user_create":             {"POST", []string{"email", "password"}, s.userCreate},
		"users/user_details":            {"GET", []string{"uid"}, s.userDetails},
		"users/user_change_password":    {"POST", []string{"userid", "new_password"}, s.changePassword},
		"users/user_forgot_password":    {"GET", []string{"email"}, s.forgotPassword},
		"users/user_check_email_exists": {"GET", []string{"email"}, s.emailExists},
		"users/user_check_reset_code":   {"GET", []string{"userid", "resetcode"}, s.checkResetCode},
		"users/user_link_account":       {"POST", []string{"uid", "linkkey"}, s.linkAccount},
	}
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler {
	calls := s.calls()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, p, xml, err := parsePath(r.URL.Path)
		c, known := calls[name]
		switch {
		case err != nil:
			s.write(w, xml, nil, err)
			return
		case !known:
			s.write(w, xml, nil, &refusal{msg: "Unknown method", http: http.StatusNotFound, fixed: true})
			return
		case r.Method != c.method:
			s.write(w, xml, nil, &refusal{msg: "Unknown method", http: http.StatusMethodNotAllowed, fixed: true})
			return
		case !s.keyOK(r):
			s.write(w, xml, nil, &refusal{msg: "Invalid API key", http: http.StatusForbidden, fixed: true})
			return
		}
		if r.Method == http.MethodPost {
			if err := bodyParams(r, p); err != nil {
				s.write(w, xml, nil, refuse("%v", err))
				return
			}
		}
		for _, k := range c.needs {
			if p[k] == "" {
				s.write(w, xml, nil, refuse("Missing parameter %s", k))
				return
			}
		}
		s.mu.Lock()
		body, err := c.fn(p)
		if err == nil && r.Method == http.MethodPost {
			s.core.Changed()
		}
		s.mu.Unlock()
		s.write(w, xml, body, err)
	})
	// Core.Handler routes without a ServeMux: one would answer "a//b"
	// with a redirect, not the API's status-0 body.
	return s.core.Handler(api, func(w http.ResponseWriter) {
		cloudemu.WriteJSON(w, http.StatusInternalServerError, map[string]any{"status": 0, "msg": "Internal server error (injected)"})
	}, s.SetFaults)
}

// keyOK checks the API key header (it is not logged).
func (s *Server) keyOK(r *http.Request) bool {
	k := []byte(r.Header.Get(s.o.KeyHeader))
	for _, want := range s.o.APIKeys {
		if len(k) > 0 && subtle.ConstantTimeCompare(k, []byte(want)) == 1 {
			return true
		}
	}
	return false
}

// parsePath splits /index.php/{controller}/{method}/k/v/k/v[/format/xml][/].
func parsePath(path string) (name string, p params, xml bool, err error) {
	rest, found := strings.CutPrefix(path, "/index.php/")
	if !found {
		return "", nil, false, &refusal{msg: "Unknown method", http: http.StatusNotFound, fixed: true}
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(segs) < 2 {
		return "", nil, false, &refusal{msg: "Unknown method", http: http.StatusNotFound, fixed: true}
	}
	name, kv := segs[0]+"/"+segs[1], segs[2:]
	p = params{}
	if len(kv)%2 != 0 {
		return name, p, false, refuse("Parameters must be name/value pairs: %s", strings.Join(kv, "/"))
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == "" {
			return name, p, false, refuse("Empty parameter name")
		}
		p[kv[i]] = kv[i+1]
	}
	switch p["format"] {
	case "", "json":
	case "xml":
		xml = true
	default:
		return name, p, false, refuse("Unsupported format %q", p["format"])
	}
	delete(p, "format")
	return name, p, xml, nil
}

// bodyParams adds a POST's parameters: a form or a JSON object of
// strings and numbers. Path parameters win over the body's.
func bodyParams(r *http.Request, p params) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, 64<<10)); err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	raw := bytes.TrimSpace(buf.Bytes())
	if len(raw) == 0 {
		return nil
	}
	add := func(k, v string) {
		if _, set := p[k]; !set {
			p[k] = v
		}
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("invalid JSON body: %w", err)
		}
		for k, v := range m {
			var str string
			if json.Unmarshal(v, &str) == nil {
				add(k, str)
				continue
			}
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("parameter %s must be a string or a number", k)
			}
			add(k, n.String())
		}
		return nil
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return fmt.Errorf("invalid form body: %w", err)
	}
	for k, v := range form {
		add(k, v[len(v)-1])
	}
	return nil
}

// write answers body with status 1, or the refusal as status 0 and msg.
func (s *Server) write(w http.ResponseWriter, xml bool, body map[string]any, err error) {
	code := http.StatusOK
	if err != nil {
		var rf *refusal
		if !errors.As(err, &rf) {
			rf = refuse("%v", err)
		}
		body = map[string]any{"status": 0, "msg": rf.msg}
		for k, v := range rf.extras {
			body[k] = v
		}
		if s.o.ErrorStatusCodes || rf.fixed {
			code = rf.http
		}
	} else {
		body["status"] = 1
	}
	if xml {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write(toXML(body))
		return
	}
	cloudemu.WriteJSON(w, code, body)
}

// toXML renders a reply as the CodeIgniter REST server's Format does:
// one <xml> root, object keys as elements, list entries as <item>.
func toXML(v any) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n<xml>")
	raw, _ := json.Marshal(v)
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&generic)
	xmlValue(&b, generic)
	b.WriteString("</xml>\n")
	return b.Bytes()
}

func xmlValue(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := k
			if name == "" || (name[0] >= '0' && name[0] <= '9') {
				name = "item"
			}
			fmt.Fprintf(b, "<%s>", name)
			xmlValue(b, t[k])
			fmt.Fprintf(b, "</%s>", name)
		}
	case []any:
		for _, e := range t {
			b.WriteString("<item>")
			xmlValue(b, e)
			b.WriteString("</item>")
		}
	case nil:
	default:
		var esc bytes.Buffer
		_ = xmlEscape(&esc, fmt.Sprint(t))
		b.Write(esc.Bytes())
	}
}

func xmlEscape(b *bytes.Buffer, s string) error {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	_, err := r.WriteString(b, s)
	return err
}
