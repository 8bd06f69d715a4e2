package smartnow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/sim/cloudemu"
)

// client is a test client of a running emulator on loopback.
type client struct {
	t   *testing.T
	s   *Server
	url string
	tok tokens

	clk *clock.Manual
}

var testMachines = []Machine{
	{ID: 80, Name: "Tap wall", Hostname: "tap-1", Location: 2, Currency: 1},
	{ID: 81, Name: "Second wall", Hostname: "tap-2", Location: 3, Currency: 1},
}

func start(t *testing.T, o Options) *client {
	t.Helper()
	c := &client{t: t, clk: clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))}
	o.Now = c.clk.Now
	if o.Machines == nil {
		o.Machines = testMachines
		o.Products = []Product{{Machine: 80, PLU: 5, Name: "Pils 0.3", Price: 450}, {Machine: 80, PLU: 7, Name: "Weizen 0.5", Price: 590}}
	}
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
	if code := c.do("POST", "/auth/login", loginReq{"tapagent", "tapagent"}, &c.tok); code != 200 {
		t.Fatalf("login: %d", code)
	}
	return c
}

// do sends body (a string is sent as is) and decodes the reply into out;
// it returns the status.
func (c *client) do(method, path string, body, out any) int {
	c.t.Helper()
	code, raw := c.raw(method, path, body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: reply %q: %v", method, path, raw, err)
		}
	}
	return code
}

