package clientcontrol_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/clientcontrol"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// rig is a third-party app's view: it talks to the TTG emulator, which
// forwards to the agent's client-control listener on the simulated wall.
type rig struct {
	t        *testing.T
	cfg      *config.Config
	clk      *clock.Manual
	wall     *simwall.Wall
	store    *storage.Store
	agent    *device.Agent
	up       *serversync.Uplink
	ctl      *clientcontrol.Server
	app      *ttg.Client
	restarts atomic.Int32
	events   chan device.Event
}

// ctlToken is the secret the TTG server sends the agent's listener.
const ctlToken = "0123456789abcdef-control"

// restartEvery is the rig's control.restart_interval.
const restartEvery = 10 * time.Second

func newRig(t *testing.T) *rig {
	cfg, _ := config.Default()
	cfg.Device.DataDir = t.TempDir()
	cfg.TTG.TimeZone = "UTC"
	r := &rig{t: t, cfg: cfg, clk: clock.NewManual(time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC)), events: make(chan device.Event, 256)}
	var err error
	if r.wall, err = simwall.NewWall(cfg, r.clk); err != nil {
		t.Fatal(err)
	}
	r.boot()
	t.Cleanup(r.shutdown)
	return r
}

// boot starts the agent on the rig's data directory, with a fresh TTG
// emulator and the client-control listener registered with it.
func (r *rig) boot() {
	t, cfg := r.t, r.cfg
	store, err := storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.store = store
	if r.up, err = serversync.New(cfg, store, true, nil); err != nil {
		t.Fatal(err)
	}
	r.agent, err = device.New(device.Options{Config: cfg, Clock: r.clk, Store: store, Valves: r.wall.Valves, Meters: r.wall.Meters,
		Catalog: r.up.Syncer, Cards: r.up.Cards(), Restart: func() error { r.restarts.Add(1); return nil },
		Emit: func(ev device.Event) {
			select {
			case r.events <- ev:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.agent.Start(); err != nil {
		t.Fatal(err)
	}
	if err := r.up.Syncer.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.ctl, err = clientcontrol.Serve("127.0.0.1:0", clientcontrol.Options{Agent: r.agent, DeviceID: cfg.Device.ID,
		Sys: sysinfo.NewReader(cfg.Device.DataDir), Link: r.up.LinkState, ServerToken: r.up.Token, Now: r.clk.Now,
		Access: clientcontrol.Access{Token: ctlToken, RestartInterval: restartEvery}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.up.Server.RegisterClient(cfg.Device.ID, r.ctl.URL, ctlToken); err != nil {
		t.Fatal(err)
	}
	r.app = ttg.NewClient(ttg.ClientConfig{BaseURL: r.up.URL, Username: "tapagent", Password: "tapagent", ClientID: 77})
}

// shutdown stops what boot started, as a clean stop of the agent does.
func (r *rig) shutdown() {
	if r.store == nil {
		return
	}
	r.ctl.Close()
	r.agent.Close()
	r.up.Stop(time.Second)
	r.store.Close()
	r.store = nil
}

func (r *rig) call(path string, req any) map[string]any {
	r.t.Helper()
	var out map[string]any
	if err := r.app.Call(context.Background(), "/m2m/api/"+path, req, &out); err != nil {
		r.t.Fatalf("%s: %v", path, err)
	}
	return out
}

// direct posts a call straight to the agent's listener, as a caller on
// the network would, with auth as its Authorization header ("" for none).
func (r *rig) direct(call, body, auth string) (int, map[string]any) {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.ctl.URL+"/"+call, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func code(m map[string]any) int {
	f, _ := m["error"].(float64)
	return int(f)
}

func login(line int, volume int64, credit int64, alcohol int, txn string) ttg.RemoteLoginRequest {
	return ttg.RemoteLoginRequest{ID: 77, CardID: "424242", Valid: 1, Name: "App guest", Credit: credit, AlcoholAllowed: alcohol,
		Type: 1, DeviceID: 1001, Line: line, VolumeLimit: volume, VolumeLimitSession: volume, TransactionID: txn}
}

func (r *rig) run(d time.Duration) {
	for end := r.clk.Mono() + d; r.clk.Mono() < end; {
		r.wall.Board.Advance(10 * time.Millisecond)
		r.agent.Tick()
	}
}

// 0.3 L in centilitres with three decimals: 30.000 cl.
const small = 30000

func TestRemoteLoginPourEndToEnd(t *testing.T) {
	r := newRig(t)
	res := r.call("remoteLogin", login(2, small, 1000, 1, "T-1"))
	if code(res) != 0 || res["requestedPortion"] != "Small 0.3 L" || res["moneyAmount"].(float64) != 390 ||
		res["productPLU"].(float64) != 102 || res["volumeUnit"] != "cl" || !strings.Contains(res["description"].(string), "Pils") {
		t.Fatalf("remoteLogin: %v", res)
	}
	// Until payment is confirmed nobody else gets the line.
	if c := code(r.call("remoteLogin", login(2, small, 1000, 1, "T-2"))); c != ttg.RLBusy {
		t.Fatalf("second login on a held line: %d", c)
	}
	if c := code(r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "999", TransactionID: "T-1", PaymentID: "P"})); c != ttg.RLBadCard {
		t.Fatalf("wrong card: %d", c)
	}
	if c := code(r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: "T-1", PaymentID: "P-1"})); c != 0 {
		t.Fatalf("purchase: %d", c)
	}
	r.wall.Board.Line(2).Pour([]sim.Point{{T: 0, MLs: 50}, {T: 15 * time.Second, MLs: 50}})
	r.run(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.up.Syncer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	txs := r.up.Server.Transactions()
	if len(txs) != 1 {
		t.Fatalf("%d transactions", len(txs))
	}
	tx := txs[0].Tx
	if tx.CardType != ttg.CardRemoteLogin || tx.CardID != 424242 || tx.ItemID != "102-03" || tx.Money != 390 || tx.ExternalID != "T-1" {
		t.Fatalf("transaction %+v", tx)
	}
	// A repeat is answered with the first result, and pours nothing.
	if res := r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: "T-1"}); code(res) != 0 || res["paymentId"] != "P-1" {
		t.Fatalf("purchase twice: %v", res)
	}
	if st := r.agent.Status()[1]; st.PourID != "" {
		t.Fatalf("a repeated purchase opened the line: %+v", st)
	}
	if c := code(r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "999", TransactionID: "T-1"})); c != ttg.RLBadCard {
		t.Fatalf("repeat with another card: %d", c)
	}
	if c := code(r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: "T-never"})); c != ttg.RLBadTransaction {
		t.Fatalf("purchase without a login: %d", c)
	}
}

