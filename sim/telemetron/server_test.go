package telemetron

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/sim/cloudemu"
)

type client struct {
	t   *testing.T
	s   *Server
	url string
	tok tokenReply

	clk *clock.Manual
}

const vm = "/v2/vending_machines/123"

func start(t *testing.T, o Options) *client {
	t.Helper()
	c := &client{t: t, clk: clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))}
	o.Now = c.clk.Now
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	c.s, c.url = s, url
	c.login()
	return c
}

func (c *client) login() {
	c.t.Helper()
	body := `{"grant_type":"password","client_id":"tapagent","client_secret":"tapagent-secret","scope":"teleport","username":"tapagent@example.com","password":"tapagent"}`
	code, raw := c.send("POST", "/auth/", "application/json", strings.NewReader(body))
	if code != 200 {
		c.t.Fatalf("token: %d %s", code, raw)
	}
	if err := json.Unmarshal(raw, &c.tok); err != nil || c.tok.TokenType != "Bearer" || c.tok.ExpiresIn != int64(c.s.o.TokenTTL/time.Second) {
		c.t.Fatalf("token reply %s: %v", raw, err)
	}
}

func (c *client) send(method, path, ctype string, body io.Reader) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.url+path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.tok.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok.AccessToken)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

func (c *client) do(method, path string, body, out any) int {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	code, raw := c.send(method, path, "application/json", rd)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: reply %q: %v", method, path, raw, err)
		}
	}
	return code
}

// wantError checks a refusal: status, message and subcode of the
// reference's error body.
func (c *client) wantError(method, path string, body any, status int, message, subcode string) apiError {
	c.t.Helper()
	var e apiError
	if code := c.do(method, path, body, &e); code != status || !strings.Contains(e.Message, message) || e.Subcode != subcode {
		c.t.Errorf("%s %s: %d %+v, want %d %q %q", method, path, code, e, status, message, subcode)
	}
	return e
}

func TestAuth(t *testing.T) {
	c := start(t, Options{TokenTTL: time.Hour})
	q := "/auth/?grant_type=refresh_token&client_id=tapagent&client_secret=tapagent-secret&refresh_token=" + c.tok.RefreshToken
	var fresh tokenReply
	if code := c.do("POST", q, nil, &fresh); code != 200 || fresh.AccessToken == "" || fresh.ExpiresIn != 3600 {
		t.Fatalf("refresh grant in the query string: %d %+v", code, fresh)
	}
	if code, raw := c.send("POST", q, "", nil); code != 400 || len(raw) != 0 {
		t.Errorf("refresh token used twice: %d %q (the reference: 400, no content)", code, raw)
	}
	if code, _ := c.send("POST", "/auth/", "text/plain", strings.NewReader(`{"grant_type":"password"}`)); code != 400 {
		t.Errorf("JSON without its content type: %d", code)
	}
	c.tok = fresh
	var me user
	if code := c.do("GET", "/v2/me", nil, &me); code != 200 || me.Email != "tapagent@example.com" || me.Roles[0].Name != "operator" {
		t.Errorf("me: %d %+v", code, me)
	}
	// "All timestamps are ISO8601-compliant": with the offset, though the
	// reference's example of last_login lost it.
	if _, err := time.Parse(time.RFC3339, me.LastLogin); err != nil {
		t.Errorf("last_login %q: %v", me.LastLogin, err)
	}
	c.clk.Advance(time.Hour)
	c.wantError("GET", "/v2/me", nil, 401, "Unauthenticated", "")
	c.login()
	var bye map[string]string
	if code := c.do("GET", "/logout", nil, &bye); code != 200 || bye["bye"] != "bye" {
		t.Errorf("logout: %d %v", code, bye)
	}
	c.wantError("GET", "/v2/me", nil, 401, "Unauthenticated", "")

	strict := start(t, Options{AuthErrorBody: true})
	strict.tok = tokenReply{}
	strict.wantError("POST", "/auth/", map[string]string{"grant_type": "password", "client_id": "tapagent", "client_secret": "x"}, 400, "client secret", "")
	strict.wantError("POST", "/auth/", map[string]string{"grant_type": "auth_code", "client_id": "tapagent", "client_secret": "tapagent-secret"}, 400, "auth_code", "")
	strict.login()
	strict.s.SetFaults(cloudemu.Faults{ExpireTokens: true})
	strict.wantError("GET", "/v2/me", nil, 401, "Unauthenticated", "")
}