func (c *client) raw(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
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

// wantError checks a refusal: the status and the reference's {message}.
func (c *client) wantError(method, path string, body any, status int, contains string) {
	c.t.Helper()
	var e struct{ Message string }
	if code := c.do(method, path, body, &e); code != status || !strings.Contains(e.Message, contains) {
		c.t.Errorf("%s %s: %d %q, want %d with %q", method, path, code, e.Message, status, contains)
	}
}

func TestAuthLoginRefreshExpiry(t *testing.T) {
	c := start(t, Options{TokenTTL: 10 * time.Minute})
	c.wantError("POST", "/auth/login", loginReq{"tapagent", "wrong"}, 401, "wrong username or password")
	c.wantError("POST", "/auth/login", `{"username":"tapagent","password":"tapagent","extra":1}`, 400, "unknown field")
	if code := c.do("GET", "/machine", nil, nil); code != 200 {
		t.Fatalf("fresh token: %d", code)
	}
	claims, err := cloudemu.VerifyToken(c.s.st.Secret, c.tok.AccessToken, c.clk.Now())
	if err != nil || claims.Exp != c.clk.Now().Add(10*time.Minute).Unix() {
		t.Fatalf("token exp claim: %+v %v", claims, err)
	}
	c.clk.Advance(10 * time.Minute)
	c.wantError("GET", "/machine", nil, 401, "expired")
	old := c.tok
	var fresh tokens
	if code := c.do("POST", "/auth/refresh", refreshReq{old.RefreshToken}, &fresh); code != 200 || fresh.AccessToken == "" {
		t.Fatalf("refresh: %d", code)
	}
	c.wantError("POST", "/auth/refresh", refreshReq{old.RefreshToken}, 401, "refresh token")
	c.tok = fresh
	if code := c.do("GET", "/machine", nil, nil); code != 200 {
		t.Fatalf("refreshed token: %d", code)
	}
	c.tok.AccessToken = ""
	c.wantError("GET", "/machine", nil, 401, "missing")
	c.tok = fresh
	c.s.SetFaults(cloudemu.Faults{ExpireTokens: true})
	c.wantError("GET", "/machine", nil, 401, "invalid or expired")
}

func TestMachinesConfigAssortmentHours(t *testing.T) {
	c := start(t, Options{})
	var ms []Machine
	if code := c.do("GET", "/machine?where[hostname]=tap-1", nil, &ms); code != 200 || len(ms) != 1 || ms[0].ID != 80 {
		t.Fatalf("machine by hostname: %d %+v", code, ms)
	}
	var made map[string]int64
	if code := c.do("POST", "/machine", map[string]any{"name": "New", "hostname": "tap-3", "location": 4,
		"machineModel": 1, "machineType": 1, "manufacturer": 1, "currency": 1}, &made); code != 201 || made["id"] == 0 {
		t.Fatalf("create machine: %d %v", code, made)
	}
	c.wantError("POST", "/machine", map[string]any{"name": "Dup", "hostname": "tap-3", "location": 4,
		"machineModel": 1, "machineType": 1, "manufacturer": 1, "currency": 1}, 409, "taken")
	c.wantError("POST", "/machine", map[string]any{"name": "No host"}, 400, "required")

	if code := c.do("PUT", "/machine/hostname/tap-1/config", map[string]string{"config": `{"open":"09:00"}`}, nil); code != 200 {
		t.Fatalf("put config: %d", code)
	}
	var m Machine
	c.do("GET", "/machine/80", nil, &m)
	if m.ConfigState != "scheduled" {
		t.Errorf("configState after a change: %q", m.ConfigState)
	}
	var cfg map[string]any
	if code := c.do("GET", "/machine/hostname/tap-1/config", nil, &cfg); code != 200 || cfg["config"] != `{"open":"09:00"}` ||
		cfg["id"] != float64(80) || cfg["ssid"] != "" || cfg["encryptionKey"] != "" {
		t.Errorf("get config: %d %v", code, cfg)
	}
	// The reference's connection settings are kept beside the text; a
	// field not sent keeps its value.
	if code := c.do("PUT", "/machine/hostname/tap-1/config", map[string]any{"ssid": "bar", "apn": "internet", "machine": 80}, nil); code != 200 {
		t.Fatalf("put config fields: %d", code)
	}
	if c.do("GET", "/machine/hostname/tap-1/config", nil, &cfg); cfg["config"] != `{"open":"09:00"}` || cfg["ssid"] != "bar" || cfg["apn"] != "internet" {
		t.Errorf("config after a fields update: %v", cfg)
	}
	c.wantError("PUT", "/machine/hostname/tap-1/config", map[string]any{"machine": 81}, 400, "not the machine")
	c.wantError("GET", "/machine/hostname/nope/config", nil, 404, "no machine")

	var ps []Product
	if code := c.do("GET", "/machine/80/product?sort=plu%20desc", nil, &ps); code != 200 || len(ps) != 2 || ps[0].PLU != 7 || ps[0].Price != 590 {
		t.Fatalf("assortment: %d %+v", code, ps)
	}
	c.wantError("POST", "/machine/80/product", map[string]any{"name": "Pils", "plu": 5, "price": 1}, 409, "PLU 5 exists")
	var pid map[string]int64
	if code := c.do("POST", "/machine/80/product", map[string]any{"name": "Stout", "plu": 8, "price": 620, "barcode": "4001"}, &pid); code != 201 || pid["id"] == 0 {
		t.Fatalf("add product: %d %v", code, pid)
	}
	c.wantError("POST", "/machine/80/product", map[string]any{"name": "Free", "plu": 9, "price": -1}, 400, "negative")
	if code := c.do("PUT", "/machine/80/assortment", []map[string]any{{"plu": 9, "name": "Cider", "price": 500}}, nil); code != 200 {
		t.Fatalf("override assortment: %d", code)
	}
	c.do("GET", "/machine/80/product", nil, &ps)
	if len(ps) != 1 || ps[0].PLU != 9 || ps[0].Name != "Cider" {
		t.Errorf("after override: %+v", ps)
	}
	c.wantError("PUT", "/machine/80/assortment", []map[string]any{{"plu": 9, "name": "A", "price": 1}, {"plu": 9, "name": "B", "price": 1}}, 400, "twice")

	hours := []OpeningHour{{Day: 1, StartTime: "09:15:00", EndTime: "22:00:00"}}
	if code := c.do("PUT", "/openinghours/machine/80", hours, nil); code != 200 {
		t.Fatalf("opening hours: %d", code)
	}
	var got []OpeningHour
	if c.do("GET", "/openinghours/machine/80", nil, &got); len(got) != 1 || got[0] != hours[0] {
		t.Errorf("opening hours read back: %+v", got)
	}
	c.wantError("PUT", "/openinghours/machine/80", []OpeningHour{{Day: 7, StartTime: "09:00:00", EndTime: "10:00:00"}}, 400, "day 0-6")
}

// sale is a valid revenue transaction of machine 80, in Amsterdam.
func sale(remote int64) map[string]any {
	return map[string]any{
		"machine": 80, "product": 5, "name": "Pils 0.3", "occurredAt": "2026-11-22T19:00:00+01:00",
		"timeZone": "Europe/Amsterdam", "timestamp": 1795370400, "price": 450, "originalPrice": 450,
		"currency": "EUR", "remote": remote,
		"paymentTransactions": []map[string]any{{"method": "card", "price": 450, "originalPrice": 450}},
	}
}

func TestRevenueTransactionsAndDuplicates(t *testing.T) {
	c := start(t, Options{})
	var first map[string]int64
	if code := c.do("POST", "/revenuetransaction", sale(41), &first); code != 201 || first["id"] == 0 {
		t.Fatalf("post: %d %v", code, first)
	}
	var dup struct {
		Message string
		ID      int64
	}
	if code := c.do("POST", "/revenuetransaction", sale(41), &dup); code != 409 || dup.ID != first["id"] {
		t.Fatalf("duplicate remote: %d %+v, want 409 with id %d", code, dup, first["id"])
	}
	other := sale(41)
	delete(other, "machine")
	other["hostname"] = "tap-2"
	if code := c.do("POST", "/revenuetransaction", other, nil); code != 201 {
		t.Fatalf("same remote on another machine, by hostname: %d", code)
	}
	alias := sale(42)
	alias["paymenttransactions"] = alias["paymentTransactions"]
	delete(alias, "paymentTransactions")
	if code := c.do("POST", "/revenuetransaction", alias, nil); code != 201 {
		t.Fatalf("payments under the populate alias: %d", code)
	}
	both := sale(43)
	both["paymenttransactions"] = both["paymentTransactions"]
	c.wantError("POST", "/revenuetransaction", both, 400, "send one")

	var rts []RevenueTransaction
	if code := c.do("GET", "/revenuetransaction?where[machine]=80&sort=remote%20desc&limit=1", nil, &rts); code != 200 || len(rts) != 1 || rts[0].Remote != 42 {
		t.Fatalf("list: %d %+v", code, rts)
	}
	if rts[0].Location != 2 || rts[0].NumPaymentTransactions != 1 || rts[0].CreatedAt != "2026-11-22T18:00:00Z" {
		t.Errorf("stored transaction: %+v", rts[0])
	}
	c.do("GET", "/revenuetransaction?where[remote][gte]=41&where[machine][ne]=81&skip=1&useArchive=true", nil, &rts)
	if len(rts) != 1 || rts[0].Remote != 42 {
		t.Errorf("where gte/ne with skip: %+v", rts)
	}
	var pts []PaymentTransaction
	if code := c.do("GET", fmt.Sprintf("/revenuetransaction/%d/paymenttransactions", first["id"]), nil, &pts); code != 200 || len(pts) != 1 ||
		pts[0].Method != "card" || pts[0].Type != "card" || pts[0].OccurredAt != "2026-11-22T19:00:00+01:00" {
		t.Errorf("payments of a sale: %d %+v", code, pts)
	}
	if code := c.do("GET", "/paymenttransaction?where[method]=card&where[machine]=81", nil, &pts); code != 200 || len(pts) != 1 || pts[0].Location != 3 {
		t.Errorf("payment list: %d %+v", code, pts)
	}
	if len(c.s.RevenueTransactions()) != 3 || len(c.s.PaymentTransactions()) != 3 {
		t.Errorf("stored: %d sales, %d payments", len(c.s.RevenueTransactions()), len(c.s.PaymentTransactions()))
	}
	c.wantError("GET", "/revenuetransaction?limit=101", nil, 400, "at most 100")
	if code := c.do("GET", "/paymenttransaction?limit=1000", nil, &pts); code != 200 || len(pts) != 3 {
		t.Errorf("payment list without the cap of 100: %d %d", code, len(pts))
	}
	c.wantError("GET", "/revenuetransaction?where[nope]=1", nil, 400, "unknown column")
	c.wantError("GET", "/revenuetransaction?where[price][near]=1", nil, 400, "unknown where operator")
	c.wantError("GET", "/revenuetransaction?order=price", nil, 400, "unknown query parameter")
	c.wantError("GET", "/revenuetransaction/999999", nil, 404, "not found")
}

func TestRevenueTransactionRefusals(t *testing.T) {
	c := start(t, Options{})
	cases := []struct {
		name   string
		change func(m map[string]any)
		want   string
	}{
		{"offset not the zone's", func(m map[string]any) { m["occurredAt"] = "2026-11-22T20:00:00+02:00" }, "offset"},
		{"no offset", func(m map[string]any) { m["occurredAt"] = "2026-11-22 19:00:00" }, "ISO 8601"},
		{"timestamp differs", func(m map[string]any) { m["timestamp"] = 1795370401 }, "timestamp"},
		{"unknown zone", func(m map[string]any) { m["timeZone"] = "Mars/Olympus" }, "IANA"},
		{"no remote", func(m map[string]any) { delete(m, "remote") }, "remote"},
		{"price as a float", func(m map[string]any) { m["price"] = 4.5 }, "invalid JSON"},
		{"negative price", func(m map[string]any) { m["price"] = -1 }, "negative"},
		{"currency", func(m map[string]any) { m["currency"] = "euro" }, "ISO 4217"},
		{"no payments", func(m map[string]any) { m["paymentTransactions"] = []any{} }, "paymentTransactions"},
		{"bad method", func(m map[string]any) {
			m["paymentTransactions"] = []map[string]any{{"method": "cheque", "price": 450}}
		}, "method"},
		{"unknown field", func(m map[string]any) { m["prize"] = 1 }, "unknown field"},
		{"no machine", func(m map[string]any) { delete(m, "machine") }, "machine"},
		{"unknown machine", func(m map[string]any) { m["machine"] = 9 }, "not found"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := sale(int64(100 + i))
			tc.change(body)
			status := 400
			if tc.want == "not found" {
				status = 404
			}
			c.t = t
			c.wantError("POST", "/revenuetransaction", body, status, tc.want)
		})
	}
	if n := len(c.s.RevenueTransactions()); n != 0 {
		t.Errorf("%d refused transactions were stored", n)
	}
}

