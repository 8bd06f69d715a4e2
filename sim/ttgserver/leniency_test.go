package ttgserver

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/ttg"
)

// raw posts body to path (relative to the server) with an Authorization
// header as given, and returns the status and the reply.
func (f *fixture) raw(path, auth, body string) (int, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestPathsAreMatchedLeniently(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		path string
		want int
	}{
		{"/m2m/api/productlist", 200},
		{"/m2m/api/getServerBasicInfo", 200},
		{"/m2m/api/getserverbasicinfo", 200}, // case
		{"/m2m/api/productlist/", 200},       // trailing slash
		{"/api/getkeglevels", 200},           // the spec's own example
		{"/M2M/API/ProductList", 200},
		{"/m2m/api/nosuchcall", 404},
		{"/m2m/productlist", 404},
		{"/productlist", 404},
	} {
		if code, body := f.raw(c.path, "Bearer "+f.tok, `{"id":1}`); code != c.want {
			t.Errorf("%s: HTTP %d %s, want %d", c.path, code, body, c.want)
		}
	}
	auth := `{"username":"tapagent","password":"tapagent","id":9,"name":"pos","type":"json-server-control","version":1}`
	for _, p := range []string{"/m2m/api/authtoken", "/m2m/api/authToken/", "/api/authToken"} {
		code, body := f.raw(p, "", auth)
		var r ttg.AuthResponse
		if code != 200 || json.Unmarshal(body, &r) != nil || r.AuthToken == "" {
			t.Errorf("%s: HTTP %d %s", p, code, body)
		}
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		auth string
		want int
	}{
		{"Bearer " + f.tok, 200},
		{"bearer " + f.tok, 200},
		{"BEARER  " + f.tok, 200},
		{"bearer not-a-token", 403},
		{"Basic " + f.tok, 403},
		{f.tok, 403},
		{"", 403},
	} {
		if code, _ := f.raw("/m2m/api/productlist", c.auth, `{"id":1}`); code != c.want {
			t.Errorf("%q: HTTP %d, want %d", c.auth, code, c.want)
		}
	}
}

func TestUnknownFieldsAreIgnoredButBadValuesRefused(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, path, body string
		want             int
	}{
		{"extra field", "productlist", `{"id":1,"client_version":"2.1"}`, 200},
		{"extra field in a happy hour", "addhappyhour", `{"id":1,"happy_name":"x","start_time":60,"end_time":120,"price_level":1,"note":"y"}`, 200},
		{"wrong type", "productlist", `{"id":"one"}`, 400},
		{"broken JSON", "productlist", `{"id":1`, 400},
		{"missing time", "transactions", `{"id":1,"end_time":"2026-11-22 18:00:00"}`, 400},
		{"bad price type", "addproduct", `{"id":1,"name":"x","price_per_unit":"cheap","product_type":1}`, 400},
		// Calls that read nothing but the client's id refuse the same.
		{"broken JSON, no parameters", "getdevicecount", `{"id":`, 400},
		{"wrong id type, no parameters", "gethappyhours", `{"id":"seven"}`, 400},
		{"wrong device type", "getkeglevelcount", `{"id":1,"device_id":"x"}`, 400},
		{"not an object", "serverconfig", `[1,2]`, 400},
		{"no body at all", "getdevicecount", ``, 200},
	} {
		if code, body := f.raw("/m2m/api/"+c.path, "Bearer "+f.tok, c.body); code != c.want {
			t.Errorf("%s: HTTP %d %s, want %d", c.name, code, body, c.want)
		}
	}
	// An upload with unknown fields at both levels stores its record; a
	// record with a bad type or a missing timestamp is still malformatted.
	body := `{"id":1,"locationID":"1","deviceID":1001,"batch":7,"transactions":[` +
		`{"card_id":0,"card_type":33,"tst_start":"2026-11-22 17:59:00","tst_stop":"2026-11-22 17:59:08","plu":101,"money_amount":650,"volume_amount":500,"volume_amount_dp":1,"servings":100,"external_id":"x1","card_name":"Line 1","price_per_unit":13,"item_id":"","tap_no":1},` +
		`{"card_id":0,"card_type":33,"tst_start":"2026-11-22 17:59:00","tst_stop":"2026-11-22 17:59:08","plu":"101","money_amount":650,"volume_amount":500,"external_id":"x2","card_name":"Line 1"},` +
		`{"card_id":0,"card_type":33,"tst_stop":"2026-11-22 17:59:08","plu":101,"money_amount":650,"volume_amount":500,"external_id":"x3","card_name":"Line 1"}]}`
	code, raw := f.raw("/m2m/api/transaction", "Bearer "+f.tok, body)
	var r ttg.UploadResult
	if code != 200 || json.Unmarshal(raw, &r) != nil || r.RecordsInserted != 1 || r.RecordsMalformatted != 2 || r.Valid {
		t.Fatalf("HTTP %d %s", code, raw)
	}
}

