package telemetronapi_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/telemetronapi"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/internal/testwait"
)

func TestAnotherMachineIsNotFound(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	for _, path := range []string{"", "/events", "/reports", "/reports/last", "/loading", "/state", "/timestamp",
		"/stats/vends/summary", "/stats/vends/products", "/stats/vends/payments", "/request/1"} {
		for _, id := range []string{"124", "T123", "0"} {
			e := wantError(t, call(t, "GET", r.url+"/v2/vending_machines/"+id+path, tk.AccessToken, nil), http.StatusNotFound, "")
			if e.Message != "Vending machine not found" {
				t.Fatalf("%s%s: %q", id, path, e.Message)
			}
		}
	}
	wantError(t, call(t, "POST", r.url+"/v2/vending_machines/124/request", tk.AccessToken, map[string]bool{"report": true}), http.StatusNotFound, "")
	if p := call(t, "GET", r.vm(""), tk.AccessToken, nil); p.status != http.StatusOK {
		t.Fatalf("own machine: %d %s", p.status, p.body)
	}
}

// Events: 7 days a call, 14 days back; reports 14 and 14; statistics 31
// days a call and two months back, the summary of all machines 7 days.
func TestWindowsAndDepths(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	now := r.clk.Now()
	span := func(path string, back, length time.Duration) string {
		since := now.Add(-back)
		return fmt.Sprintf("%s?since=%s&until=%s", path, ts(since), ts(since.Add(length)))
	}
	for _, tc := range []struct {
		name  string
		url   string
		field string // "" accepted
	}{
		{"events 7 days", span(r.vm("/events"), 7*24*time.Hour, 7*24*time.Hour), ""},
		{"events 8 days", span(r.vm("/events"), 8*24*time.Hour, 8*24*time.Hour), "since"},
		{"events 14 days back", span(r.vm("/events"), 14*24*time.Hour, time.Hour), ""},
		{"events 15 days back", span(r.vm("/events"), 15*24*time.Hour, time.Hour), "since"},
		{"events until before since", span(r.vm("/events"), time.Hour, -time.Minute), "until"},
		{"reports 14 days", span(r.vm("/reports"), 14*24*time.Hour, 14*24*time.Hour), ""},
		{"reports 15 days back", span(r.vm("/reports"), 15*24*time.Hour, 24*time.Hour), "since"},
		{"products 31 days", span(r.vm("/stats/vends/products"), 40*24*time.Hour, 31*24*time.Hour), ""},
		{"products 32 days", span(r.vm("/stats/vends/products"), 40*24*time.Hour, 32*24*time.Hour), "since"},
		{"payments 63 days back", span(r.vm("/stats/vends/payments"), 63*24*time.Hour, 24*time.Hour), "since"},
		{"summary of all 8 days", span(r.url+"/v2/stats/vends/summary", 8*24*time.Hour, 8*24*time.Hour), "since"},
		{"a time without an offset", r.vm("/events?since=2026-11-22T10:00:00"), "since"},
		{"the reference's second form", r.vm("/stats/vends/summary?since=2026-11-22 00:00:00+03&until=2026-11-22 21:00:00+03"), ""},
		{"an unescaped plus", r.vm("/events?since=2026-11-22T10:00:00+03:00"), ""},
		{"a bad flag", r.vm("/reports?cp1251=yes"), "cp1251"},
		{"a bad port", r.vm("/reports?port=3"), "port"},
		{"a bad type", r.vm("/stats/vends/products?type=gift"), "type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := call(t, "GET", strings.ReplaceAll(tc.url, " ", "%20"), tk.AccessToken, nil)
			if tc.field == "" {
				if p.status != http.StatusOK {
					t.Fatalf("%d %s", p.status, p.body)
				}
				return
			}
			wantError(t, p, http.StatusBadRequest, tc.field)
		})
	}
}

// cyrillic is an EVA-DTS report naming a product "Пиво" as the writer
// escapes it (^HH^ of the UTF-8 bytes).
const cyrillic = "DXS*TAP0000001*VA*V0/6*1\r\nST*001*0001\r\nPA1*1*650*^D0^^9F^^D0^^B8^^D0^^B2^^D0^^BE^\r\nSE*3*0001\r\nDXE*1*1\r\n"

