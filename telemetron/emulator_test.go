package telemetron_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/delivery"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim/cloudemu"
	tmemu "github.com/tapagent/tapagent/sim/telemetron"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/telemetron"
)

const machineID = 123

// Secrets the rig logs in with; no log line may carry them.
const (
	user, password = "tapagent@example.com", "tapagent"
	clientID       = "tapagent"
	clientSecret   = "tapagent-secret"
)

// fakeNow is a clock the test moves.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeNow) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuf keeps everything the client and sink log, to prove no secret is
// among it.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// grants counts the token endpoint's calls by grant type, in front of the
// emulator on its own loopback listener.
type grants struct {
	mu sync.Mutex
	n  map[string]int
}

func (g *grants) count(kind string) int { g.mu.Lock(); defer g.mu.Unlock(); return g.n[kind] }

type rig struct {
	emu    *tmemu.Server
	url    string
	store  *storage.Store
	view   *storage.SinkView
	sink   *telemetron.Sink
	pump   *delivery.Pump
	client *telemetron.Client
	clk    *fakeNow
	audit  *evadts.Audit
	cfg    *config.Config
	log    *logBuf
	grants *grants
	n      int
}

var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err)
	}
	return loc
}()

type rigOptions struct {
	emu      tmemu.Options
	encoding string
	// locked are the line locks the store kept from an earlier run.
	locked map[int]bool
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	clk := &fakeNow{t: time.Now().Truncate(time.Second)}
	o.emu.Now = clk.Now
	emu, err := tmemu.New(o.emu)
	if err != nil {
		t.Fatal(err)
	}
	g := &grants{n: map[string]int{}}
	base, stop, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	front := countGrants(t, g, base)
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Telemetron.URL, cfg.Telemetron.AuthURL, cfg.Telemetron.Password = front+"/v2", front+"/auth/", password
	cfg.TTG.Password = "ttg-secret-pw"
	st, err := storage.Open(filepath.Join(t.TempDir(), "tapagent.db"), storage.Options{Sinks: []string{storage.DefaultSink, telemetron.SinkName},
		Stamp: storage.Stamp{Zone: amsterdam, ZoneName: "Europe/Amsterdam", Currency: "EUR", Decimals: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	view, err := st.Sink(telemetron.SinkName)
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := telemetron.NewClient(telemetron.Config{BaseURL: front + "/v2", AuthURL: front + "/auth/", ClientID: clientID, ClientSecret: clientSecret,
		Username: user, Password: password, Timeout: 2 * time.Second, Now: clk.Now, Log: log})
	audit := evadts.NewAudit(st, clk.Now)
	id := evadts.IdentityFrom(cfg, "test")
	sink := telemetron.NewSink(c, telemetron.SinkOptions{MachineID: machineID, Machine: telemetron.Machine{Zone: amsterdam},
		Lines: []int{1, 2}, Kegs: st.Kegs, Report: func() ([]byte, error) { return audit.Read(id, false, "telemetron") },
		Snapshot: func() (map[string]any, error) { return telemetron.Snapshot(cfg) }, Memory: st, Encoding: o.encoding,
		Locked: func() (map[int]bool, error) { return o.locked, nil }, Now: clk.Now, Log: log})
	pump := delivery.NewPump(sink, view, delivery.Options{Batch: 100, Now: clk.Now, Log: log})
	r := &rig{emu: emu, url: front, store: st, view: view, sink: sink, pump: pump, client: c, clk: clk, audit: audit, cfg: cfg, log: lb, grants: g}
	t.Cleanup(func() { r.noSecretsLogged(t) })
	return r
}

// countGrants serves a reverse proxy to the emulator on loopback that
// counts the token endpoint's grants.
func countGrants(t testing.TB, g *grants, base string) string {
	target, _ := url.Parse(base)
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/auth") {
			raw, _ := io.ReadAll(req.Body)
			var p struct {
				GrantType string `json:"grant_type"`
			}
			_ = json.Unmarshal(raw, &p)
			g.mu.Lock()
			g.n[p.GrantType]++
			g.mu.Unlock()
			req.Body = io.NopCloser(bytes.NewReader(raw))
		}
		out, _ := http.NewRequestWithContext(req.Context(), req.Method, target.String()+req.URL.RequestURI(), req.Body)
		out.Header = req.Header.Clone()
		res, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			cloudemu.HangUp(w) // pass a dropped connection on as one
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	})
	u, stop, err := cloudemu.Start("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return u
}

func (r *rig) noSecretsLogged(t testing.TB) {
	logged := r.log.String()
	for _, s := range []string{password, clientSecret, "access_token", "refresh_token", "ttg-secret-pw"} {
		if strings.Contains(logged, s) {
			t.Errorf("the log carries %q:\n%s", s, logged)
		}
	}
}

// sale books one sale on line 1 ending now, paid as ref says.
func (r *rig) sale(t testing.TB, amount int64, ref storage.Ref) {
	t.Helper()
	r.n++
	now := r.clk.Now()
	rec := storage.Record{ID: fmt.Sprintf("9-%d", r.n), Kind: storage.KindPour, Line: 1, PLU: 101, Product: "Пиво светлое",
		StartedAt: now.Add(-5 * time.Second).UnixMilli(), EndedAt: now.UnixMilli(), ClockSynced: true, Ref: ref,
		Pour: flow.Result{Auth: flow.Auth{Mode: flow.ModeFree, Price: flow.Price{Minor: 650, PerVol: 5000}}, Volume: 3000, Charged: 3000, Amount: amount}}
	r.book(t, rec)
}

func (r *rig) book(t testing.TB, rec storage.Record) {
	t.Helper()
	if _, err := r.store.Book(storage.Booking{Record: rec, Also: r.audit.Settle(rec)}); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) event(t testing.TB, ev device.Event) {
	t.Helper()
	if ev.Time.IsZero() {
		ev.Time = r.clk.Now()
	}
	b, _ := json.Marshal(ev)
	done := make(chan error, 1)
	r.store.AppendEvent(b, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func (r *rig) flush(t testing.TB) {
	t.Helper()
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// get reads an operator resource of the machine as Telemetron's tools do.
func (r *rig) get(t testing.TB, path string, q url.Values, out any) int {
	t.Helper()
	status, raw, err := r.client.Call(context.Background(), http.MethodGet, fmt.Sprintf("/vending_machines/%d%s", machineID, path), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && status == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("GET %s: %s: %v", path, raw, err)
		}
	}
	return status
}

func (r *rig) post(t testing.TB, path string, body, out any) int {
	t.Helper()
	status, raw, err := r.client.Call(context.Background(), http.MethodPost, fmt.Sprintf("/vending_machines/%d%s", machineID, path), nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("POST %s: %s: %v", path, raw, err)
		}
	}
	return status
}

// today is a since/until window around the rig's clock.
func (r *rig) today(extra url.Values) url.Values {
	q := url.Values{"since": {r.clk.Now().Add(-12 * time.Hour).Format(time.RFC3339)}, "until": {r.clk.Now().Add(time.Hour).Format(time.RFC3339)}}
	for k, v := range extra {
		q[k] = v
	}
	return q
}

type row struct {
	Time         string `json:"time"`
	LayoutNumber string `json:"layout_number"`
	Name         string `json:"name"`
	VendType     int    `json:"vend_type"`
	PaymentType  int    `json:"payment_type"`
	Price        int64  `json:"price"`
	Value        int64  `json:"value"`
}

// TestSalesRowsPerPaymentType: a DESFire card, the MDB terminal, a waiter,
// a staff card and a cleaning reach Telemetron's vend statistics as token,
// cashless, cash, free and test rows, with the wall's offset.
func TestSalesRowsPerPaymentType(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.sale(t, 390, storage.Ref{CardType: "1", CardID: "77"})
	r.sale(t, 300, storage.Ref{Vend: "mdb-1", CardType: "61"})
	r.sale(t, 450, storage.Ref{Reservation: "r-1", Waiter: "3"})
	r.sale(t, 0, storage.Ref{CardType: "4"})
	now := r.clk.Now()
	r.book(t, storage.Record{ID: "9-c", Kind: storage.KindCleaning, Line: 2, Product: "Water", StartedAt: now.UnixMilli(), EndedAt: now.UnixMilli(),
		Pour: flow.Result{Auth: flow.Auth{Mode: flow.ModeCleaning}, Volume: 20000}})
	r.book(t, storage.Record{ID: "9-t", Kind: storage.KindCardPurchase, StartedAt: now.UnixMilli(), EndedAt: now.UnixMilli(),
		Ref: storage.Ref{PurchaseType: "1", Amount: "2000"}})
	r.flush(t)
	if st, _ := r.view.Status(); st.Depth != 0 || st.Dead != 0 {
		t.Fatalf("outbox status %+v", st)
	}
	for _, tc := range []struct {
		query, typ string
		want       []int64 // values
	}{
		{"payments", "token", []int64{390, 0}}, {"payments", "cashless", []int64{300}}, {"payments", "cash", []int64{450, 0}},
		{"products", "paid", []int64{390, 300, 450}}, {"products", "free", []int64{0}}, {"products", "test", []int64{0}},
	} {
		var rows []row
		if code := r.get(t, "/stats/vends/"+tc.query, r.today(url.Values{"type": {tc.typ}}), &rows); code != 200 {
			t.Fatalf("%s %s: %d", tc.query, tc.typ, code)
		}
		var got []int64
		for _, x := range rows {
			got = append(got, x.Value)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s type=%s: values %v, want %v (%+v)", tc.query, tc.typ, got, tc.want, rows)
		}
	}
	var rows []row
	r.get(t, "/stats/vends/products", r.today(url.Values{"type": {"paid"}}), &rows)
	if len(rows) == 0 || rows[0].Name != "Пиво светлое" || rows[0].LayoutNumber != "1" {
		t.Errorf("rows %+v", rows)
	}
	var sum []struct{ Number, Value int64 }
	r.get(t, "/stats/vends/summary", r.today(nil), &sum)
	if len(sum) != 1 || sum[0].Number != 5 || sum[0].Value != 1140 {
		t.Errorf("summary %+v, want 5 vends worth 1140", sum)
	}
}

// TestRefusedRowIsADeadLetter: a row Telemetron refuses (a price over its
// bound) is this sink's dead letter; the rows beside it are delivered.
func TestRefusedRowIsADeadLetter(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.sale(t, 390, storage.Ref{})
	r.sale(t, 2_000_000_000_000, storage.Ref{})
	r.sale(t, 410, storage.Ref{})
	r.flush(t)
	dl, err := r.view.DeadLetters()
	if err != nil || len(dl) != 1 || !strings.Contains(dl[0].Reason, "422") || !strings.Contains(dl[0].Reason, "price") {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
	if got := r.emu.Received(machineID).Sales; got != 2 {
		t.Fatalf("%d rows arrived, want 2", got)
	}
}

// TestRetriedThroughFaults: a 5xx, a dropped connection, a malformed 2xx
// and expired tokens leave the records in place; each is delivered once
// when Telemetron answers again.
func TestRetriedThroughFaults(t *testing.T) {
	for _, f := range []cloudemu.Faults{{Fail500: 1}, {Drop: 1}, {Malformed: 1}, {ExpireTokens: true}} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			r := newRig(t, rigOptions{})
			r.sale(t, 390, storage.Ref{})
			r.flush(t) // logged in
			r.sale(t, 410, storage.Ref{})
			r.emu.SetFaults(f)
			_, err := r.pump.Once(context.Background())
			if f.ExpireTokens {
				if err != nil {
					t.Fatalf("a 401 did not log in again: %v", err)
				}
				if r.grants.count("password")+r.grants.count("refresh_token") != 2 { // a fresh token after the 401
					t.Fatalf("grants: %v", r.grants.n)
				}
			} else if err == nil {
				t.Fatal("the fault counted as delivered")
			}
			r.flush(t)
			if got := r.emu.Received(machineID).Sales; got != 2 {
				t.Fatalf("%d rows arrived, want 2", got)
			}
		})
	}
}