func TestCardCreateResend(t *testing.T) {
	create := ttg.CardPurchase{CardID: 77, Created: "2026-11-22 18:00:00", Type: 111, CardName: "Kim", StaffName: "Bar", AlcoholAllowed: 1}
	for _, c := range []struct {
		name          string
		refuse        bool
		skipped, bad  int
		infoSubstring string
	}{
		{"spec: a resend is skipped", false, 1, 0, ""},
		{"a server without resend detection", true, 0, 1, "card 77 exists"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.s.SetFaults(Faults{RefuseCardResend: c.refuse})
			send := func(cp ttg.CardPurchase) ttg.UploadResult {
				var r ttg.UploadResult
				f.post("cardpurchase", ttg.CardPurchaseRequest{ID: 1, LocationID: 1, DeviceID: 3001, CardPurchases: []ttg.CardPurchase{cp}}, &r)
				return r
			}
			if r := send(create); r.RecordsInserted != 1 {
				t.Fatalf("create: %+v", r)
			}
			r := send(create)
			if r.RecordsSkipped != c.skipped || r.RecordsMalformatted != c.bad || !strings.Contains(r.InfoString, c.infoSubstring) {
				t.Fatalf("resend: %+v", r)
			}
			// 3.39: the skipped record is named with its time in epoch seconds
			// (2026-11-22 18:00:00 UTC, the fixture's zone).
			if c.skipped > 0 && !strings.Contains(r.RecordsSkippedStr, "timestamp 1795370400") {
				t.Fatalf("records_skipped_str %q does not name the epoch", r.RecordsSkippedStr)
			}
			// Another create for the same card is no resend: refused in both,
			// whether it differs in its time or only in what it says (a
			// skip would tell its sender the server holds its card).
			other := create
			other.Created = "2026-11-22 18:05:00"
			renamed := create
			renamed.CardName = "Someone Else"
			for _, o := range []ttg.CardPurchase{other, renamed} {
				if r := send(o); r.RecordsMalformatted != 1 || !strings.Contains(r.InfoString, "exists") {
					t.Fatalf("another create %+v: %+v", o, r)
				}
			}
			if n := len(f.s.CardPurchases()); n != 1 {
				t.Fatalf("%d card purchases stored", n)
			}
		})
	}
}