// The report's data: as kept by default, Windows-1251 with cp1251,
// base64 of either; every form reads back to the same text.
func TestReportEncodingsDecodeToTheSameBytes(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	if err := r.audit.Keep(evadts.PortDEX, []byte(cyrillic)); err != nil {
		t.Fatal(err)
	}
	get := func(q string) (string, reply) {
		t.Helper()
		p := call(t, "GET", r.vm("/reports/last?port=2&"+q), tk.AccessToken, nil)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, p.status, p.body)
		}
		// The data string is read by hand: with cp1251 it is not UTF-8.
		i := bytes.Index(p.body, []byte(`"data":"`)) + len(`"data":"`)
		j := bytes.Index(p.body, []byte(`","evadts_port":2}`))
		if i < len(`"data":"`) || j < i {
			t.Fatalf("%s: %s", q, p.body)
		}
		s := strings.NewReplacer(`\r`, "\r", `\n`, "\n").Replace(string(p.body[i:j]))
		return s, p
	}
	plain, p := get("")
	if plain != cyrillic || p.header.Get("Content-Type") != "application/json" {
		t.Fatalf("default: %q (%s)", plain, p.header.Get("Content-Type"))
	}
	cp, p := get("cp1251=1")
	if p.header.Get("Content-Type") != "application/json; charset=windows-1251" || !strings.Contains(cp, "PA1*1*650*\xcf\xe8\xe2\xee\r\n") {
		t.Fatalf("cp1251: %q (%s)", cp, p.header.Get("Content-Type"))
	}
	if got := string(evadts.FromCP1251([]byte(cp))); got != evadts.Unescape(plain) {
		t.Fatalf("cp1251 reads as %q, the default as %q", got, evadts.Unescape(plain))
	}
	for q, want := range map[string]string{"base64=1": plain, "base64=1&cp1251=1": cp} {
		b64, _ := get(q)
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || string(raw) != want {
			t.Fatalf("%s: %q, %v", q, raw, err)
		}
	}
}

// last is the newest report, last_valid the newest that parses without
// a warning; a report is found by its id; the list is oldest first.
func TestLastValidAndByID(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	if _, err := r.audit.Read(evadts.IdentityFrom(r.cfg, "test"), false, "test"); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(time.Minute)
	if err := r.audit.Keep(evadts.PortOwn, []byte("DXS*broken\r\n")); err != nil {
		t.Fatal(err)
	}
	var last, valid struct {
		Date string `json:"date"`
		Data string `json:"data"`
		Port int    `json:"evadts_port"`
	}
	call(t, "GET", r.vm("/reports/last"), tk.AccessToken, nil).json(t, &last)
	call(t, "GET", r.vm("/reports/last_valid"), tk.AccessToken, nil).json(t, &valid)
	if last.Data != "DXS*broken\r\n" || !strings.HasPrefix(valid.Data, "DXS*") || valid.Data == last.Data || valid.Port != 1 {
		t.Fatalf("last %+v, last_valid %+v", last, valid)
	}
	if last.Date != "2026-11-22T21:01:00+03:00" || valid.Date != "2026-11-22T21:00:00+03:00" {
		t.Fatalf("dates %s, %s: the wall's offset", last.Date, valid.Date)
	}
	id := start.UnixMicro()*10 + 1
	var byID struct {
		Data string `json:"data"`
	}
	call(t, "GET", r.vm(fmt.Sprintf("/reports/%d", id)), tk.AccessToken, nil).json(t, &byID)
	if byID.Data != valid.Data {
		t.Fatal("report by id is not the first report")
	}
	wantError(t, call(t, "GET", r.vm(fmt.Sprintf("/reports/%d", id+1)), tk.AccessToken, nil), http.StatusNotFound, "")
	wantError(t, call(t, "GET", r.vm("/reports/last?port=2"), tk.AccessToken, nil), http.StatusNotFound, "")
	var list []struct {
		Date string `json:"date"`
	}
	call(t, "GET", r.vm("/reports"), tk.AccessToken, nil).json(t, &list)
	if len(list) != 2 || list[0].Date != valid.Date {
		t.Fatalf("list %+v", list)
	}
}