// pourAndFlush pours on line 2 for d and delivers the records; it returns
// the transactions the emulator holds.
func (r *rig) pourAndFlush(d time.Duration) []ttgserver.StoredTx {
	r.t.Helper()
	r.wall.Board.Line(2).Pour([]sim.Point{{T: 0, MLs: 50}, {T: d, MLs: 50}})
	r.run(d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.up.Syncer.Flush(ctx); err != nil {
		r.t.Fatal(err)
	}
	return r.up.Server.Transactions()
}

// TestReplayedRemoteLoginPairPoursOnce: a caller that sends a finished
// remoteLogin + remoteLoginPurchase pair again (same transactionId) gets
// the first answers and no second pour: the line is neither held nor
// opened, before and after an agent restart.
func TestReplayedRemoteLoginPairPoursOnce(t *testing.T) {
	r := newRig(t)
	const txn = "T-replay"
	first := r.call("remoteLogin", login(2, small, 1000, 1, txn))
	paid := r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: txn, PaymentID: "P-1"})
	if code(first) != 0 || code(paid) != 0 {
		t.Fatalf("first pair: %v %v", first, paid)
	}
	txs := r.pourAndFlush(10 * time.Second)
	if len(txs) != 1 {
		t.Fatalf("%d transactions after the first pour", len(txs))
	}

	replay := func(stage string) {
		t.Helper()
		// The replayed login says what the first said, even with another credit.
		again := r.call("remoteLogin", login(2, small, -1, 1, txn))
		if code(again) != 0 || again["moneyAmount"] != first["moneyAmount"] || again["requestedPortion"] != first["requestedPortion"] {
			t.Fatalf("%s: replayed login %v, first %v", stage, again, first)
		}
		// It holds nothing: another transaction gets the line.
		other := fmt.Sprintf("T-other-%s", stage)
		if c := code(r.call("remoteLogin", login(2, small, 1000, 1, other))); c != 0 {
			t.Fatalf("%s: the replayed login held the line: %d", stage, c)
		}
		p := r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: txn, PaymentID: "P-2"})
		if code(p) != 0 || p["paymentId"] != "P-1" {
			t.Fatalf("%s: replayed purchase %v", stage, p)
		}
		if st := r.agent.Status()[1]; st.PourID != "" {
			t.Fatalf("%s: the replayed purchase opened the line: %+v", stage, st)
		}
		// Release the other login: a failed payment.
		r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: other, Error: 1})
	}
	replay("running")
	if txs := r.pourAndFlush(10 * time.Second); len(txs) != 1 {
		t.Fatalf("%d transactions: a replay poured", len(txs))
	}
	r.shutdown()
	r.boot()
	replay("restarted")
	// The emulator is new; the first pour's record may reach it again
	// (same pour, same start), a replayed pour would start later.
	for _, tx := range r.pourAndFlush(10 * time.Second) {
		if tx.StartEpoch != txs[0].StartEpoch {
			t.Fatalf("after the restart a replay poured: %+v", tx)
		}
	}
}