func TestMachines(t *testing.T) {
	c := start(t, Options{})
	var list []map[string]any
	if code := c.do("GET", "/v2/vending_machines", nil, &list); code != 200 || len(list) != 1 || list[0]["imei"] != "999999999123456" || list[0]["modem"] != nil {
		t.Fatalf("list: %d %v", code, list)
	}
	var m Machine
	if code := c.do("GET", vm, nil, &m); code != 200 || m.Modem == nil || m.State != 1 || m.Service != nil {
		t.Fatalf("machine: %d %+v", code, m)
	}
	if code := c.do("PUT", vm, map[string]any{"name": "Renamed"}, nil); code != 200 {
		t.Fatalf("put name only: %d", code)
	}
	e := c.wantError("PUT", vm, map[string]any{"name": strings.Repeat("x", 256), "mm_id": 52}, 422, "The given data was invalid.", "")
	if errs, _ := e.Errors.(map[string]any); errs["name"] == nil {
		t.Errorf("422 errors: %+v", e.Errors)
	}
	c.wantError("GET", "/v2/vending_machines/9", nil, 404, "Vending machine not found", "")
	if code := c.do("POST", vm+"/state", map[string]any{"state": 2, "service": map[string]bool{"need_loading": true, "low_change": false}}, nil); code != 200 {
		t.Fatalf("state: %d", code)
	}
	if got, _ := c.s.Machine(123); got.Name != "Renamed" || got.State != 2 || !got.Service["need_loading"] || len(got.Service) != 1 {
		t.Errorf("after put and state: %+v", got)
	}
	c.wantError("POST", vm+"/state", map[string]any{"state": 1, "service": map[string]bool{"on_fire": true}}, 422, "invalid", "")
	c.wantError("POST", vm+"/state", map[string]any{"state": 4}, 422, "invalid", "")
	var modems []modemDoc
	if c.do("GET", "/v2/modems", nil, &modems); len(modems) != 1 || modems[0].IMEI != "999999999123456" || *modems[0].Firmware != "1.0" {
		t.Errorf("modems: %+v", modems)
	}
	var modem modemDoc
	if code := c.do("GET", "/v2/modems/1", nil, &modem); code != 200 || modem.ID != 1 {
		t.Errorf("modem: %d %+v", code, modem)
	}
	c.wantError("GET", "/v2/modems/2", nil, 404, "Modem not found", "")
	var models []map[string]any
	if c.do("GET", "/v2/vm_models", nil, &models); len(models) != 1 || models[0]["id"] != 52.0 {
		t.Errorf("vm models: %v", models)
	}
	var codes []eventCode
	if c.do("GET", "/v2/event_codes", nil, &codes); len(codes) == 0 || codes[1].Code != "EA1A" {
		t.Errorf("event codes: %+v", codes)
	}
}

func TestEvents(t *testing.T) {
	c := start(t, Options{})
	events := []map[string]any{
		{"date": "2026-11-22T17:00:00Z", "code": "EA1A", "payload": nil},
		{"date": "2026-11-22T20:30:00+03:00", "code": "EG", "payload": []int{1}},
	}
	if code := c.do("POST", vm+"/events", events, nil); code != 201 {
		t.Fatalf("post events: %d", code)
	}
	c.do("POST", vm+"/events", events, nil) // a resend
	var got []eventDoc
	// The reference's own examples put an unencoded "+03:00" in the query.
	if code := c.do("GET", vm+"/events?since=2026-11-22T00:00:00+03:00&until=2026-11-23T00:00:00%2B03:00", nil, &got); code != 200 || len(got) != 2 {
		t.Fatalf("events: %d %+v", code, got)
	}
	if got[0].Date != "2026-11-22T20:00:00+03:00" || got[0].Code != "EA1A" || string(got[0].Payload) != "null" || string(got[1].Payload) != "[1]" {
		t.Errorf("events as rendered: %+v", got)
	}
	e := c.wantError("GET", vm+"/events?since=2026-11-01T00:00:00Z&until=2026-11-09T00:00:00Z", nil, 400, "longer than 7 days", "")
	if fe, _ := e.Errors.([]any); len(fe) != 1 {
		t.Errorf("errors array: %+v", e.Errors)
	}
	c.wantError("GET", vm+"/events?since=yesterday", nil, 400, "ISO 8601", "")
	c.wantError("POST", vm+"/events", []map[string]any{{"date": "2026-11-22 17:00:00", "code": "EA"}}, 422, "invalid", "")
	c.wantError("POST", vm+"/events", []map[string]any{{"date": "2026-11-22T17:00:00Z", "code": "ea 1"}}, 422, "invalid", "")
	c.wantError("POST", vm+"/events", []map[string]any{{"date": "2026-11-22T17:00:00Z", "code": "EA", "payload": map[string]int{}}}, 422, "invalid", "")
	c.wantError("POST", vm+"/events", []map[string]any{}, 400, "Not enough data", "L103")
	c.clk.Advance(14*day + time.Hour)
	c.login()
	c.do("GET", vm+"/events?since=2026-11-22T00:00:00Z&until=2026-11-23T00:00:00Z", nil, &got)
	if len(got) != 0 {
		t.Errorf("events older than 14 days: %+v", got)
	}
}

