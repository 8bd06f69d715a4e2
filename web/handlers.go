package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/device"
)

//go:embed templates/*.html static/*
var assets embed.FS

const cookieName = "tapagent_session"

// page is what every template gets.
type page struct {
	Title   string
	Nav     string
	User    string
	Role    Role
	CSRF    string
	Device  string
	Flash   string
	Error   string
	Refresh bool // reload the main part when a pour is booked
	Data    any
}

type handler func(w http.ResponseWriter, r *http.Request, ss session)

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"ml": millilitres, "l": litresOf,
}).ParseFS(assets, "templates/*.html"))

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheable(http.FileServerFS(static))))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.Handle("POST /logout", s.auth(RoleStaff, s.logout))
	mux.Handle("GET /{$}", s.auth(RoleStaff, s.tapsPage))
	mux.Handle("GET /history", s.auth(RoleStaff, s.historyPage))
	mux.Handle("GET /history.csv", s.auth(RoleStaff, s.historyCSV))
	mux.Handle("GET /charts", s.auth(RoleOperator, s.chartsPage))
	mux.Handle("GET /events", s.auth(RoleOperator, s.eventsPage))
	mux.Handle("GET /health", s.auth(RoleOperator, s.healthPage))
	mux.Handle("GET /live", s.auth(RoleStaff, s.serveLive))
	mux.Handle("POST /action", s.auth(RoleStaff, s.action))
	return secure(mux)
}

// secure sets the headers every answer carries and bounds every body.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h.ServeHTTP(w, r)
	})
}

func cacheable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// sameOrigin refuses a state-changing request sent by another site: the
// browser's Sec-Fetch-Site, else Origin, must name this site. Requests
// with neither (curl, old browsers) still need the session's CSRF token.
func sameOrigin(r *http.Request) bool {
	if sf := r.Header.Get("Sec-Fetch-Site"); sf != "" {
		return sf == "same-origin" || sf == "none"
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// auth admits a request with a live session of at least role; every POST
// must also be same-origin and carry the session's CSRF token.
func (s *Server) auth(role Role, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		var ss session
		ok := err == nil
		if ok {
			ss, ok = s.sessions.get(c.Value)
		}
		if ok && !s.stillValid(ss) {
			s.sessions.end(ss.id)
			ok = false
		}
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path != "/live" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if role == RoleOperator && ss.role != RoleOperator {
			http.Error(w, "this page is for operators", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
			if err := r.ParseForm(); err != nil {
				formError(w, err)
				return
			}
			if !ss.csrfOK(r.PostForm.Get("csrf")) {
				http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
				return
			}
		}
		h(w, r, ss)
	})
}

func formError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
}

func (s *Server) render(w http.ResponseWriter, name string, p page) {
	p.Device = s.d.Config.Device.Name
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := templates.ExecuteTemplate(w, name, p); err != nil {
		s.d.Log.Error("web: rendering", "page", name, "err", err)
	}
}

func (s *Server) pageFor(ss session, title, nav string) page {
	return page{Title: title, Nav: nav, User: ss.user, Role: ss.role, CSRF: ss.csrf}
}

// safeNext keeps a post-login redirect on this site: a path with no
// scheme or host, starting with exactly one "/", with no backslash or
// control character (a browser drops tabs and newlines from a URL, so
// "/\t/evil.example" would become "//evil.example", another site).
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.ContainsRune(n, '\\') {
		return "/"
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "/"
		}
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return n
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, "login.html", page{Title: "Log in", Data: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	if err := r.ParseForm(); err != nil {
		formError(w, err)
		return
	}
	addr := remoteHost(r)
	next := safeNext(r.PostForm.Get("next"))
	switch s.limit.reserve(addr) {
	case limitClient:
		s.tooMany(w, "Too many failed logins; wait a minute.", 60, next)
		return
	case limitBusy:
		s.tooMany(w, "The device is busy checking other logins; try again.", 1, next)
		return
	}
	u, ok, err := s.checkPassword(r.Context(), r.PostForm.Get("user"), []byte(r.PostForm.Get("password")))
	if err != nil {
		return // the client went away while waiting for a check
	}
	if !ok {
		s.d.Log.Warn("web: login refused", "user", r.PostForm.Get("user"), "from", addr)
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, "login.html", page{Title: "Log in", Error: "Wrong name or password.", Data: next})
		return
	}
	s.limit.refund(addr)
	ss := s.sessions.create(u)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: ss.id, Path: "/", HttpOnly: true, Secure: s.tls,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.d.Config.Web.SessionTTL.Duration / time.Second)})
	s.d.Log.Info("web: login", "user", u.Name, "role", u.Role, "from", addr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// tooMany refuses a login attempt before its password is checked.
func (s *Server) tooMany(w http.ResponseWriter, msg string, retry int, next string) {
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	w.WriteHeader(http.StatusTooManyRequests)
	s.render(w, "login.html", page{Title: "Log in", Error: msg, Data: next})
}

// checkPassword runs authenticate under the semaphore that bounds bcrypt
// work in flight, so logins cannot take every core of the controller.
func (s *Server) checkPassword(ctx context.Context, name string, password []byte) (User, bool, error) {
	select {
	case s.checks <- struct{}{}:
	case <-ctx.Done():
		return User{}, false, fmt.Errorf("waiting to check a password: %w", ctx.Err())
	}
	defer func() { <-s.checks }()
	u, ok := s.authenticate(name, password)
	return u, ok, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss session) {
	s.sessions.end(ss.id)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: s.tls,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// eventRow is one event on the events page.
type eventRow struct {
	When, Type, Detail string
	Line               int
}

// maxEventsShown bounds the events page.
const maxEventsShown = 200

func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request, ss session) {
	p := s.pageFor(ss, "Events", "events")
	var rows []eventRow
	if s.d.Events != nil {
		raw, err := s.d.Events(maxEventsShown)
		if err != nil {
			p.Error = err.Error()
		}
		for i := len(raw) - 1; i >= 0; i-- {
			var ev device.Event
			if json.Unmarshal(raw[i], &ev) != nil {
				continue
			}
			rows = append(rows, eventRow{When: ev.Time.In(s.zone()).Format("2006-01-02 15:04:05"), Type: string(ev.Type), Line: ev.Line, Detail: describe(ev)})
		}
	}
	p.Data = rows
	s.render(w, "events.html", p)
}

// describe is an event's detail column.
func describe(ev device.Event) string {
	var parts []string
	if ev.Volume != 0 {
		parts = append(parts, millilitres(ev.Volume))
	}
	if ev.Amount != 0 {
		parts = append(parts, "amount "+strconv.FormatInt(ev.Amount, 10))
	}
	for _, x := range []string{ev.Mode, ev.Reason, ev.Kind, ev.Detail} {
		if x != "" {
			parts = append(parts, x)
		}
	}
	if ev.Alarm != nil {
		parts = append(parts, ev.Alarm.Kind)
	}
	if ev.By != nil {
		parts = append(parts, ev.By.String())
	}
	return strings.Join(parts, " · ")
}

func (s *Server) healthPage(w http.ResponseWriter, r *http.Request, ss session) {
	p := s.pageFor(ss, "Health", "health")
	p.Data = s.health()
	s.render(w, "health.html", p)
}

func (s *Server) health() []Component {
	if s.d.Health == nil {
		return nil
	}
	return s.d.Health()
}