func TestRemoteLoginRefusals(t *testing.T) {
	r := newRig(t)
	cases := []struct {
		name string
		req  ttg.RemoteLoginRequest
		want int
	}{
		{"insufficient funds", login(2, small, 100, 1, "A"), ttg.RLFunds},
		{"alcohol not allowed", login(2, small, 1000, 0, "B"), ttg.RLAlcohol},
		{"portion not offered (server knows)", login(2, 12345, 1000, 1, "C"), ttg.RLPortionNotFound},
		{"line not on the server", login(9, small, 1000, 1, "D"), ttg.RLLineNotFound},
		{"servings limit", func() ttg.RemoteLoginRequest {
			q := login(2, small, 1000, 1, "K")
			q.VolumeConsumed = 190_000
			return q
		}(), ttg.RLServings},
		{"bad type", func() ttg.RemoteLoginRequest { q := login(2, small, 1000, 1, "E"); q.Type = 9; return q }(), ttg.RLBadType},
		{"session volume differs", func() ttg.RemoteLoginRequest { q := login(2, small, 1000, 1, "F"); q.VolumeLimitSession = 1; return q }(), ttg.RLInvalidJSON},
		{"unknown device", func() ttg.RemoteLoginRequest { q := login(2, small, 1000, 1, "G"); q.DeviceID = 5; return q }(), ttg.RLClientNotFound},
	}
	for _, c := range cases {
		if got := code(r.call("remoteLogin", c.req)); got != c.want {
			t.Errorf("%s: error %d, want %d", c.name, got, c.want)
		}
	}
	// The device's own checks, asked directly (the server filters these).
	direct := func(q ttg.RemoteLoginRequest) int {
		b, _ := json.Marshal(q)
		_, m := r.direct("remoteLogin", string(b), "Bearer "+ctlToken)
		return code(m)
	}
	if got := direct(login(9, small, 1000, 1, "L")); got != ttg.RLBadLine {
		t.Errorf("device, unknown line: %d", got)
	}
	if got := direct(login(2, 12345, 1000, 1, "M")); got != ttg.RLBadPortion {
		t.Errorf("device, unknown portion: %d", got)
	}
	// Keg too low: a nearly empty keg on line 2.
	if err := r.agent.AdjustKeg(device.Actor{Name: "test", Via: "cli"}, 2, flow.ML(200)); err != nil {
		t.Fatal(err)
	}
	if got := code(r.call("remoteLogin", login(2, small, 1000, 1, "H"))); got != ttg.RLKegLow {
		t.Errorf("keg too low: %d", got)
	}
	r.agent.ChangeKeg(device.Actor{Name: "test", Via: "cli"}, device.KegChange{Line: 2, Size: flow.ML(50000)})
	// Busy: someone is pouring on the line.
	if _, err := r.agent.Authorise(2, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err != nil {
		t.Fatal(err)
	}
	if got := code(r.call("remoteLogin", login(2, small, 1000, 1, "I"))); got != ttg.RLBusy {
		t.Errorf("busy line: %d", got)
	}
	// A payment that failed aborts the login.
	r.call("remoteLogin", login(1, small, 1000, 1, "J"))
	if got := code(r.call("remoteLoginPurchase", ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: "J", Error: 7})); got != ttg.RLPayment {
		t.Errorf("failed payment: %d", got)
	}
}