// report is a small well-formed EVA-DTS report with a Cyrillic name.
const report = "DXS*TAP0000001*VA*V1/1*1\r\nST*001*0001\r\nID1*TAP0001*Пиво\r\nVA1*45000*100\r\nSE*4*0001\r\nDXE*1*1\r\n"

func TestReportsEncodingsAndRequest(t *testing.T) {
	c := start(t, Options{})
	var req requestReply
	if code := c.do("POST", vm+"/request", map[string]bool{"report": true}, &req); code != 200 || req.RequestID == 0 || req.Progress {
		t.Fatalf("request report: %d %+v", code, req)
	}
	var again requestReply
	c.do("POST", vm+"/request", map[string]any{"config": 1}, &again)
	if again.RequestID != req.RequestID || again.Progress {
		t.Errorf("config merged into the open request: %+v", again)
	}
	c.do("POST", vm+"/request", map[string]bool{"report": true}, &again)
	if again.RequestID != req.RequestID || !again.Progress {
		t.Errorf("report asked twice: %+v", again)
	}
	var open openReply
	if code := c.do("GET", vm+"/request", nil, &open); code != 200 || !open.Report || !open.Config || open.RequestID != req.RequestID {
		t.Fatalf("machine's poll: %d %+v", code, open)
	}
	status := "/v2/vending_machines/123/request/" + itoa(req.RequestID)
	if code := c.do("GET", status, nil, nil); code != 200 {
		t.Fatalf("pending request: %d", code)
	}

	// The machine answers with a UTF-8 report (no flags) and a cp1251 one.
	var made map[string]int64
	if code := c.do("POST", vm+"/reports", map[string]any{"date": "2026-11-22T20:59:00+03:00", "data": report, "evadts_port": 1}, &made); code != 201 {
		t.Fatalf("post report: %d", code)
	}
	if code := c.do("GET", status, nil, nil); code != 200 {
		t.Errorf("request still waits for the config: %d", code)
	}
	cp, err := toCP1251([]byte(report))
	if err != nil || len(cp) != len(report)-4 { // П и в о: 2 bytes each in UTF-8, 1 in cp1251
		t.Fatalf("cp1251: %v %d", err, len(cp))
	}
	c.clk.Advance(time.Minute)
	broken := base64.StdEncoding.EncodeToString(cp[:len(cp)-10])
	if code := c.do("POST", vm+"/reports?cp1251=1&base64=1", map[string]any{"date": "2026-11-22T21:00:00+03:00", "data": broken, "evadts_port": "2"}, nil); code != 201 {
		t.Fatalf("post cp1251 report: %d", code)
	}
	c.wantError("POST", vm+"/reports?cp1251=1", map[string]any{"date": "2026-11-22T21:00:00+03:00", "data": "x"}, 400, "base64", "")
	c.wantError("POST", vm+"/reports", map[string]any{"date": "2026-11-22T21:00:00+03:00", "data": "DXS*€ ✓"}, 422, "invalid", "")
	if code := c.do("POST", vm+"/config", map[string]any{"lines": 4}, nil); code != 201 {
		t.Fatalf("post config: %d", code)
	}
	c.wantError("GET", status, nil, 404, "Not found", "")
	c.wantError("GET", vm+"/request", nil, 404, "Not found", "")
	var cfg map[string]int
	if code := c.do("GET", vm+"/config", nil, &cfg); code != 200 || cfg["lines"] != 4 {
		t.Errorf("config read back: %d %v", code, cfg)
	}
	var next requestReply
	if c.do("POST", vm+"/request", map[string]bool{"config": true}, &next); next.RequestID == req.RequestID {
		t.Errorf("a new request after one was fulfilled kept the old id %d", next.RequestID)
	}

	if stored := c.s.Reports(123); len(stored) != 2 || !bytes.Equal(stored[0].Data, cp) || !stored[0].Valid || stored[1].Valid || stored[1].Port != 2 {
		t.Fatalf("stored reports: %+v", stored)
	}
	var plain struct {
		Date string `json:"date"`
		Data string `json:"data"`
		Port int    `json:"evadts_port"`
	}
	if code := c.do("GET", vm+"/reports/last_valid", nil, &plain); code != 200 || plain.Data != report || plain.Port != 1 || plain.Date != "2026-11-22T20:59:00+03:00" {
		t.Errorf("last_valid: %d %+v", code, plain)
	}
	c.do("GET", vm+"/reports/last?cp1251=1&base64=1", nil, &plain)
	if plain.Data != broken || plain.Port != 2 {
		t.Errorf("last, cp1251 base64: %+v", plain)
	}
	c.do("GET", vm+"/reports/"+itoa(made["id"])+"?base64=1", nil, &plain)
	if d, _ := base64.StdEncoding.DecodeString(plain.Data); string(d) != report {
		t.Errorf("by id, base64 of UTF-8: %q", d)
	}
	code, raw := c.send("GET", vm+"/reports/last_valid?cp1251=1", "", nil)
	if code != 200 || !bytes.Contains(raw, []byte("\xcf\xe8\xe2\xee")) || !bytes.Contains(raw, []byte(`\r\n`)) {
		t.Errorf("raw cp1251 in JSON: %d %q", code, raw)
	}
	var list []json.RawMessage
	if c.do("GET", vm+"/reports?port=2&since=2026-11-22T00:00:00Z&until=2026-11-23T00:00:00Z", nil, &list); len(list) != 1 {
		t.Errorf("port filter: %d", len(list))
	}
	c.wantError("GET", vm+"/reports/last?port=3", nil, 400, "port", "")
	c.wantError("GET", vm+"/reports/999", nil, 404, "Not found", "")
	c.wantError("GET", vm+"/reports?since=2026-11-01T00:00:00Z&until=2026-11-20T00:00:00Z", nil, 400, "14 days", "")
	c.clk.Advance(15 * day)
	c.login()
	c.wantError("GET", vm+"/reports/last", nil, 404, "Not found", "")
}

