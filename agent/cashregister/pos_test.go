package cashregister_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/tapagent/tapagent/internal/testwait"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/fsfault"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

const apiKey = "s3cret"

// wall is the agent on the simulated wall with the cash interface served
// over a real loopback HTTP server.
type wall struct {
	t     *testing.T
	cfg   *config.Config
	clk   *clock.Manual
	sim   *simwall.Wall
	store *storage.Store
	reg   *cashregister.Register
	agent *device.Agent
	hs    *httptest.Server
}

func newWall(t *testing.T) *wall {
	cfg, _ := config.Default()
	cfg.Device.DataDir = t.TempDir()
	w := &wall{t: t, cfg: cfg, clk: clock.NewManual(time.Date(2026, 11, 20, 19, 0, 0, 0, time.UTC))}
	var err error
	if w.sim, err = simwall.NewWall(cfg, w.clk); err != nil {
		t.Fatal(err)
	}
	w.start()
	t.Cleanup(func() { w.stop(true) })
	return w
}

func (w *wall) start() {
	var err error
	if w.store, err = storage.Open(filepath.Join(w.cfg.Device.DataDir, "tapagent.db"), storage.Options{}); err != nil {
		w.t.Fatal(err)
	}
	w.reg = cashregister.NewRegister(w.store, cashregister.ArticlesFrom(w.cfg.POS, w.cfg.LineForPLU), w.clk.Now)
	w.agent, err = device.New(device.Options{Config: w.cfg, Clock: w.clk, Store: w.store, Valves: w.sim.Valves,
		Meters: w.sim.Meters, Settle: w.reg.Settle, Register: w.reg.ForWall()})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.agent.Start(); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.reg.Reconcile(); err != nil {
		w.t.Fatal(err)
	}
	w.hs = httptest.NewServer(w.reg.Handler(apiKey))
}

// stop shuts down cleanly, or (crash) like kill -9.
func (w *wall) stop(clean bool) {
	if w.agent == nil {
		return
	}
	w.hs.Close()
	if clean {
		w.agent.Close()
	}
	for _, m := range w.sim.Meters {
		m.Close()
	}
	w.store.Close()
	w.agent = nil
}

func (w *wall) run(d time.Duration) {
	for end := w.clk.Mono() + d; w.clk.Mono() < end; {
		w.sim.Board.Advance(10 * time.Millisecond)
		w.agent.Tick()
	}
}

func (w *wall) call(method, path, body string) (int, string, http.Header) {
	w.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, w.hs.URL+cashregister.BasePath+path, rd)
	req.Header.Set("X-API-Key", apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// credit posts and fills a credit the way the spec's use case does.
func (w *wall) credit(body string) string {
	w.t.Helper()
	code, _, h := w.call("POST", "/credits", "")
	loc := h.Get("Location")
	if code != http.StatusCreated || !strings.HasPrefix(loc, "/credits/") {
		w.t.Fatalf("POST /credits: %d %q", code, loc)
	}
	if code, msg, _ := w.call("PUT", loc, body); code != http.StatusOK {
		w.t.Fatalf("PUT %s: %d %s", loc, code, msg)
	}
	return loc
}

func (w *wall) waiterPour(line int, waiter int64) {
	w.t.Helper()
	if _, err := w.agent.WaiterTap(line, waiter); err != nil {
		w.t.Fatal(err)
	}
	w.sim.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: 50}, {T: 20 * time.Second, MLs: 50}})
	w.run(12 * time.Second)
	w.sim.Board.Line(line).ReleaseHandle()
}

func decodeJSON[T any](t *testing.T, s string) T {
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return v
}