func logBody(remote int64) map[string]any {
	return map[string]any{"machine": 80, "remote": remote, "code": "TAP_KEG_EMPTY", "occurredAt": "2026-11-22T19:00:00+01:00",
		"timeZone": "Europe/Amsterdam", "duration": 30, "extraData": `{"line": 2}`, "isResolvable": true,
		"resolvedAt": "2026-11-22T19:10:00+01:00"}
}

func TestLogs(t *testing.T) {
	c := start(t, Options{})
	var made map[string]int64
	if code := c.do("POST", "/log", logBody(7), &made); code != 201 {
		t.Fatalf("post log: %d", code)
	}
	var dup map[string]any
	if code := c.do("POST", "/log", logBody(7), &dup); code != 409 || int64(dup["id"].(float64)) != made["id"] {
		t.Fatalf("duplicate log: %d %v", code, dup)
	}
	var l Log
	if code := c.do("GET", fmt.Sprintf("/log/%d", made["id"]), nil, &l); code != 200 || l.Timestamp != 1795370400 || l.Date != l.Timestamp ||
		*l.ExtraData != `{"line": 2}` || l.Location != 2 {
		t.Fatalf("log read back: %d %+v", code, l)
	}
	bad := logBody(8)
	bad["extraData"] = "line 2"
	c.wantError("POST", "/log", bad, 400, "JSON text")
	bad = logBody(9)
	bad["extraData"] = map[string]int{"line": 2}
	c.wantError("POST", "/log", bad, 400, "invalid JSON")
	bad = logBody(10)
	bad["isResolvable"] = false
	c.wantError("POST", "/log", bad, 400, "not resolvable")
	bad = logBody(11)
	bad["resolvedAt"] = "2026-11-22T18:00:00+01:00"
	c.wantError("POST", "/log", bad, 400, "before occurredAt")
	var logs []Log
	if c.do("GET", "/log?where[code][like]=tap_%25", nil, &logs); len(logs) != 1 {
		t.Errorf("like filter: %+v", logs)
	}
	var m Machine
	if c.do("GET", "/machine/80", nil, &m); m.LastLog != made["id"] {
		t.Errorf("lastLog: %d", m.LastLog)
	}
}