func TestStatusBacklightRestartAndFaults(t *testing.T) {
	r := newRig(t)
	st := r.call("getdevicestatus", ttg.DeviceRequest{ID: 77, DeviceID: 1001})
	if code(st) != 0 || st["mem_available"].(float64) <= 0 || st["uptime"].(float64) <= 0 || st["ttg_server_comm_state"].(float64) != 1 ||
		st["current_date_time"] != "2026-11-20 20:00:00" {
		t.Fatalf("status: %v", st)
	}
	// 3.34: a fingerprint of the token the device holds from this server,
	// never the token itself.
	held := r.up.Token()
	sum := sha256.Sum256([]byte(held))
	if tok, _ := st["ttg_server_auth_token"].(string); held == "" || tok != "sha256:"+hex.EncodeToString(sum[:8]) || strings.Contains(tok, held) {
		t.Fatalf("ttg_server_auth_token %q, device holds %q", tok, held)
	}
	if b := r.call("setBacklightBrightness", ttg.BacklightRequest{DeviceID: 1001, Brightness: 40}); code(b) != 0 || b["brightness"].(float64) != 40 {
		t.Fatalf("backlight: %v", b)
	}
	if b := r.call("setBacklightBrightness", ttg.BacklightRequest{DeviceID: 1001, Brightness: 140}); code(b) != ttg.RLInvalidJSON || b["brightness"].(float64) != 40 {
		t.Fatalf("backlight 140: %v", b)
	}
	r.run(restartEvery) // the first restart is allowed an interval after the start
	if res := r.call("restartClientApplication", ttg.DeviceRequest{DeviceID: 1001}); code(res) != 0 {
		t.Fatalf("restart: %v", res)
	}
	for deadline := time.Now().Add(5 * time.Second); r.restarts.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("restart never requested")
		}
	}
	// Malformed JSON, to the server and straight to the device.
	for _, call := range []string{"remoteLogin", "setBacklightBrightness"} {
		_, m := r.direct(call, `{"line": "two"`, "Bearer "+ctlToken)
		if code(m) != ttg.RLInvalidJSON || !strings.Contains(m["errorDescriptionAPI"].(string), "invalid JSON") {
			t.Errorf("%s malformed: %v", call, m)
		}
	}
	var raw json.RawMessage = []byte(`{"deviceID": "x"}`)
	if got := code(r.call("getdevicestatus", raw)); got != ttg.RLInvalidJSON {
		t.Errorf("server with malformed JSON: %d", got)
	}
	// The device goes away: the server says it cannot reach it.
	r.ctl.Close()
	if got := code(r.call("getdevicestatus", ttg.DeviceRequest{DeviceID: 1001})); got != ttg.RLClientTimeout {
		t.Errorf("unreachable device: %d", got)
	}
}

func FuzzClientControl(f *testing.F) {
	f.Add("remoteLogin", []byte(`{"cardId":"1","type":1,"deviceID":1001,"line":2,"volumeLimit":30000,"volumeLimitSession":30000,"transactionId":"t"}`))
	f.Add("remoteLoginPurchase", []byte(`{"cardId":"1","transactionId":"t","error":0}`))
	f.Add("setBacklightBrightness", []byte(`{"brightness":-5}`))
	f.Add("getdevicestatus", []byte(`null`))
	cfg, _ := config.Default()
	cfg.Device.DataDir = f.TempDir()
	clk := clock.NewManual(time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC))
	w, _ := simwall.NewWall(cfg, clk)
	store, err := storage.Open(filepath.Join(cfg.Device.DataDir, "db"), storage.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	a, err := device.New(device.Options{Config: cfg, Clock: clk, Store: store, Valves: w.Valves, Meters: w.Meters})
	if err != nil {
		f.Fatal(err)
	}
	a.Start()
	defer a.Close()
	h := clientcontrol.Handler(clientcontrol.Options{Agent: a, DeviceID: 1001})
	f.Fuzz(func(t *testing.T, call string, body []byte) {
		switch call {
		case "remoteLogin", "remoteLoginPurchase", "setBacklightBrightness", "getdevicestatus":
		default:
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", clientcontrol.BasePath+"/"+call, strings.NewReader(string(body))))
		var m map[string]any
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
			t.Fatalf("%s %q: %d %s", call, body, rec.Code, rec.Body)
		}
	})
}