func TestRegisterScenario(t *testing.T) {
	w := newWall(t)
	w.credit(`{"Waiter": 3, "PLU": 102, "Count": 2, "Table": 7, "Place": 1}`)
	if code, _, _ := w.call("POST", "/credits", `{"Waiter": 5, "PLU": 101, "Count": 1, "CustomerID": "5"}`); code != 201 {
		t.Fatalf("POST with body: %d", code)
	}
	w.waiterPour(2, 3)
	_, body, _ := w.call("GET", "/debits", "")
	debits := decodeJSON[cashregister.DebitList](t, body).Debits
	if len(debits) != 1 {
		t.Fatalf("debits: %s", body)
	}
	d := debits[0]
	if d.Waiter != 3 || d.PLU != 102 || d.Table != 7 || d.Place != 1 || d.Count != 1 || d.Amount != 420 || d.Price != 420 || d.Articlename != "Pils 0,3" {
		t.Fatalf("debit %+v", d)
	}
	// Restart between pour and collection: nothing is lost.
	w.stop(true)
	w.start()
	_, body, _ = w.call("GET", "/credits", "")
	credits := decodeJSON[cashregister.CreditList](t, body).Credits
	if len(credits) != 2 {
		t.Fatalf("credits after restart: %s", body)
	}
	for _, c := range credits {
		if c.PLU == 102 && c.Count != 1 {
			t.Fatalf("waiter 3's credit after one pour: %+v", c)
		}
	}
	// Cancel the remaining Pils by negative count; more than left is refused whole.
	loc := w.credit(`{"Waiter": 3, "PLU": 102, "Count": -1}`)
	if code, _, _ := w.call("GET", loc, ""); code != http.StatusNotFound {
		t.Fatalf("the cancellation resource should be gone: %d", code)
	}
	_, created, h := w.call("POST", "/credits", "")
	if code, msg, _ := w.call("PUT", h.Get("Location"), `{"Waiter": 5, "PLU": 101, "Count": -4}`); code != http.StatusConflict || !strings.Contains(msg, "1 available") {
		t.Fatalf("over-cancel: %d %s (%s)", code, msg, created)
	}
	_, body, _ = w.call("GET", "/credits", "")
	if cs := decodeJSON[cashregister.CreditList](t, body).Credits; len(cs) != 1 || cs[0].PLU != 101 {
		t.Fatalf("credits after cancel: %s", body)
	}
	if _, err := w.agent.WaiterTap(2, 3); !errors.Is(err, cashregister.ErrNoCredit) {
		t.Fatalf("waiter without credit: %v", err)
	}
	if w.sim.Board.Line(2).Truth().ValveOpen {
		t.Fatal("valve opened without credit")
	}
	// Collect: single delete, repeated delete, list delete.
	id := "/debits/" + itoa(int64(d.ID))
	for i := 0; i < 2; i++ {
		if code, _, _ := w.call("DELETE", id, ""); code != 200 {
			t.Fatalf("DELETE %s (try %d): %d", id, i+1, code)
		}
	}
	if code, _, _ := w.call("GET", id, ""); code != 404 {
		t.Fatalf("GET deleted debit: %d", code)
	}
	w.waiterPour(1, 5)
	_, body, _ = w.call("GET", "/debits", "")
	if code, msg, _ := w.call("DELETE", "/debits", body); code != 200 || !strings.Contains(msg, `"Deleted":1`) {
		t.Fatalf("DELETE /debits: %d %s", code, msg)
	}
	if _, body, _ = w.call("GET", "/debits", ""); !strings.Contains(body, `"Debits":[]`) {
		t.Fatalf("debits left: %s", body)
	}
}

func TestCrashMidWaiterPour(t *testing.T) {
	w := newWall(t)
	w.credit(`{"Waiter": 3, "PLU": 102, "Count": 3}`)
	if _, err := w.agent.WaiterTap(2, 3); err != nil {
		t.Fatal(err)
	}
	w.sim.Board.Line(2).Pour([]sim.Point{{T: 0, MLs: 50}})
	w.run(2 * time.Second)
	// A count reserved by a pour that never got its intent written.
	if _, err := w.reg.Reserve(3, 102); err != nil {
		t.Fatal(err)
	}
	// Checkpoints are written behind the pour: wait for one with volume.
	testwait.Until(t, 10*time.Second, "a checkpoint with volume", func() bool {
		in, _ := w.store.Intents()
		return len(in) == 1 && in[0].Progress.Amount > 0
	})
	w.stop(false)
	w.start()
	_, body, _ := w.call("GET", "/debits", "")
	ds := decodeJSON[cashregister.DebitList](t, body).Debits
	if len(ds) != 1 || ds[0].Amount <= 0 || ds[0].Amount >= 420 {
		t.Fatalf("recovered waiter pour should be one partial debit: %s", body)
	}
	_, body, _ = w.call("GET", "/credits", "")
	if cs := decodeJSON[cashregister.CreditList](t, body).Credits; len(cs) != 1 || cs[0].Count != 2 {
		t.Fatalf("credits after crash: %s (one used, the orphan reservation given back)", body)
	}
}

func TestBadRequests(t *testing.T) {
	w := newWall(t)
	_, _, h := w.call("POST", "/credits", "")
	loc := h.Get("Location")
	cases := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"PUT", loc, `{`, 400, "invalid JSON"},
		{"PUT", loc, `[1,2]`, 400, "invalid JSON"},
		{"PUT", loc, `{"Waiter": "x", "PLU": 1, "Count": 1}`, 400, "invalid JSON"},
		{"PUT", loc, `{"PLU": 102, "Count": 1}`, 400, "Waiter is required"},
		{"PUT", loc, `{"Waiter": 1, "PLU": 102}`, 400, "Count is required"},
		{"PUT", loc, `{"Waiter": 1, "PLU": 999, "Count": 1}`, 400, "PLU 999"},
		{"PUT", loc, ``, 400, "body is required"},
		{"PUT", "/credits/12345", `{"Waiter": 1, "PLU": 102, "Count": 1}`, 404, "not found"},
		{"PUT", "/credits/abc", `{}`, 400, "not a positive number"},
		{"POST", "/credits", `{"Waiter": 1.5, "PLU": 102, "Count": 1}`, 400, "whole number"},
		{"GET", "/credits/77", ``, 404, "not found"},
		{"DELETE", "/credits/77", ``, 404, "not found"},
		{"GET", "/debits/77", ``, 404, "not found"},
		{"DELETE", "/debits/77", ``, 404, "not found"},
		{"DELETE", "/debits", `{"Debits": [{"Waiter": 1}]}`, 400, "ID is required"},
		{"DELETE", "/debits", `nonsense`, 400, "invalid JSON"},
		{"DELETE", "/debits", ``, 400, "DebitList"},
		{"PATCH", "/credits", `{}`, 405, ""},
	}
	for _, c := range cases {
		code, msg, _ := w.call(c.method, c.path, c.body)
		if code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s %q: %d %s; want %d %q", c.method, c.path, c.body, code, msg, c.code, c.want)
		}
	}
	req, _ := http.NewRequest("GET", w.hs.URL+cashregister.BasePath+"/credits", nil)
	res, _ := http.DefaultClient.Do(req)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no API key: %d", res.StatusCode)
	}
	if code, _, _ := w.call("DELETE", loc, ""); code != 200 {
		t.Fatal("delete of an empty credit")
	}
	if code, _, _ := w.call("DELETE", loc, ""); code != 200 {
		t.Fatal("repeated delete is not idempotent")
	}
}