// gatedAudit holds a report request's read-out until the test opens the gate.
type gatedAudit struct {
	*evadts.Audit
	gate chan struct{}
}

func (g gatedAudit) Read(id evadts.Identity, full bool, terminal string) ([]byte, error) {
	<-g.gate
	return g.Audit.Read(id, full, terminal)
}

// A report and a config request merge into one request id; it reads 200
// {progress: true} until the agent has written a fresh report and its
// configuration snapshot, then 404; the snapshot keeps no secret.
func TestDataRequestIsFulfilled(t *testing.T) {
	gate := make(chan struct{})
	r := newRig(t, func(_ *config.Config, o *telemetronapi.Options) { o.Audit = gatedAudit{o.Audit.(*evadts.Audit), gate} })
	tk := login(t, r.url)
	wantError(t, call(t, "GET", r.vm("/reports/last"), tk.AccessToken, nil), http.StatusNotFound, "")
	wantError(t, call(t, "GET", r.vm("/config"), tk.AccessToken, nil), http.StatusNotFound, "")
	type answer struct {
		RequestID int64 `json:"request_id"`
		Progress  bool  `json:"progress"`
	}
	var a, b, c answer
	call(t, "POST", r.vm("/request"), tk.AccessToken, map[string]bool{"report": true}).json(t, &a)
	call(t, "POST", r.vm("/request?config=1"), tk.AccessToken, nil).json(t, &b)
	call(t, "POST", r.vm("/request"), tk.AccessToken, map[string]any{"report": "yes"}).json(t, &c)
	if a.RequestID == 0 || b.RequestID != a.RequestID || c.RequestID != a.RequestID || a.Progress || b.Progress || !c.Progress {
		t.Fatalf("requests %+v %+v %+v", a, b, c)
	}
	status := r.vm(fmt.Sprintf("/request/%d", a.RequestID))
	if p := call(t, "GET", status, tk.AccessToken, nil); p.status != http.StatusOK || strings.TrimSpace(string(p.body)) != `{"progress":true}` {
		t.Fatalf("open request: %d %s", p.status, p.body)
	}
	close(gate)
	testwait.Until(t, 10*time.Second, "the request fulfilled", func() bool {
		return call(t, "GET", status, tk.AccessToken, nil).status == http.StatusNotFound
	})
	if p := call(t, "GET", r.vm("/reports/last_valid?port=1"), tk.AccessToken, nil); p.status != http.StatusOK {
		t.Fatalf("no fresh report: %d %s", p.status, p.body)
	}
	p := call(t, "GET", r.vm("/config"), tk.AccessToken, nil)
	if p.status != http.StatusOK || !strings.Contains(string(p.body), `"id":"tool"`) || strings.Contains(string(p.body), clientSecret) {
		t.Fatalf("config snapshot: %d %.300s", p.status, p.body)
	}
	wantError(t, call(t, "POST", r.vm("/request"), tk.AccessToken, map[string]bool{"firmware": true}), http.StatusUnprocessableEntity, "firmware")
	wantError(t, call(t, "POST", r.vm("/request"), tk.AccessToken, map[string]bool{}), http.StatusBadRequest, "report")
}

// pour is a booked pour as the history keeps it.
func pour(at time.Time, line int, product string, amount int64, payment string) history.Entry {
	return history.Entry{Time: at, Kind: history.KindPour, Line: line, Product: product, PLU: 100 + line, ID: fmt.Sprintf("p%d", at.Unix()),
		Payment: payment, Mode: "portion", Reason: "portion", Volume: 3000, Amount: amount}
}