// TestFirmwareNotification: without an updater the device says so (501);
// with one the notification is answered at once and handled behind it.
func TestFirmwareNotification(t *testing.T) {
	r := newRig(t)
	if status, _ := r.direct("firmwareupdate", `{"id": 77}`, "Bearer "+ctlToken); status != http.StatusNotImplemented {
		t.Fatalf("updates off: %d", status)
	}
	got := make(chan struct{}, 1)
	srv, err := clientcontrol.Serve("127.0.0.1:0", clientcontrol.Options{Agent: r.agent, DeviceID: 1001,
		FirmwareNotified: func() { got <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r.up.Server.RegisterClient(1001, srv.URL, "")
	if out := r.call("firmwareupdate", map[string]any{"id": 77}); out["uuid"] == nil {
		t.Fatalf("server answer: %v", out)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's notification never reached the device")
	}
}

// TestReplayAfterAFailedPurchase: a purchase whose pour could not start is
// a finished transaction too; its repeat gets the same refusal and opens
// nothing, even once the line could pour again.
func TestReplayAfterAFailedPurchase(t *testing.T) {
	r := newRig(t)
	const txn = "T-locked"
	if c := code(r.call("remoteLogin", login(2, small, 1000, 1, txn))); c != 0 {
		t.Fatalf("login: %d", c)
	}
	if err := r.agent.SetLocked(device.Actor{Name: "test", Via: "cli"}, 2, true); err != nil {
		t.Fatal(err)
	}
	pay := ttg.RemoteLoginPurchaseRequest{CardID: "424242", TransactionID: txn, PaymentID: "P-1"}
	first := r.call("remoteLoginPurchase", pay)
	if code(first) != ttg.RLWorkflow {
		t.Fatalf("purchase on a locked line: %v", first)
	}
	if err := r.agent.SetLocked(device.Actor{Name: "test", Via: "cli"}, 2, false); err != nil {
		t.Fatal(err)
	}
	if again := r.call("remoteLoginPurchase", pay); code(again) != ttg.RLWorkflow || first["errorDescriptionClient"] == nil || again["errorDescriptionClient"] != first["errorDescriptionClient"] {
		t.Fatalf("repeat: %v, first %v", again, first)
	}
	if c := code(r.call("remoteLogin", login(2, small, 1000, 1, txn))); c != 0 {
		t.Fatalf("repeated login: %d", c)
	}
	if again := r.call("remoteLoginPurchase", pay); code(again) != ttg.RLWorkflow {
		t.Fatalf("repeat after a repeated login: %v", again)
	}
	if st := r.agent.Status()[1]; st.PourID != "" {
		t.Fatalf("a repeat opened the line: %+v", st)
	}
}

// TestStatusTimeInTheServerZone: 3.34's current_date_time is a wall-clock
// time in ttg.time_zone, as every time the device sends, not the host's.
func TestStatusTimeInTheServerZone(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	at := time.Date(2026, 12, 1, 21, 44, 38, 0, time.UTC)
	for _, c := range []struct {
		zone *time.Location
		want string
	}{
		{kolkata, "2026-12-02 03:14:38"},
		{nil, "2026-12-01 21:44:38"},
	} {
		h := clientcontrol.Handler(clientcontrol.Options{DeviceID: 1001, Zone: c.zone, Now: func() time.Time { return at }})
		req := httptest.NewRequest("POST", clientcontrol.BasePath+"/getdevicestatus", strings.NewReader(`{"id":1,"deviceID":1001}`))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var st map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st["current_date_time"] != c.want {
			t.Errorf("zone %v: %s, want current_date_time %s", c.zone, rec.Body.Bytes(), c.want)
		}
	}
}