func itoa(v int64) string { return strings.TrimSpace(string(must(json.Marshal(v)))) }

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzCreditBody(f *testing.F) {
	f.Add([]byte(`{"Waiter": 3, "PLU": 102, "Count": 2}`))
	f.Add([]byte(`{"Waiter": "3", "PLU": 102, "Count": -2, "Table": null}`))
	f.Add([]byte(`{"Credits": []}`))
	f.Add([]byte(`{"ID": 7, "Waiter": 3, "PLU": 102, "Count": -9223372036854775808}`))
	f.Add([]byte(`{"Waiter": 3, "PLU": 4294967398, "Count": 9999}`))
	f.Add([]byte(`{"Waiter": 3, "PLU": 102, "Count": 1e300}`))
	dir := f.TempDir()
	st, err := storage.Open(filepath.Join(dir, "db"), storage.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	reg := cashregister.NewRegister(st, []cashregister.Article{{PLU: 102, Line: 2, Name: "Pils", Portion: 3000, Price: 420}}, nil)
	h := reg.Handler("")
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := reg.Create()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range [][2]string{{"POST", "/credits"}, {"PUT", "/credits/" + itoa(id)}, {"DELETE", "/debits"}} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c[0], cashregister.BasePath+c[1], bytes.NewReader(body)))
			if rec.Code >= 500 {
				t.Fatalf("%s %q: %d %s", c[0], body, rec.Code, rec.Body)
			}
		}
		cs, err := reg.Credits()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Count < 1 || c.Count > cashregister.MaxCount || c.PLU != 102 {
				t.Fatalf("after %q a credit holds %+v", body, c)
			}
		}
	})
}

// TestCreditsSurviveAMoveAside: the database is found corrupt (its event
// log scribbled over) and moved aside between a waiter's pour and the
// register collecting it. The credit's remaining count, the debit and a
// credit posted with its own ID come back in the fresh database: nothing
// vanishes, the used count is not granted again and the replayed POST is
// still recognised as the same credit.
func TestCreditsSurviveAMoveAside(t *testing.T) {
	w := newWall(t)
	w.credit(`{"Waiter": 3, "PLU": 102, "Count": 2}`)
	own := `{"ID": 77, "Waiter": 5, "PLU": 101, "Count": 1}`
	if code, _, _ := w.call("POST", "/credits", own); code != http.StatusCreated {
		t.Fatalf("POST with an ID: %d", code)
	}
	w.waiterPour(2, 3)
	for i := 0; i < 300; i++ { // an event log with pages of its own
		w.agent.Report(device.Event{Type: device.EventAgentStarted, Detail: strings.Repeat("x", 60)})
	}
	w.stop(true)
	fsfault.ScribbleBucket(t, filepath.Join(w.cfg.Device.DataDir, "tapagent.db"), "events")
	w.start()
	if w.store.MovedAside() == "" {
		t.Fatal("corruption not detected")
	}
	_, body, _ := w.call("GET", "/debits", "")
	if ds := decodeJSON[cashregister.DebitList](t, body).Debits; len(ds) != 1 || ds[0].Waiter != 3 || ds[0].Amount != 420 {
		t.Fatalf("debits after the move: %s", body)
	}
	_, body, _ = w.call("GET", "/credits", "")
	cs := decodeJSON[cashregister.CreditList](t, body).Credits
	if len(cs) != 2 {
		t.Fatalf("credits after the move: %s", body)
	}
	for _, c := range cs {
		if c.PLU == 102 && c.Count != 1 {
			t.Fatalf("waiter 3's credit after one pour and a move-aside: %+v", c)
		}
	}
	if code, _, _ := w.call("POST", "/credits", own); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("replayed POST after the move: %d", code)
	}
	if _, body, _ = w.call("GET", "/credits", ""); len(decodeJSON[cashregister.CreditList](t, body).Credits) != 2 {
		t.Fatalf("the replayed POST granted again: %s", body)
	}
}