func TestCommands(t *testing.T) {
	c := start(t, Options{})
	if code := c.do("POST", "/command/reboot/hostname/tap-1", map[string]any{"params": []int{3, 4}}, nil); code != 200 {
		t.Fatalf("queue: %d", code)
	}
	c.wantError("POST", "/command/reboot/hostname/tap-1", map[string]any{"params": []string{"x"}}, 400, "invalid JSON")
	var cmds []Command
	if code := c.do("GET", "/machine/80/commands", nil, &cmds); code != 200 || len(cmds) != 1 || cmds[0].Command != "reboot" || len(cmds[0].Params) != 2 {
		t.Fatalf("poll: %d %+v", code, cmds)
	}
	c.do("GET", "/machine/80/commands", nil, &cmds)
	if len(cmds) != 1 {
		t.Fatalf("a fetched command without a result is fetched again: %+v", cmds)
	}
	path := fmt.Sprintf("/machine/80/commands/%d/result", cmds[0].ID)
	c.wantError("POST", path, map[string]any{"message": "x"}, 400, "success")
	c.wantError("POST", fmt.Sprintf("/machine/81/commands/%d/result", cmds[0].ID), map[string]any{"success": true}, 404, "no command")
	if code := c.do("POST", path, map[string]any{"success": false, "message": "line busy"}, nil); code != 200 {
		t.Fatalf("result: %d", code)
	}
	c.wantError("POST", path, map[string]any{"success": true}, 409, "already failed")
	if c.do("GET", "/machine/80/commands", nil, &cmds); len(cmds) != 0 {
		t.Errorf("answered command still pending: %+v", cmds)
	}
	if got := c.s.Commands(); len(got) != 1 || got[0].State != "failed" || got[0].Message != "line busy" {
		t.Errorf("stored command: %+v", got)
	}
}