func TestAddProductIsInUse(t *testing.T) {
	f := newFixture(t)
	list := func(plu int) ttg.Product {
		var l ttg.ProductList
		f.post("productlist", map[string]any{"id": 1, "plu": plu}, &l)
		if len(l.Products) != 1 {
			t.Fatalf("plu %d: %+v", plu, l)
		}
		return l.Products[0]
	}
	for _, c := range []struct {
		name string
		body string
		plu  int
		want int // is_in_use listed, or 0 for a refusal
	}{
		{"new product on no line", `{"id":1,"plu":300,"name":"Stout","product_type":1,"is_active":1}`, 300, 2},
		{"replaces a product a line pours", `{"id":1,"plu":103,"overwrite":true,"name":"Weizen","product_type":1,"is_active":1}`, 103, 1},
		{"explicit no", `{"id":1,"plu":301,"name":"Porter","product_type":1,"is_in_use":2}`, 301, 2},
		{"out of range", `{"id":1,"plu":302,"name":"Bock","product_type":1,"is_in_use":3}`, 302, 0},
		{"explicit 0", `{"id":1,"plu":303,"name":"Kölsch","product_type":1,"is_in_use":0}`, 303, 0},
	} {
		code, body := f.raw("/m2m/api/addproduct", "Bearer "+f.tok, c.body)
		if c.want == 0 {
			if code != 400 {
				t.Errorf("%s: HTTP %d %s", c.name, code, body)
			}
			continue
		}
		if code != 200 {
			t.Fatalf("%s: HTTP %d %s", c.name, code, body)
		}
		if p := list(c.plu); p.IsInUse != c.want {
			t.Errorf("%s: is_in_use %d, want %d", c.name, p.IsInUse, c.want)
		}
	}
	// editproduct refuses an explicit 0 too; without is_in_use it keeps it.
	if code, body := f.raw("/m2m/api/editproduct", "Bearer "+f.tok, `{"id":1,"plu":103,"name":"Weizen","product_type":1,"is_active":1,"is_in_use":0}`); code != 400 {
		t.Fatalf("edit with is_in_use 0: %d %s", code, body)
	}
	// editproduct without is_in_use keeps it.
	if code, body := f.raw("/m2m/api/editproduct", "Bearer "+f.tok, `{"id":1,"plu":103,"name":"Weizen dunkel","product_type":1,"is_active":1}`); code != 200 {
		t.Fatalf("edit: %d %s", code, body)
	}
	if p := list(103); p.IsInUse != 1 || p.Name != "Weizen dunkel" {
		t.Fatalf("after edit: %+v", p)
	}
}

func TestTransactionsReadBackEveryField(t *testing.T) {
	f := newFixture(t)
	sent := tx(0, 102, 700, 500)
	sent.ItemID, sent.PricePerUnit, sent.Servings = "102-05", 14, 100
	if r := f.send(sent); r.RecordsInserted != 1 {
		t.Fatalf("send: %+v", r)
	}
	var got struct {
		Transactions []map[string]any `json:"transactions"`
	}
	f.post("transactions", map[string]any{"id": 1, "start_time": "2026-11-22 00:00:00", "end_time": "2026-11-22 23:59:59"}, &got)
	if len(got.Transactions) != 1 {
		t.Fatalf("%+v", got)
	}
	want := map[string]any{"plu": 102.0, "money_amount": 7.0, "volume_amount": 50.0, "volume_amount_dp": 1.0,
		"servings": 1.0, "price_per_unit": 14.0, "item_id": "102-05", "external_id": "1001-1", "name_customer": "Line 1",
		"card_type": "OPEN_POUR", "card_type_number": 33.0, "card_id": 0.0, "device_id": 1001.0, "location_id": "1",
		"tst_start": float64(time.Date(2026, 11, 22, 17, 59, 0, 0, time.UTC).Unix()),
		"tst_stop":  float64(time.Date(2026, 11, 22, 17, 59, 8, 0, time.UTC).Unix())}
	for k, v := range want {
		if got.Transactions[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got.Transactions[0][k], v)
		}
	}
}

func TestWireTimesAreInTheServerZone(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	chatham, err := time.LoadLocation("Pacific/Chatham")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	f := newFixture(t)
	var res map[string]string
	f.post("setserverconfig", map[string]any{"id": 1, "time_zone": "Asia/Kolkata"}, &res)
	if res["time_zone"] != "success" {
		t.Fatalf("setserverconfig: %v", res)
	}
	f.post("setserverconfig", map[string]any{"id": 1, "time_zone": "Mars/Olympus"}, &res)
	if !strings.HasPrefix(res["time_zone"], "error") {
		t.Fatalf("unknown zone accepted: %v", res)
	}
	if r := f.send(tx(0, 101, 650, 500)); r.RecordsInserted != 1 {
		t.Fatalf("send: %+v", r)
	}
	var got struct {
		Transactions []map[string]any `json:"transactions"`
	}
	f.post("transactions", map[string]any{"id": 1, "start_time": "2026-11-22 17:00:00", "end_time": "2026-11-22 18:00:00"}, &got)
	want := float64(time.Date(2026, 11, 22, 17, 59, 0, 0, kolkata).Unix())
	if len(got.Transactions) != 1 || got.Transactions[0]["tst_start"] != want {
		t.Fatalf("got %v, want tst_start %v", got, want)
	}
	// A new emulator started in a zone seeds time_zone with it.
	s, err := New(Options{DataDir: t.TempDir(), Loc: chatham})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.st.Config["time_zone"] != "Pacific/Chatham" || s.loc.String() != chatham.String() {
		t.Fatalf("time_zone %q", s.st.Config["time_zone"])
	}
}