func TestRequestNeedsModem(t *testing.T) {
	c := start(t, Options{Machines: []Machine{{ID: 123, Name: "No modem"}}})
	c.wantError("POST", vm+"/request", map[string]bool{"report": true}, 400, "no modem", "")
	c.wantError("POST", vm+"/request", map[string]bool{}, 400, "Nothing requested", "")
	c.wantError("POST", vm+"/request", map[string]bool{"planogram": true}, 422, "invalid", "")
}

func TestLoadingInventoryDuplicates(t *testing.T) {
	c := start(t, Options{})
	refill := map[string]any{"data": []map[string]any{{"component_id": 1, "add": 50000}, {"component_id": 100, "layout_number": "A1", "add": 10}},
		"note": "keg change", "created_at": "2026-11-22T20:00:00+03:00"}
	var dig map[string]string
	if code := c.do("POST", vm+"/loading", refill, &dig); code != 201 || len(dig["digest"]) != 32 {
		t.Fatalf("refill: %d %v", code, dig)
	}
	c.wantError("POST", vm+"/loading", refill, 400, "Duplicate", "L102")
	c.wantError("POST", vm+"/loading", map[string]any{"data": []any{}, "note": "x"}, 400, "Not enough data", "L103")
	c.wantError("POST", vm+"/loading", map[string]any{"data": []map[string]any{{"component_id": 123, "add": 0}}}, 400, "Not enough data (no load)", "L104")
	e := c.wantError("POST", vm+"/inventory", map[string]any{"data": []map[string]any{{"component_id": 123}}}, 422, "The given data was invalid.", "")
	if errs, _ := e.Errors.(map[string]any); errs["data.0.loaded"] == nil {
		t.Errorf("422 errors: %+v", e.Errors)
	}
	inv := map[string]any{"data": []map[string]any{{"component_id": 1, "loaded": 30000}}, "created_at": "2026-11-22T20:00:00+03:00"}
	if code := c.do("POST", vm+"/inventory", inv, nil); code != 201 {
		t.Fatalf("inventory at the refill's time is another kind: %d", code)
	}
	c.wantError("POST", vm+"/inventory", inv, 400, "Duplicate", "L102")
	// Without created_at there is no device time to recognise a resend.
	if code := c.do("POST", vm+"/loading", map[string]any{"data": []map[string]any{{"component_id": 1, "add": -500}}}, nil); code != 201 {
		t.Fatalf("unload: %d", code)
	}
	var levels []map[string]any
	c.do("GET", vm+"/loading", nil, &levels)
	want := `[{"component_id":1,"value":29500},{"component_id":100,"layout_number":"A1","value":10}]`
	if got, _ := json.Marshal(levels); string(got) != want {
		t.Errorf("levels %s, want %s", got, want)
	}
	if code := c.do("POST", vm+"/timestamp", map[string]string{"last_collection": "2026-11-22 19:00:00+03"}, nil); code != 200 {
		t.Fatalf("post timestamp: %d", code)
	}
	c.wantError("POST", vm+"/timestamp", map[string]string{"last_service": "yesterday"}, 422, "invalid", "")
	var ts timestamps
	c.do("GET", vm+"/timestamp", nil, &ts)
	if ts.LastCollection == nil || *ts.LastCollection != "2026-11-22T19:00:00+03:00" || ts.LastService != nil {
		t.Errorf("posted timestamps: %+v", ts)
	}
	if ts.LastLoading == nil || *ts.LastLoading != "2026-11-22T21:00:00+03:00" || ts.LastSale != nil || ts.LastReport != nil {
		t.Errorf("timestamps: %+v", ts)
	}
}