// TestTokenRefreshedBeforeExpiry: the access token is renewed with the
// refresh_token grant at 80 % of expires_in, not by a new password grant.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	r := newRig(t, rigOptions{emu: tmemu.Options{TokenTTL: 100 * time.Second}})
	r.sale(t, 390, storage.Ref{})
	r.flush(t)
	r.clk.Add(79 * time.Second)
	r.sale(t, 390, storage.Ref{})
	r.flush(t)
	if r.grants.count("password") != 1 || r.grants.count("refresh_token") != 0 {
		t.Fatalf("before 80 %%: %v", r.grants.n)
	}
	r.clk.Add(2 * time.Second)
	r.sale(t, 390, storage.Ref{})
	r.flush(t)
	if r.grants.count("password") != 1 || r.grants.count("refresh_token") != 1 {
		t.Fatalf("after 80 %%: %v", r.grants.n)
	}
	if got := r.emu.Received(machineID).Sales; got != 3 {
		t.Fatalf("%d rows", got)
	}
}

// TestEventCodes: the agent's alarms reach Telemetron as EVA-DTS style
// events with the report's identifiers; events it has no use for are
// passed over.
func TestEventCodes(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.event(t, device.Event{Type: device.EventAgentStarted})
	r.event(t, device.Event{Type: device.EventAlarm, Line: 2, Alarm: &flow.Alarm{Kind: "leak", Active: true}})
	r.event(t, device.Event{Type: device.EventPourBooked, Line: 1, PourID: "9-1"})
	r.event(t, device.Event{Type: device.EventAlarm, Line: 1, Alarm: &flow.Alarm{Kind: "lost_edges", Active: true, Count: 12}})
	r.event(t, device.Event{Type: device.EventKegLow, Line: 1})
	r.event(t, device.Event{Type: device.EventAlarmCleared, Line: 2, Alarm: &flow.Alarm{Kind: "leak"}})
	r.flush(t)
	var evs []struct {
		Date    string               `json:"date"`
		Code    string               `json:"code"`
		Payload []telemetron.Payload `json:"payload"`
	}
	r.get(t, "/events", r.today(nil), &evs)
	var codes []string
	for _, e := range evs {
		codes = append(codes, e.Code)
	}
	if got := strings.Join(codes, " "); got != "OCF EHM_2 ETA_EDGES_1 ELE_1 EHM_2" {
		t.Fatalf("codes %s", got)
	}
	if p := evs[4].Payload; len(p) != 1 || p[0].Active || p[0].Type != "alarm_cleared" || p[0].Seq != 6 {
		t.Errorf("cleared leak payload %+v", p)
	}
	// Delivered events are not offered again.
	r.flush(t)
	if got := r.emu.Received(machineID).Events; got != 5 {
		t.Fatalf("%d events", got)
	}
}