func TestDeviceCountCountsDevices(t *testing.T) {
	f := newFixture(t)
	count := func() int {
		var r map[string]int
		f.post("getdevicecount", `{"id":1}`, &r)
		return r["devicecount"]
	}
	// The fixture and a POS have logged in: API clients, not devices.
	f.raw("/m2m/api/authToken", "", `{"username":"tapagent","password":"tapagent","id":9,"name":"pos","type":"json-server-control","version":1}`)
	if n := count(); n != 0 {
		t.Fatalf("%d devices after API logins", n)
	}
	f.send(tx(0, 101, 650, 500)) // device 1001
	f.post("cardinfo", ttg.CardInfoRequest{ID: 1, LocationID: "1", DeviceID: 2002, CardID: 1000001}, nil)
	f.post("cardinfo", ttg.CardInfoRequest{ID: 1, LocationID: "1", DeviceID: 0, CardID: 1000001}, nil)
	if n := count(); n != 2 {
		t.Fatalf("%d devices, want 2", n)
	}
	f.now = f.now.Add(connectedWindow)
	if n := count(); n != 0 {
		t.Fatalf("%d devices after %v of silence", n, connectedWindow)
	}
	if err := f.s.RegisterClient(1001, "http://127.0.0.1:1", ""); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d devices with a registered listener", n)
	}
}

func TestRemoteLoginRepliesSpellDeviceID(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ path, key, other string }{
		{"remoteLogin", "deviceID", "deviceId"},              // 3.29
		{"restartClientApplication", "deviceId", "deviceID"}, // 3.32
		{"getdevicestatus", "deviceId", "deviceID"},          // 3.34
	} {
		var r map[string]any
		f.post(c.path, map[string]any{"id": 1, "deviceID": 4242, "line": 1, "volumeLimit": 300000}, &r)
		if _, has := r[c.key]; !has || r["error"] != float64(ttg.RLClientNotFound) {
			t.Errorf("%s: %v has no %s", c.path, r, c.key)
		}
		if _, has := r[c.other]; has {
			t.Errorf("%s: %v also has %s", c.path, r, c.other)
		}
	}
}

func FuzzCallName(f *testing.F) {
	for _, p := range []string{"/m2m/api/authToken", "/api/getkeglevels/", "/M2M/API/x//", "/", "", "/m2m/api/", "/apI/\xff"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, canonical := callName(p)
		if canonical && (strings.HasSuffix(p, "/") || !strings.HasPrefix(p, "/m2m/api/")) {
			t.Fatalf("%q called canonical", p)
		}
		if name != "" && !strings.Contains(strings.ToLower(p), strings.ToLower(name)) {
			t.Fatalf("%q: name %q not in the path", p, name)
		}
		if strings.HasSuffix(name, "/") {
			t.Fatalf("%q: name %q keeps a slash", p, name)
		}
	})
}

// FuzzDecode: any body either decodes or is refused with an error; an
// unknown field alone is never a refusal.
func FuzzDecode(f *testing.F) {
	for _, b := range []string{`{"id":1}`, `{"id":1,"x":2}`, `{"id":"1"}`, `{`, `null`, `[]`, `{"plu":1,"extra":{"a":[1,2]}}`} {
		f.Add([]byte(b))
	}
	s := &Server{log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var req struct {
			ID  int64 `json:"id"`
			PLU int   `json:"plu"`
		}
		err := s.decode(raw, &req)
		var any map[string]json.RawMessage
		if json.Unmarshal(raw, &any) == nil && err != nil {
			var typed struct {
				ID  int64 `json:"id"`
				PLU int   `json:"plu"`
			}
			if json.Unmarshal(raw, &typed) == nil {
				t.Fatalf("%q refused: %v", raw, err)
			}
		}
	})
}