func vend(at string, vendType, payType int, price, number int64) map[string]any {
	return map[string]any{"time": at, "layout_number": "1", "name": "Pils 0.3", "vend_type": vendType,
		"payment_type": payType, "price": price, "number": number, "value": price * number}
}

func TestSalesStatistics(t *testing.T) {
	c := start(t, Options{})
	rows := []map[string]any{vend("2026-11-22T20:00:00+03:00", 3, 1, 450, 2), vend("2026-11-22T20:05:00+03:00", 3, 2, 450, 1),
		vend("2026-11-22T20:10:00+03:00", 2, 1, 0, 1)}
	if code := c.do("POST", vm+"/sales", rows, nil); code != 201 {
		t.Fatalf("sales: %d", code)
	}
	c.do("POST", vm+"/sales", rows, nil) // a resend
	var sum []summaryRow
	if code := c.do("GET", vm+"/stats/vends/summary", nil, &sum); code != 200 || sum[0] != (summaryRow{4, 1350}) {
		t.Errorf("summary today: %d %+v", code, sum)
	}
	if c.do("GET", "/v2/stats/vends/summary", nil, &sum); sum[0] != (summaryRow{4, 1350}) {
		t.Errorf("summary of all machines: %+v", sum)
	}
	var prods []productRow
	if c.do("GET", vm+"/stats/vends/products?type=paid", nil, &prods); len(prods) != 2 || prods[0].VendType != 3 || prods[0].Time != "2026-11-22T20:00:00+03:00" {
		t.Errorf("paid: %+v", prods)
	}
	var pays []paymentRow
	if c.do("GET", vm+"/stats/vends/payments?type=cashless", nil, &pays); len(pays) != 1 || pays[0].PaymentType != 2 || pays[0].Value != 450 {
		t.Errorf("cashless: %+v", pays)
	}
	c.wantError("GET", vm+"/stats/vends/payments?type=cheque", nil, 400, "unknown type", "")
	c.wantError("GET", "/v2/stats/vends/summary?since=2026-11-01T00:00:00Z&until=2026-11-09T00:00:00Z", nil, 400, "7 days", "")
	c.wantError("GET", vm+"/stats/vends/summary?since=2026-10-01T00:00:00Z&until=2026-11-09T00:00:00Z", nil, 400, "31 days", "")
	bad := vend("2026-11-22T20:00:00+03:00", 3, 1, 450, 2)
	bad["value"] = 901
	c.wantError("POST", vm+"/sales", []map[string]any{bad}, 422, "invalid", "")
	c.wantError("POST", vm+"/sales", []map[string]any{vend("2026-11-22T20:00:00+03:00", 4, 1, 1, 1)}, 422, "invalid", "")
	var ts timestamps
	if c.do("GET", vm+"/timestamp", nil, &ts); ts.LastSale == nil || *ts.LastSale != "2026-11-22T20:10:00+03:00" {
		t.Errorf("last_sale: %+v", ts.LastSale)
	}

	dup := start(t, Options{StoreDuplicates: true})
	dup.do("POST", vm+"/sales", rows[:1], nil)
	dup.do("POST", vm+"/sales", rows[:1], nil)
	if dup.do("GET", vm+"/stats/vends/summary", nil, &sum); sum[0].Number != 4 {
		t.Errorf("a cloud storing duplicates: %+v", sum)
	}
}