// Vend statistics come from the history, through the uplink's vend rows:
// paid, free and test vends, cash and token payments, the default range
// being today in the wall's zone. The summary and the payments count
// every vend row the uplink sends, free and test vends included, as
// Telemetron's cloud counts what it received.
func TestVendStatistics(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	now := r.clk.Now()
	yesterday := now.Add(-22 * time.Hour) // 23:00 the day before, in Moscow
	r.keep(pour(yesterday, 1, "Lager", 500, history.PayRegister),
		pour(now.Add(-2*time.Hour), 1, "Lager", 650, history.PayRegister),
		pour(now.Add(-time.Hour), 2, "Stout", 700, history.PayCard),
		pour(now.Add(-30*time.Minute), 2, "Stout", 0, history.PayFree),
		history.Entry{Time: now.Add(-10 * time.Minute), Kind: history.KindCleaning, Line: 1, Product: "Lager", Payment: history.PayNone, Mode: "cleaning", Volume: 5000},
		history.Entry{Time: now.Add(-5 * time.Minute), Kind: history.KindPour, Line: 1, Payment: history.PayFree, Mode: "free"}) // nothing poured: no vend
	var sum []struct{ Number, Value int64 }
	call(t, "GET", r.vm("/stats/vends/summary"), tk.AccessToken, nil).json(t, &sum)
	if len(sum) != 1 || sum[0].Number != 4 || sum[0].Value != 1350 {
		t.Fatalf("summary today %+v", sum)
	}
	call(t, "GET", r.vm("/stats/vends/summary?since="+ts(yesterday.Add(-time.Minute))), tk.AccessToken, nil).json(t, &sum)
	if sum[0].Number != 5 || sum[0].Value != 1850 {
		t.Fatalf("summary since yesterday %+v", sum)
	}
	type row struct {
		Time         string `json:"time"`
		LayoutNumber string `json:"layout_number"`
		Name         string `json:"name"`
		VendType     int    `json:"vend_type"`
		PaymentType  int    `json:"payment_type"`
		Price        int64  `json:"price"`
		Number       int64  `json:"number"`
		Value        int64  `json:"value"`
	}
	for _, tc := range []struct {
		query string
		want  []string // name/vend_type/payment_type/value
	}{
		{"/stats/vends/products", []string{"Lager/3/0/650", "Stout/3/0/700", "Stout/2/0/0", "Lager/1/0/0"}},
		{"/stats/vends/products?type=paid", []string{"Lager/3/0/650", "Stout/3/0/700"}},
		{"/stats/vends/products?type=test", []string{"Lager/1/0/0"}},
		{"/stats/vends/payments", []string{"Lager/0/1/650", "Stout/0/3/700", "Stout/0/1/0", "Lager/0/1/0"}},
		{"/stats/vends/payments?type=token", []string{"Stout/0/3/700"}},
		{"/stats/vends/payments?type=cashless", nil},
	} {
		var rows []row
		call(t, "GET", r.vm(tc.query), tk.AccessToken, nil).json(t, &rows)
		var got []string
		for _, x := range rows {
			got = append(got, fmt.Sprintf("%s/%d/%d/%d", x.Name, x.VendType, x.PaymentType, x.Value))
			if !strings.HasSuffix(x.Time, "+03:00") || x.Number != 1 || x.Price != x.Value {
				t.Fatalf("%s: row %+v", tc.query, x)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Fatalf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	var stamps map[string]*string
	call(t, "GET", r.vm("/timestamp"), tk.AccessToken, nil).json(t, &stamps)
	if s := stamps["last_sale"]; s == nil || *s != "2026-11-22T20:00:00+03:00" {
		t.Fatalf("last_sale %v", s)
	}
	if s := stamps["last_service"]; s == nil || *s != "2026-11-22T20:50:00+03:00" {
		t.Fatalf("last_service %v", s)
	}
	if stamps["last_collection"] != nil || stamps["last_report"] != nil {
		t.Fatalf("stamps %v", stamps)
	}
}

// Events: the durable log's, and before its oldest entry the history's
// alarms, with the EVA-DTS codes of the audit report.
func TestEventsFromTheLogAndTheHistory(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	now := r.clk.Now()
	r.keep(history.Entry{Time: now.Add(-3 * 24 * time.Hour), Kind: history.KindAlarm, Line: 2, Reason: "leak", Payment: history.PayNone, Detail: "flow with the valve closed"})
	r.log(device.Event{Time: now.Add(-time.Hour), Type: device.EventKegLow, Line: 1},
		device.Event{Time: now.Add(-time.Minute), Type: device.EventAlarm, Line: 3, Alarm: &flow.Alarm{Kind: "no_flow", Active: true}},
		device.Event{Time: now.Add(-time.Second), Type: device.EventPourStarted, Line: 3})
	var evs []struct {
		Date    string `json:"date"`
		Code    string `json:"code"`
		Payload []map[string]any
	}
	call(t, "GET", r.vm("/events?since="+ts(now.Add(-4*24*time.Hour))+"&until="+ts(now)), tk.AccessToken, nil).json(t, &evs)
	var codes []string
	for _, e := range evs {
		codes = append(codes, e.Code)
		if len(e.Payload) != 1 {
			t.Fatalf("payload %+v", e)
		}
	}
	// OCF is the agent's own start, logged by the wall core.
	if got := strings.Join(codes, " "); got != "EHM_2 OCF ELE_1 ELA_3" && got != "EHM_2 ELE_1 ELA_3" {
		t.Fatalf("codes %s", got)
	}
	call(t, "GET", r.vm("/events"), tk.AccessToken, nil).json(t, &evs)
	for _, e := range evs {
		if e.Code == "EHM_2" {
			t.Fatal("the default range is the last day")
		}
	}
}

func TestStateAndLoading(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	var st struct {
		State   int             `json:"state"`
		Service map[string]bool `json:"service"`
	}
	call(t, "GET", r.vm("/state"), tk.AccessToken, nil).json(t, &st)
	if st.State != 1 {
		t.Fatalf("state %+v", st)
	}
	var levels []struct {
		ComponentID int64 `json:"component_id"`
		Value       int64 `json:"value"`
	}
	call(t, "GET", r.vm("/loading"), tk.AccessToken, nil).json(t, &levels)
	if len(levels) != len(r.agent.Kegs()) || levels[0].ComponentID != 1 {
		t.Fatalf("levels %+v", levels)
	}
	for i, k := range r.agent.Kegs() {
		if levels[i].Value != int64(k.Keg.Remaining+5)/10 {
			t.Fatalf("line %d: %d mL, keg %v", k.Line, levels[i].Value, k.Keg.Remaining)
		}
	}
	for _, k := range r.agent.Kegs() {
		if err := r.agent.SetLocked(device.Actor{Name: "t", Via: "test"}, k.Line, true); err != nil {
			t.Fatal(err)
		}
	}
	call(t, "GET", r.vm("/state"), tk.AccessToken, nil).json(t, &st)
	if st.State != 2 {
		t.Fatalf("every line locked: %+v", st)
	}
}

// Report requests in a loop take one read-out per 30 s: a report that
// recent fulfils the next request.
func TestReportRequestsAreBounded(t *testing.T) {
	r := newRig(t)
	tk := login(t, r.url)
	ask := func() {
		t.Helper()
		var a struct {
			RequestID int64 `json:"request_id"`
		}
		call(t, "POST", r.vm("/request"), tk.AccessToken, map[string]bool{"report": true}).json(t, &a)
		testwait.Until(t, 10*time.Second, "the request fulfilled", func() bool {
			return call(t, "GET", r.vm(fmt.Sprintf("/request/%d", a.RequestID)), tk.AccessToken, nil).status == http.StatusNotFound
		})
	}
	kept := func() int {
		ks, _, err := r.audit.Reports(time.Time{}, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(ks)
	}
	ask()
	r.clk.Advance(10 * time.Second)
	ask()
	if n := kept(); n != 1 {
		t.Fatalf("%d reports kept after two requests 10 s apart", n)
	}
	r.clk.Advance(30 * time.Second)
	ask()
	if n := kept(); n != 2 {
		t.Fatalf("%d reports kept after a request 40 s later", n)
	}
}
