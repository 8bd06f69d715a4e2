package telemetronapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/telemetronapi"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/web"
)

// The OAuth2 client and the user every rig knows.
const (
	clientID     = "tool"
	clientSecret = "tool-secret-0123456789"
	userName     = "operator"
	userPassword = "password-123"
	machineID    = 123
)

// start is the rig's wall-clock time: 21:00 in Moscow (+03:00, the
// reference's default offset).
var start = time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)

// rig is the agent's wall core on the simulated board, its real bbolt
// store and audit, and the API on a loopback port.
type rig struct {
	t     testing.TB
	clk   *clock.Manual
	cfg   *config.Config
	store *storage.Store
	audit *evadts.Audit
	agent *device.Agent
	srv   *telemetronapi.Server
	url   string
}

type rigOption func(*config.Config, *telemetronapi.Options)

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.Device.DataDir = dir
	cfg.TTG.TimeZone = "Europe/Moscow"
	cfg.Telemetron.Listen = "127.0.0.1:0"
	cfg.Telemetron.MachineID = machineID
	cfg.Telemetron.Clients = []config.TelemetronClient{{ID: clientID, Secret: clientSecret}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, clk: clock.NewManual(start)}
	wall, err := simwall.NewWall(cfg, r.clk)
	if err != nil {
		t.Fatal(err)
	}
	if r.store, err = storage.Open(filepath.Join(dir, "tapagent.db"), storage.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.store.Close() })
	r.audit = evadts.NewAudit(r.store, r.clk.Now)
	if r.agent, err = device.New(device.Options{Config: cfg, Clock: r.clk, Store: r.store, Valves: wall.Valves, Meters: wall.Meters}); err != nil {
		t.Fatal(err)
	}
	if err := r.agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.agent.Close() })
	if err := web.SetUser(cfg.Telemetron.UsersFile(dir), userName, web.RoleOperator, []byte(userPassword)); err != nil {
		t.Fatal(err)
	}
	o, err := telemetronapi.ForAgent(cfg, r.agent, r.store, r.audit, "test", r.clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range opts {
		opt(cfg, &o)
	}
	if r.srv, err = telemetronapi.Start(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Close() })
	r.url = r.srv.URL
	return r
}

// reply is an answer: status, body and headers.
type reply struct {
	status int
	body   []byte
	header http.Header
}

func (p reply) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(p.body, v); err != nil {
		t.Fatalf("%d %s: %v", p.status, p.body, err)
	}
}

// call sends a request; body is JSON unless it is already bytes.
func call(t testing.TB, method, url, tok string, body any) reply {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, b, res.Header}
}

type tokens struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// login takes a token with the password grant.
func login(t testing.TB, url string) tokens {
	t.Helper()
	p := call(t, "POST", url+"/auth/", "", map[string]string{"grant_type": "password", "client_id": clientID,
		"client_secret": clientSecret, "scope": "teleport", "username": userName, "password": userPassword})
	if p.status != http.StatusOK {
		t.Fatalf("login: %d %s", p.status, p.body)
	}
	var tk tokens
	p.json(t, &tk)
	return tk
}

// vm is the machine's resource path.
func (r *rig) vm(rest string) string { return r.url + "/v2/vending_machines/123" + rest }

// keep writes history entries in one commit.
func (r *rig) keep(es ...history.Entry) {
	r.t.Helper()
	cs := make([]storage.Change, 0, len(es))
	for _, e := range es {
		cs = append(cs, history.Change(e))
	}
	if err := r.store.Apply(cs...); err != nil {
		r.t.Fatal(err)
	}
}

// log appends agent events to the durable event log and waits for them.
func (r *rig) log(evs ...device.Event) {
	r.t.Helper()
	for _, ev := range evs {
		raw, _ := json.Marshal(ev)
		done := make(chan error, 1)
		r.store.AppendEvent(raw, func(err error) { done <- err })
		if err := <-done; err != nil {
			r.t.Fatal(err)
		}
	}
}

// errorBody is the reference's error body.
type errorBody struct {
	Message string `json:"message"`
	Subcode string `json:"subcode"`
	Errors  []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

func wantError(t testing.TB, p reply, status int, field string) errorBody {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d %s, want %d", p.status, p.body, status)
	}
	var e errorBody
	p.json(t, &e)
	if e.Message == "" {
		t.Fatalf("error without a message: %s", p.body)
	}
	if field != "" && (len(e.Errors) == 0 || e.Errors[0].Field != field) {
		t.Fatalf("errors %s do not name %s", p.body, field)
	}
	return e
}

// ts is a time as a query carries it.
func ts(t time.Time) string { return strings.ReplaceAll(t.Format(time.RFC3339), "+", "%2B") }