// TestLeniencyIsLogged: what was accepted but unusual is in the log.
func TestLeniencyIsLogged(t *testing.T) {
	var logBuf syncBuffer
	f := newFixture(t)
	f.s.log = slog.New(slog.NewTextHandler(&logBuf, nil))
	f.raw("/m2m/api/ProductList/", "Bearer "+f.tok, `{"id":1}`)
	f.raw("/m2m/api/productlist", "bearer "+f.tok, `{"id":1}`)
	f.raw("/m2m/api/productlist", "Bearer "+f.tok, `{"id":1,"client_version":"x"}`)
	out := logBuf.String()
	for _, want := range []string{"non-canonical path", "call=productlist", "non-canonical authorization scheme", "unknown field"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStopInTheRepeatedHour: a client that writes a pour across Berlin's
// fall-back change on the wall clock sends stop 02:00:10 (CET) before start
// 02:59:50 (CEST). The emulator reads the ambiguous hour both ways and
// stores the true 20 s; a stop before its start outside that hour, or by
// more than the change, is still refused.
func TestStopInTheRepeatedHour(t *testing.T) {
	if _, err := time.LoadLocation("Europe/Berlin"); err != nil {
		t.Skip("no time zone database:", err)
	}
	f := newFixture(t)
	var res map[string]string
	f.post("setserverconfig", map[string]any{"id": 1, "time_zone": "Europe/Berlin"}, &res)
	for _, c := range []struct {
		name, start, stop string
		ok                bool
		secs              int64
	}{
		{"across the change", "2026-10-25 02:59:50", "2026-10-25 02:00:10", true, 20},
		{"the whole repeated hour", "2026-10-25 02:00:00", "2026-10-25 02:00:00", true, 0},
		{"stop before start on an ordinary night", "2026-10-26 02:59:50", "2026-10-26 02:00:10", false, 0},
		{"stop before start in the hour before the change", "2026-10-25 01:59:50", "2026-10-25 01:00:10", false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := tx(0, 101, 650, 500)
			x.Start, x.Stop, x.ExternalID = c.start, c.stop, c.name
			r := f.send(x)
			if c.ok != (r.RecordsInserted == 1) || (!c.ok && !strings.Contains(r.InfoString, "tst_stop before tst_start")) {
				t.Fatalf("%+v", r)
			}
			if c.ok {
				st := f.s.Transactions()
				if got := st[len(st)-1]; got.StopEpoch-got.StartEpoch != c.secs {
					t.Fatalf("stored %d s, want %d", got.StopEpoch-got.StartEpoch, c.secs)
				}
			}
		})
	}
}

// TestFailedCommitKeepsNothing: when the database commit of an upload
// fails (a full disk), the upload is answered 500 and nothing of it stays
// in memory either, so the resend is inserted, not skipped as a duplicate
// of a record the server never stored.
func TestFailedCommitKeepsNothing(t *testing.T) {
	f := newFixture(t)
	upload := func(path string, body any) (int, ttg.UploadResult) {
		var r ttg.UploadResult
		code := f.post(path, body, &r)
		return code, r
	}
	card := ttg.CardPurchaseRequest{LocationID: 1, DeviceID: 3001, CardPurchases: []ttg.CardPurchase{
		{CardID: 77, Created: "2026-11-22 18:00:00", Type: 111, CardName: "Kim", StaffName: "Bar"},
		{CardID: 77, Created: "2026-11-22 18:00:01", Type: 113, Amount: 1500, CardName: "Kim", StaffName: "Bar"}}}
	pour := ttg.TransactionRequest{ID: 1001, LocationID: "1", DeviceID: 1001, Transactions: []ttg.Transaction{tx(0, 101, 650, 500)}}
	for _, c := range []struct {
		name string
		path string
		body any
		n    int
		kept func() bool
	}{
		{"card purchases", "cardpurchase", card, 2, func() bool { _, ok := f.s.Card(77); return ok || len(f.s.CardPurchases()) > 0 }},
		{"transactions", "transaction", pour, 1, func() bool { return len(f.s.Transactions()) > 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.s.SetFaults(Faults{FailCommit: 1})
			if code, _ := upload(c.path, c.body); code != 500 || c.kept() {
				t.Fatalf("failed commit: HTTP %d, kept %v", code, c.kept())
			}
			code, r := upload(c.path, c.body)
			if code != 200 || r.RecordsInserted != c.n || r.RecordsSkipped != 0 {
				t.Fatalf("resend: HTTP %d %+v", code, r)
			}
		})
	}
	if c, _ := f.s.Card(77); c.Credit != 1500 {
		t.Fatalf("card after the resend: %+v", c)
	}
}

// TestZoneOptionAndLocal: Options.Zone sets time_zone on every start, over
// what the database holds; "Local" is no IANA name and is refused, as an
// option and through setserverconfig, and a stored "Local" is not used.
func TestZoneOptionAndLocal(t *testing.T) {
	if _, err := time.LoadLocation("Asia/Kolkata"); err != nil {
		t.Skip("no time zone database:", err)
	}
	dir := t.TempDir()
	open := func(o Options) (*Server, error) { o.DataDir = dir; return New(o) }
	for _, c := range []struct {
		zone, want string
	}{{"", "UTC"}, {"Asia/Kolkata", "Asia/Kolkata"}, {"", "Asia/Kolkata"}, {"Europe/Berlin", "Europe/Berlin"}} {
		s, err := open(Options{Zone: c.zone})
		if err != nil {
			t.Fatal(err)
		}
		got, loc := s.st.Config["time_zone"], s.loc.String()
		s.Close()
		if got != c.want || loc != c.want {
			t.Fatalf("zone %q: time_zone %q, reading in %s; want %q", c.zone, got, loc, c.want)
		}
	}
	if _, err := open(Options{Zone: "Local"}); err == nil || !strings.Contains(err.Error(), "IANA") {
		t.Fatalf("Local accepted: %v", err)
	}
	f := newFixture(t)
	var res map[string]string
	f.post("setserverconfig", map[string]any{"id": 1, "time_zone": "Local"}, &res)
	if !strings.HasPrefix(res["time_zone"], "error") {
		t.Fatalf("Local accepted by setserverconfig: %v", res)
	}
}

// FuzzFallBackSpan: whatever pair of wall times a client sends with the
// stop before the start, the reread span either stays as parsed or starts
// no later than it stops, moved by at most an offset change, with ends
// that still read as the wall times sent.
func FuzzFallBackSpan(f *testing.F) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Skip("no time zone database:", err)
	}
	f.Add("2026-10-25 02:59:50", "2026-10-25 02:00:10")
	f.Add("2026-10-25 01:59:50", "2026-10-25 01:00:10")
	f.Add("2026-03-29 03:00:00", "2026-03-29 01:59:59")
	f.Add("2026-10-25 02:00:00", "2026-10-25 02:00:00")
	f.Fuzz(func(t *testing.T, a, b string) {
		start, err1 := ttg.ParseTime(a, berlin)
		stop, err2 := ttg.ParseTime(b, berlin)
		if err1 != nil || err2 != nil || !stop.Before(start) { // checkTx calls it for these only
			return
		}
		s2, e2 := fallBackSpan(start, stop, berlin)
		if s2.Equal(start) && e2.Equal(stop) {
			return
		}
		moved := start.Sub(s2) + e2.Sub(stop)
		if e2.Before(s2) || moved <= 0 || moved > 2*time.Hour {
			t.Fatalf("%q..%q reread as %v..%v", a, b, s2, e2)
		}
		wall := func(t time.Time) string { return t.In(berlin).Format(ttg.TimeLayout) }
		if wall(s2) != wall(start) || wall(e2) != wall(stop) {
			t.Fatalf("%q..%q reread as other wall times %v..%v", a, b, s2.In(berlin), e2.In(berlin))
		}
	})
}

// FuzzInUseGiven: a body is refused for is_in_use exactly when it sets
// the field to 0; a body without the field, or not JSON, is left to the
// other checks.
func FuzzInUseGiven(f *testing.F) {
	for _, b := range []string{`{"is_in_use":0}`, `{"is_in_use":1}`, `{}`, `{"is_in_use":null}`, `{"is_in_use":"0"}`, `{`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m struct {
			IsInUse *int `json:"is_in_use"`
		}
		zero := json.Unmarshal(raw, &m) == nil && m.IsInUse != nil && *m.IsInUse == 0
		if err := inUseGiven(raw); (err != nil) != zero {
			t.Fatalf("%q: %v", raw, err)
		}
	})
}