func TestFaults(t *testing.T) {
	c := start(t, Options{})
	c.s.SetFaults(cloudemu.Faults{Fail500: 1})
	c.wantError("POST", "/revenuetransaction", sale(1), 500, "injected")
	c.s.SetFaults(cloudemu.Faults{Malformed: 1})
	code, raw := c.raw("POST", "/revenuetransaction", sale(1))
	if code != 200 || json.Valid(raw) {
		t.Errorf("malformed: %d %q", code, raw)
	}
	if n := len(c.s.RevenueTransactions()); n != 0 {
		t.Fatalf("a failed or malformed request stored %d sales", n)
	}
	c.s.SetFaults(cloudemu.Faults{LoseReply: 1})
	raw, _ = json.Marshal(sale(1))
	req, _ := http.NewRequest("POST", c.url+"/revenuetransaction", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+c.tok.AccessToken)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("lost reply answered %d", res.StatusCode)
	}
	if n := len(c.s.RevenueTransactions()); n != 1 {
		t.Fatalf("lost reply: %d stored, want 1 (committed)", n)
	}
	c.wantError("POST", "/revenuetransaction", sale(1), 409, "exists")
	c.s.SetFaults(cloudemu.Faults{Down: true})
	if res, err := http.Get(c.url + "/machine"); err == nil {
		res.Body.Close()
		t.Fatalf("down answered %d", res.StatusCode)
	}
	// The control path works while the cloud is down.
	var f cloudemu.Faults
	if code := c.do("POST", "/_emulator/faults", cloudemu.Faults{Latency: time.Millisecond}, &f); code != 200 || f.Latency != time.Millisecond || f.Down {
		t.Fatalf("faults control: %d %+v", code, f)
	}
	if code := c.do("GET", "/machine", nil, nil); code != 200 {
		t.Errorf("slow cloud: %d", code)
	}
}

func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "smartnow.json")
	c := start(t, Options{StateFile: path})
	c.do("POST", "/revenuetransaction", sale(5), nil)
	if err := c.s.Close(); err != nil {
		t.Fatal(err)
	}
	again := start(t, Options{StateFile: path, Machines: []Machine{}})
	if got := again.s.RevenueTransactions(); len(got) != 1 || got[0].Remote != 5 {
		t.Fatalf("after a restart: %+v", got)
	}
	again.wantError("POST", "/revenuetransaction", sale(5), 409, "exists")
}

func TestStartRefusesNonLoopback(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Start("0.0.0.0:0"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback listen: %v", err)
	}
}
