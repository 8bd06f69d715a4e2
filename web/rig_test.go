package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/internal/walltest"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/web"
)

// rig is a real agent on the simulated wall, its bbolt store and the
// dashboard on a loopback port, with an operator and a staff user.
type rig struct {
	t     testing.TB
	cfg   *config.Config
	clk   *clock.Manual
	wall  *simwall.Wall
	store *storage.Store
	agent *device.Agent
	ev    walltest.Events
	srv   *web.Server
	// pause is the real time per 10 ms of virtual time.
	pause time.Duration
}

const (
	opName, opPass       = "olga", "operator-password-1"
	staffName, staffPass = "sam", "staff-password-22"
)

func newRig(t testing.TB, edit func(*config.Config, *web.Deps)) *rig {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.Web.Listen = "127.0.0.1:0"
	for i := range cfg.Sim.Lines {
		cfg.Sim.Lines[i].AirBurstsPerMin = 0
	}
	users := cfg.Web.Users(cfg.Device.DataDir)
	if err := web.SetUser(users, opName, web.RoleOperator, []byte(opPass)); err != nil {
		t.Fatal(err)
	}
	if err := web.SetUser(users, staffName, web.RoleStaff, []byte(staffPass)); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, clk: clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))}
	if r.wall, err = simwall.NewWall(cfg, r.clk); err != nil {
		t.Fatal(err)
	}
	if r.store, err = storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{MaxEvents: 1000}); err != nil {
		t.Fatal(err)
	}
	var obs atomic.Pointer[web.Server]
	r.agent, err = device.New(device.Options{Config: cfg, Clock: r.clk, Store: r.store, Valves: r.wall.Valves, Meters: r.wall.Meters,
		Emit: func(ev device.Event) {
			r.ev.Add(ev)
			if s := obs.Load(); s != nil {
				s.Observe(ev)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.agent.Start(); err != nil {
		t.Fatal(err)
	}
	d := web.ForAgent(cfg, r.agent, r.store, web.Sources{}, r.clk.Now, "test", nil)
	if edit != nil {
		edit(cfg, &d)
	}
	if r.srv, err = web.Start(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	obs.Store(r.srv)
	t.Cleanup(func() {
		r.srv.Close()
		r.agent.Close()
		r.store.Close()
	})
	return r
}

// loop advances the simulated wall until cond holds.
func (r *rig) until(what string, cond func() bool) {
	r.t.Helper()
	walltest.Loop{Wall: r.wall, Agent: r.agent, Events: &r.ev, Pause: max(r.pause, 50*time.Microsecond)}.Until(r.t, what, cond)
}

// pour books one free pour of about ml on a line.
func (r *rig) pour(line int, mls float64, d time.Duration) {
	r.t.Helper()
	n := r.ev.Count(device.EventPourBooked)
	if _, err := r.agent.Authorise(line, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err != nil {
		r.t.Fatal(err)
	}
	r.wall.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: mls}, {T: d, MLs: mls}, {T: d + 50*time.Millisecond, MLs: 0}})
	r.until("pour booked", func() bool { return r.ev.Count(device.EventPourBooked) > n })
}

// client is a browser-like client with a cookie jar that does not follow
// redirects, so tests see each answer.
func (r *rig) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs a client in and returns the session's CSRF token.
func (r *rig) login(c *http.Client, name, pass string) string {
	r.t.Helper()
	resp, err := c.PostForm(r.srv.URL+"/login", url.Values{"user": {name}, "password": {pass}})
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		r.t.Fatalf("login %s: %s", name, resp.Status)
	}
	return r.csrf(c)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (r *rig) csrf(c *http.Client) string {
	r.t.Helper()
	body, status := r.get(c, "/")
	if status != http.StatusOK {
		r.t.Fatalf("tap list: %d", status)
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		r.t.Fatal("no CSRF token on the tap list")
	}
	return m[1]
}

func (r *rig) get(c *http.Client, path string) (string, int) {
	r.t.Helper()
	resp, err := c.Get(r.srv.URL + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// post sends a form with extra headers and returns the status.
func (r *rig) post(c *http.Client, path string, form url.Values, hdr map[string]string) *http.Response {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// operations are the audit records of keg and line operations.
func (r *rig) operations() []history.Entry {
	r.t.Helper()
	ops, err := history.New(r.store).Find(context.Background(), history.Query{Kinds: []string{history.KindOperation}})
	if err != nil {
		r.t.Fatal(err)
	}
	return ops
}

func (r *rig) keg(line int) flow.Vol {
	for _, s := range r.agent.Status() {
		if s.Line == line {
			return s.KegLeft
		}
	}
	r.t.Fatalf("no line %d", line)
	return 0
}