func TestLostReplyThenDuplicate(t *testing.T) {
	c := start(t, Options{})
	c.s.SetFaults(cloudemu.Faults{LoseReply: 1})
	refill := map[string]any{"data": []map[string]any{{"component_id": 1, "add": 50000}}, "created_at": "2026-11-22T20:00:00+03:00"}
	raw, _ := json.Marshal(refill)
	req, _ := http.NewRequest("POST", c.url+vm+"/loading", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+c.tok.AccessToken)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("lost reply answered %d", res.StatusCode)
	}
	c.wantError("POST", vm+"/loading", refill, 400, "Duplicate", "L102")
	c.s.SetFaults(cloudemu.Faults{Fail500: 1})
	c.wantError("GET", vm, nil, 500, "injected", "")
	c.s.SetFaults(cloudemu.Faults{Malformed: 1})
	if code, raw := c.send("GET", vm, "", nil); code != 200 || json.Valid(raw) {
		t.Errorf("malformed: %d %q", code, raw)
	}
}

func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "telemetron.json")
	c := start(t, Options{StateFile: path})
	c.do("POST", vm+"/reports", map[string]any{"date": "2026-11-22T20:59:00+03:00", "data": report}, nil)
	if err := c.s.Close(); err != nil {
		t.Fatal(err)
	}
	again := start(t, Options{StateFile: path})
	if got := again.s.Reports(123); len(got) != 1 || !got[0].Valid {
		t.Fatalf("after a restart: %+v", got)
	}
}

func TestCP1251RoundTrip(t *testing.T) {
	for b := 0; b < 256; b++ {
		if b == 0x98 {
			continue
		}
		back, err := toCP1251(fromCP1251([]byte{byte(b)}))
		if err != nil || len(back) != 1 || back[0] != byte(b) {
			t.Errorf("byte %#x: %v %v", b, back, err)
		}
	}
}

func itoa(n int64) string { return strings.TrimSpace(string(must(json.Marshal(n)))) }

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestReceived counts what a machine holds, as tests and the simulator's
// summary read it.
func TestReceived(t *testing.T) {
	c := start(t, Options{})
	at := "2026-11-22T20:00:00+03:00"
	c.do("POST", vm+"/events", []map[string]any{{"date": at, "code": "EHM_1", "payload": nil}}, nil)
	c.do("POST", vm+"/sales", []map[string]any{vend(at, 3, 1, 450, 1), vend(at, 2, 3, 0, 1)}, nil)
	c.do("POST", vm+"/loading", map[string]any{"data": []map[string]any{{"component_id": 1, "add": 50000}}, "created_at": at}, nil)
	c.do("POST", vm+"/inventory", map[string]any{"data": []map[string]any{{"component_id": 1, "loaded": 50000}}, "created_at": at}, nil)
	c.do("POST", vm+"/config", map[string]any{"device": map[string]any{}}, nil)
	want := Received{Events: 1, Sales: 2, Refills: 1, Inventories: 1, Config: true}
	if got := c.s.Received(123); got != want {
		t.Errorf("received %+v, want %+v", got, want)
	}
	if got := c.s.Received(999); got != (Received{}) {
		t.Errorf("unknown machine: %+v", got)
	}
}