// TestStateNeedLoading: the state follows the kegs: a keg under its par
// level sets need_loading, a new keg clears it, every line dry puts the
// machine out of service, and a day without sales sets no_recent_sales.
// TestLocksKeptAcrossARestart: lines an operator locked before a restart
// are locked in the first state sent after it, though their line_locked
// events were taken by the sink in the earlier run.
func TestLocksKeptAcrossARestart(t *testing.T) {
	r := newRig(t, rigOptions{locked: map[int]bool{1: true, 2: true}})
	for line := 1; line <= 2; line++ {
		if err := r.store.PutKeg(line, flow.Keg{Size: 500000, Remaining: 400000, LowPercent: 15}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.sink.Tend(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if m, _ := r.emu.Machine(machineID); m.State != telemetron.StateOutOfService {
		t.Fatalf("state %d with every line locked, want %d (out of service)", m.State, telemetron.StateOutOfService)
	}
}

func TestStateNeedLoading(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	put := func(line int, remaining flow.Vol) {
		k := flow.Keg{Size: 500000, Remaining: remaining, LowPercent: 15, Empty: remaining <= 0}
		if err := r.store.PutKeg(line, k); err != nil {
			t.Fatal(err)
		}
	}
	want := func(state int, service map[string]bool) {
		t.Helper()
		if err := r.sink.Tend(ctx, false); err != nil {
			t.Fatal(err)
		}
		m, _ := r.emu.Machine(machineID)
		if m.State != state || fmt.Sprint(m.Service) != fmt.Sprint(service) {
			t.Fatalf("state %d %v, want %d %v", m.State, m.Service, state, service)
		}
	}
	put(1, 400000)
	put(2, 400000)
	want(1, nil)
	// Unchanged, the state is sent again after state_interval: an
	// operator's edit is overwritten within the hour.
	r.post(t, "/state", map[string]any{"state": 0, "service": map[string]bool{}}, nil)
	r.clk.Add(59 * time.Minute)
	want(0, nil)
	r.clk.Add(time.Minute)
	want(1, nil)
	put(2, 50000) // 10 % < 15 %
	want(1, map[string]bool{"need_loading": true})
	put(2, 500000)
	want(1, nil)
	put(1, 0)
	put(2, 0)
	want(2, map[string]bool{"need_loading": true})
	put(1, 500000)
	put(2, 500000)
	r.sale(t, 390, storage.Ref{})
	r.flush(t)
	want(1, nil)
	// Both lines locked (the event log says so): out of service.
	r.event(t, device.Event{Type: device.EventLineLocked, Line: 1})
	r.event(t, device.Event{Type: device.EventLineLocked, Line: 2})
	r.flush(t)
	want(2, nil)
	r.event(t, device.Event{Type: device.EventLineUnlocked, Line: 2})
	r.flush(t)
	r.clk.Add(25 * time.Hour)
	want(1, map[string]bool{"no_recent_sales": true})
}

// TestLoginAgainWhenRefreshRefused: a refresh token Telemetron no longer
// honours (a month on) falls back to the password grant.
func TestLoginAgainWhenRefreshRefused(t *testing.T) {
	r := newRig(t, rigOptions{emu: tmemu.Options{TokenTTL: 100 * time.Second}})
	r.sale(t, 390, storage.Ref{})
	r.flush(t)
	r.clk.Add(31 * 24 * time.Hour)
	r.sale(t, 390, storage.Ref{})
	r.flush(t)
	if r.grants.count("password") != 2 || r.grants.count("refresh_token") != 1 {
		t.Fatalf("grants %v, want a refused refresh and a second password grant", r.grants.n)
	}
	if got := r.emu.Received(machineID).Sales; got != 2 {
		t.Fatalf("%d rows", got)
	}
}

// TestInventoryDuplicateOnResend: a keg change is a refill and an
// inventory at the device time of the change; a lost reply makes the
// agent resend, Telemetron answers L102 Duplicate, and the levels are
// booked once.
func TestInventoryDuplicateOnResend(t *testing.T) {
	r := newRig(t, rigOptions{})
	keg := flow.Keg{ID: "K-7", Size: 500000, Remaining: 500000, LowPercent: 15}
	r.event(t, device.Event{Type: device.EventKegChanged, Line: 1, Keg: &keg})
	other := keg
	other.ID, other.Remaining = "K-8", 300000
	r.event(t, device.Event{Type: device.EventKegChanged, Line: 2, Keg: &other}) // the same second: one document
	r.emu.SetFaults(cloudemu.Faults{LoseReply: 1})
	if _, err := r.pump.Once(context.Background()); err == nil {
		t.Fatal("a lost reply counted as delivered")
	}
	r.flush(t)
	r.clk.Add(time.Minute)
	adj := keg
	adj.Remaining = 420000
	r.event(t, device.Event{Type: device.EventKegAdjusted, Line: 1, Keg: &adj})
	r.emu.SetFaults(cloudemu.Faults{LoseReply: 1})
	if _, err := r.pump.Once(context.Background()); err == nil {
		t.Fatal("a lost reply counted as delivered")
	}
	r.flush(t)
	got := r.emu.Received(machineID)
	if got.Refills != 1 || got.Inventories != 2 {
		t.Fatalf("received %+v, want one refill and two inventories", got)
	}
	var levels []telemetron.Level
	r.get(t, "/loading", nil, &levels)
	if fmt.Sprint(levels) != fmt.Sprint([]telemetron.Level{{ComponentID: 1, Value: 42000}, {ComponentID: 2, Value: 30000}}) {
		t.Errorf("levels %+v", levels)
	}
}

// TestReportEncodings: the EVA-DTS report reaches Telemetron in each of
// the three encodings as the same Windows-1251 file, which its last_valid
// accepts (DXS…DXE, CRLF, SE counts); a data request for it is then
// fulfilled.
func TestReportEncodings(t *testing.T) {
	for _, enc := range []string{config.ReportText, config.ReportBase64, config.ReportCP1251Base64} {
		t.Run(enc, func(t *testing.T) {
			r := newRig(t, rigOptions{encoding: enc})
			r.sale(t, 390, storage.Ref{CardType: "1"})
			r.flush(t)
			var req struct {
				ID int64 `json:"request_id"`
			}
			if code := r.post(t, "/request", map[string]bool{"report": true}, &req); code != 200 || req.ID == 0 {
				t.Fatalf("request: %d %+v", code, req)
			}
			if err := r.sink.Tend(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			if code := r.get(t, fmt.Sprintf("/request/%d", req.ID), nil, nil); code != 404 {
				t.Fatalf("request after the report: %d, want 404 (fulfilled)", code)
			}
			var rep struct {
				Data string `json:"data"`
				Port int    `json:"evadts_port"`
			}
			if code := r.get(t, "/reports/last_valid", nil, &rep); code != 200 {
				t.Fatalf("last_valid: %d", code)
			}
			if !strings.HasPrefix(rep.Data, "DXS*") || !strings.Contains(rep.Data, "Пиво") || !strings.Contains(rep.Data, "\r\n") || rep.Port != 1 {
				t.Fatalf("report %q", rep.Data)
			}
			reps := r.emu.Reports(machineID)
			if len(reps) != 1 || bytes.Contains(reps[0].Data, []byte("^D0^")) {
				t.Fatalf("stored %d reports: %+v", len(reps), reps)
			}
		})
	}
}

// TestDataRequestsMerged: a request for the report, then one for the
// configuration while it is open, is one request with both flags; the
// agent fulfils both at its next contact (a delivery pass) and the request
// reads 404; the snapshot carries no secret.
func TestDataRequestsMerged(t *testing.T) {
	r := newRig(t, rigOptions{})
	var first, second struct {
		ID       int64 `json:"request_id"`
		Progress bool  `json:"progress"`
	}
	r.post(t, "/request", map[string]bool{"report": true}, &first)
	r.post(t, "/request", map[string]bool{"config": true}, &second)
	if first.ID == 0 || second.ID != first.ID || second.Progress {
		t.Fatalf("requests %+v %+v", first, second)
	}
	if code := r.get(t, fmt.Sprintf("/request/%d", first.ID), nil, nil); code != 200 {
		t.Fatalf("open request: %d", code)
	}
	r.sale(t, 390, storage.Ref{})
	r.flush(t) // the delivery pass polls the request
	if code := r.get(t, fmt.Sprintf("/request/%d", first.ID), nil, nil); code != 404 {
		t.Fatalf("request after the pass: %d, want 404", code)
	}
	got := r.emu.Received(machineID)
	if got.Reports != 1 || !got.Config {
		t.Fatalf("received %+v", got)
	}
	var snap map[string]any
	r.get(t, "/config", nil, &snap)
	raw, _ := json.Marshal(snap)
	for _, s := range []string{"password", "ttg-secret-pw", "client_secret", "picc_key", "token\""} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the snapshot carries %q: %s", s, raw)
		}
	}
	if ttg, _ := snap["ttg"].(map[string]any); ttg["username"] != "tapagent" || len(snap["line"].([]any)) != len(r.cfg.Lines) {
		t.Errorf("snapshot %s", raw)
	}
	// Nothing open: the next poll sends nothing.
	if err := r.sink.Tend(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Received(machineID); got.Reports != 1 {
		t.Fatalf("received %+v", got)
	}
}

// TestReportEachAuditPeriod: a report goes out once report_interval has
// passed, and the time is kept across a restart.
func TestReportEachAuditPeriod(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	if err := r.sink.Tend(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Received(machineID).Reports; got != 0 {
		t.Fatalf("%d reports before the period", got)
	}
	r.clk.Add(24 * time.Hour)
	if err := r.sink.Tend(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Received(machineID).Reports; got != 1 {
		t.Fatalf("%d reports after the period", got)
	}
	// Lost replies (the request poll's and the report's): the same
	// read-out is posted again and stored once.
	r.clk.Add(24 * time.Hour)
	r.emu.SetFaults(cloudemu.Faults{LoseReply: 2})
	if err := r.sink.Tend(ctx, false); err == nil {
		t.Fatal("a lost reply counted as delivered")
	}
	r.clk.Add(time.Second)
	if err := r.sink.Tend(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Received(machineID).Reports; got != 2 {
		t.Fatalf("%d reports after a lost reply, want 2", got)
	}
	r.clk.Add(time.Hour)
	again := telemetron.NewSink(r.client, telemetron.SinkOptions{MachineID: machineID, Memory: r.store, Now: r.clk.Now,
		Report: func() ([]byte, error) { return r.audit.Read(evadts.IdentityFrom(r.cfg, "t"), false, "t") }})
	if err := again.Tend(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := r.emu.Received(machineID).Reports; got != 2 {
		t.Fatalf("a restart sent a report early: %d", got)
	}
}

// TestNeverResendsWhatWasAcknowledged: against an emulator that stores
// every duplicate, repeated passes and new records leave exactly one copy
// of each sale, event and report.
func TestNeverResendsWhatWasAcknowledged(t *testing.T) {
	r := newRig(t, rigOptions{emu: tmemu.Options{StoreDuplicates: true}})
	for i := range 5 {
		r.sale(t, int64(100+i), storage.Ref{})
		r.event(t, device.Event{Type: device.EventAlarm, Line: 1, Alarm: &flow.Alarm{Kind: "no_flow", Active: true}})
		r.flush(t)
		r.flush(t)
		if err := r.sink.Tend(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		r.clk.Add(time.Minute)
	}
	r.post(t, "/request", map[string]bool{"report": true}, nil)
	for range 3 {
		if err := r.sink.Tend(context.Background(), true); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.emu.Received(machineID); got.Sales != 5 || got.Events != 5 || got.Reports != 1 {
		t.Fatalf("received %+v, want 5 sales, 5 events, 1 report", got)
	}
}

// TestRefusedGrant: a wrong password is refused in either of the forms
// Telemetron may answer (the reference's 400 without content, or with
// {message}); the records stay and the error names neither secret.
func TestRefusedGrant(t *testing.T) {
	for _, body := range []bool{false, true} {
		t.Run(fmt.Sprintf("error body %v", body), func(t *testing.T) {
			r := newRig(t, rigOptions{emu: tmemu.Options{AuthErrorBody: body}})
			c := telemetron.NewClient(telemetron.Config{BaseURL: r.url + "/v2", AuthURL: r.url + "/auth/", ClientID: clientID,
				ClientSecret: clientSecret, Username: user, Password: "wrong-password"})
			_, _, err := c.Call(context.Background(), http.MethodGet, "/vending_machines/123/request", nil, nil)
			if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
				t.Fatalf("err %v", err)
			}
			if body && !strings.Contains(err.Error(), "wrong username or password") {
				t.Errorf("the emulator's message is lost: %v", err)
			}
			for _, s := range []string{"wrong-password", clientSecret} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error carries %q: %v", s, err)
				}
			}
		})
	}
}
