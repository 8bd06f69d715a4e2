package ttgserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
	"github.com/tapagent/tapagent/ttg"
)

type fixture struct {
	t   *testing.T
	s   *Server
	url string
	tok string
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s, err := New(Options{DataDir: dir, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); s.Close() })
	f.url = hs.URL
	var auth ttg.AuthResponse
	if code := f.post("authToken", ttg.AuthRequest{Username: "tapagent", Password: "tapagent", ID: 1001, Type: ttg.ClientType, Version: 1}, &auth); code != 200 || strings.Count(auth.AuthToken, ".") != 2 {
		t.Fatalf("auth: %d %+v", code, auth)
	}
	f.tok = auth.AuthToken
	return f
}

func (f *fixture) post(path string, body, out any) int {
	f.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(http.MethodPost, f.url+"/m2m/api/"+path, bytes.NewReader(raw))
	if f.tok != "" {
		req.Header.Set("Authorization", "Bearer "+f.tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			f.t.Fatalf("%s: reply not JSON: %v", path, err)
		}
	}
	return res.StatusCode
}

func tx(card int64, plu int, money, vol int32) ttg.Transaction {
	return ttg.Transaction{CardID: card, CardType: ttg.CardOpenPour, Start: "2026-11-22 17:59:00", Stop: "2026-11-22 17:59:08",
		PLU: plu, Money: money, Volume: vol, VolumeDP: 1, Servings: 60, ExternalID: "1001-1", CardName: "Line 1", PricePerUnit: 13}
}

func (f *fixture) send(txs ...ttg.Transaction) ttg.UploadResult {
	var r ttg.UploadResult
	if code := f.post("transaction", ttg.TransactionRequest{ID: 1001, LocationID: "1", DeviceID: 1001, Transactions: txs}, &r); code != 200 {
		f.t.Fatalf("transaction: HTTP %d", code)
	}
	return r
}

func TestEveryEndpointNeedsAToken(t *testing.T) {
	f := newFixture(t)
	// Sections 3.2 to 3.41 of the spec are one call each (3.1 is "General").
	if n := len(f.s.routes()); n != 40 {
		t.Fatalf("%d endpoints, the spec has 40", n)
	}
	tok := f.tok
	for path := range f.s.routes() {
		if path == "authToken" {
			continue
		}
		f.tok = "not-a-token"
		if code := f.post(path, `{"id":1}`, nil); code != http.StatusForbidden {
			t.Errorf("%s with a bad token: HTTP %d", path, code)
		}
		f.tok = tok
		if code := f.post(path, `{"id":1}`, nil); code >= 500 {
			t.Errorf("%s: HTTP %d", path, code)
		}
	}
	// A token past its expiry, or signed by another server, is refused.
	f.now = f.now.Add(25 * time.Hour)
	if code := f.post("productlist", `{"id":1}`, nil); code != http.StatusForbidden {
		t.Errorf("expired token: HTTP %d", code)
	}
	f.now = f.now.Add(-25 * time.Hour)
	forged := cloudemu.SignToken([]byte("another secret"), cloudemu.Claims{Sub: "tapagent", Exp: f.now.Add(time.Hour).Unix()})
	f.tok = forged
	if code := f.post("productlist", `{"id":1}`, nil); code != http.StatusForbidden {
		t.Errorf("forged token: HTTP %d", code)
	}
	f.tok = ""
	var r ttg.AuthResponse
	if code := f.post("authToken", ttg.AuthRequest{Username: "tapagent", Password: "wrong", Type: ttg.ClientType}, &r); code != 400 || r.Error == "" {
		t.Fatalf("bad password: %d %+v", code, r)
	}
}

func TestTransactionValidationAndDuplicates(t *testing.T) {
	f := newFixture(t)
	good := tx(0, 101, 520, 4000)
	if r := f.send(good); !r.Valid || r.RecordsInserted != 1 {
		t.Fatalf("good: %+v", r)
	}
	if r := f.send(good); r.RecordsSkipped != 1 || r.RecordsInserted != 0 {
		t.Fatalf("duplicate: %+v", r)
	}
	mut := func(m func(*ttg.Transaction)) ttg.Transaction { x := tx(0, 101, 100, 100); m(&x); return x }
	cases := map[string]ttg.Transaction{
		"tst_start":                   mut(func(x *ttg.Transaction) { x.Start = "22.11.2026 17:00" }),
		"tst_stop":                    mut(func(x *ttg.Transaction) { x.Stop = "2026-11-22 17:00:00" }),
		"plu 999":                     mut(func(x *ttg.Transaction) { x.PLU = 999 }),
		"external_id":                 mut(func(x *ttg.Transaction) { x.ExternalID = "" }),
		"card_name":                   mut(func(x *ttg.Transaction) { x.CardName = "" }),
		"card_type":                   mut(func(x *ttg.Transaction) { x.CardType = 5 }),
		"item_id":                     mut(func(x *ttg.Transaction) { x.ItemID = "nope" }),
		"negative":                    mut(func(x *ttg.Transaction) { x.Money = -1 }),
		"empty transaction must name": mut(func(x *ttg.Transaction) { x.PLU, x.Money, x.Volume = 0, 0, 0 }),
		"online card":                 mut(func(x *ttg.Transaction) { x.CardType, x.CardID = ttg.CardOnlinePre, 5 }),
	}
	n := int32(1)
	for want, bad := range cases {
		n++
		r := f.send(tx(0, 102, n, 1), bad)
		if r.Valid || r.RecordsMalformatted != 1 || r.RecordsInserted != 1 || !strings.Contains(r.InfoString, strings.Fields(want)[0]) {
			t.Errorf("%s: %+v", want, r)
		}
		f.send() // nothing
	}
	var r ttg.UploadResult
	f.post("transaction", `{"id":1,"locationID":"1","deviceID":1001,"transactions":[{"card_id":"x"}]}`, &r)
	if r.Valid || r.RecordsMalformatted != 1 {
		t.Fatalf("wrong type: %+v", r)
	}
	f.post("transaction", `{"id":1,"deviceID":1001,"transactions":[]}`, &r)
	if r.Valid || !strings.Contains(r.InfoString, "locationID") {
		t.Fatalf("missing locationID: %+v", r)
	}
}

func TestCardLoginLockAndRelease(t *testing.T) {
	f := newFixture(t)
	var ci ttg.CardInfo
	if code := f.post("cardinfo", ttg.CardInfoRequest{ID: 1, LocationID: "1", DeviceID: 1001, Login: true, CardID: 1000001}, &ci); code != 200 || ci.Credit != 2000 || ci.TypeString != "ONLINE PRE" {
		t.Fatalf("cardinfo: %d %+v", code, ci)
	}
	var e map[string]string
	if code := f.post("cardinfo", ttg.CardInfoRequest{DeviceID: 2002, Login: true, CardID: 1000001}, &e); code != http.StatusConflict {
		t.Fatalf("second device got the card: %d", code)
	}
	pour := tx(1000001, 101, 390, 3000)
	pour.CardType = ttg.CardOnlinePre
	f.send(pour)
	c, _ := f.s.Card(1000001)
	if c.LockedBy != 0 || c.Credit != 1610 || c.Balance != 390 || c.ConsumedServings != 60 {
		t.Fatalf("after pour: %+v", c)
	}
	f.post("cardinfo", ttg.CardInfoRequest{DeviceID: 2002, Login: true, CardID: 1000001}, &ci)
	release := tx(1000001, 0, 0, 0)
	release.CardType = ttg.CardOnlinePre
	var r ttg.UploadResult
	f.post("transaction", ttg.TransactionRequest{LocationID: "1", DeviceID: 2002, Transactions: []ttg.Transaction{release}}, &r)
	if c, _ := f.s.Card(1000001); c.LockedBy != 0 || !r.Valid {
		t.Fatalf("empty transaction did not release: %+v %+v", c, r)
	}
	if code := f.post("cardinfo", ttg.CardInfoRequest{CardID: 42}, &e); code != http.StatusNotFound {
		t.Fatalf("unknown card: %d", code)
	}
}

func TestCardPurchases(t *testing.T) {
	f := newFixture(t)
	cp := func(card int64, typ int, amount int64) ttg.UploadResult {
		var r ttg.UploadResult
		f.post("cardpurchase", ttg.CardPurchaseRequest{LocationID: 1, DeviceID: 3001, CardPurchases: []ttg.CardPurchase{{
			CardID: card, Created: "2026-11-22 18:00:00", Type: typ, Amount: amount, CardName: "Kim", StaffName: "Bar", AlcoholAllowed: 1}}}, &r)
		return r
	}
	if r := cp(77, 111, 0); r.RecordsInserted != 1 {
		t.Fatalf("create: %+v", r)
	}
	if r := cp(77, 113, 1500); r.RecordsInserted != 1 {
		t.Fatalf("top up: %+v", r)
	}
	if c, _ := f.s.Card(77); c.Credit != 1500 || c.Type != ttg.CardOnlinePre || !c.AlcoholAllowed {
		t.Fatalf("card: %+v", c)
	}
	if r := cp(77, 113, 1500); r.RecordsSkipped != 1 {
		t.Fatalf("duplicate top up counted: %+v", r)
	}
	for _, bad := range []struct {
		card int64
		typ  int
		amt  int64
	}{{77, 13, 0}, {78, 113, 5}, {77, 119, 5}} {
		if r := cp(bad.card, bad.typ, bad.amt); r.Valid || r.RecordsMalformatted != 1 {
			t.Errorf("%+v accepted: %+v", bad, r)
		}
	}
	if r := cp(77, 199, 0); r.RecordsInserted != 1 {
		t.Fatalf("erase: %+v", r)
	}
	if _, ok := f.s.Card(77); ok {
		t.Fatal("erased card still there")
	}
}

func TestKegLevelsFromTransactions(t *testing.T) {
	f := newFixture(t)
	whole := tx(0, 101, 6500, 50000) // 5000.0 cl = 50 L: the whole keg, after it was tapped
	whole.Start, whole.Stop = "2026-11-22 18:00:05", "2026-11-22 18:00:59"
	f.send(whole)
	var kl map[string]any
	f.post("getkeglevels", map[string]any{"device_id": 1001, "line_num": 1}, &kl)
	if kl["fill_level_perc"].(float64) != 0 || kl["fill_level_keg_size"].(float64) != 50000 {
		t.Fatalf("keg: %v", kl)
	}
	f.post("getkeglevels", map[string]any{"device_id": 1001, "line_num": 2}, &kl)
	if kl["fill_level_perc"].(float64) != 10000 {
		t.Fatalf("untouched keg: %v", kl)
	}
}

func TestConfigAndCatalogCalls(t *testing.T) {
	f := newFixture(t)
	var res map[string]string
	f.post("setserverconfig", map[string]any{"id": 1, "daystart_offset": 30, "decimal_sep": ",", "uuid": "x", "servings_per_patron": 300}, &res)
	if !strings.HasPrefix(res["daystart_offset"], "error") || res["decimal_sep"] != "success" || !strings.HasPrefix(res["uuid"], "error") {
		t.Fatalf("setserverconfig: %v", res)
	}
	var stamp ttg.ConfigExportStamp
	f.post("gettimestampconfigexport", `{"id":1}`, &stamp)
	f.now = f.now.Add(time.Minute)
	f.post("configupdate", `{"id":1}`, nil)
	var stamp2 ttg.ConfigExportStamp
	f.post("gettimestampconfigexport", `{"id":1}`, &stamp2)
	if stamp2.EpochSecond <= stamp.EpochSecond {
		t.Fatal("configupdate did not move the export stamp")
	}
	var info map[string]string
	if code := f.post("addproduct", map[string]any{"id": 1, "name": "Stout", "price_per_unit": 15, "product_type": 1, "is_active": 1, "abv": 42, "ibu": -1}, &info); code != 200 || !strings.Contains(info["info"], "plu: 1") {
		t.Fatalf("addproduct: %d %v", code, info)
	}
	if code := f.post("addproduct", map[string]any{"id": 1, "plu": 101, "name": "Dup", "product_type": 1}, nil); code != 400 {
		t.Fatalf("plu overwrite without flag: %d", code)
	}
	f.post("changeproductprice", map[string]any{"id": 1, "products": []map[string]any{{"plu": 101, "price_per_unit": 12}}}, nil)
	var pl ttg.ProductList
	f.post("productlist", map[string]any{"id": 1, "plu": 101}, &pl)
	if len(pl.Products) != 1 || pl.Products[0].PricePerUnit != 12 {
		t.Fatalf("productlist: %+v", pl)
	}
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nfake"))
	if code := f.post("changeproductlogo", map[string]any{"id": 1, "plu": 101, "product_logo": png}, nil); code != 200 {
		t.Fatalf("logo: %d", code)
	}
	if code := f.post("changeproductlogo", map[string]any{"id": 1, "plu": 101, "product_logo": base64.StdEncoding.EncodeToString([]byte("GIF89a"))}, nil); code != 400 {
		t.Fatalf("gif logo: %d", code)
	}
	hh := ttg.HappyHour{GroupID: "7", Name: "After work", StartTime: 17 * 60, EndTime: 18 * 60, PriceLevel: ttg.PriceHH1}
	f.post("addhappyhour", map[string]any{"id": 1, "happyhours": []ttg.HappyHour{hh, hh}}, nil)
	var hl ttg.HappyHourList
	f.post("gethappyhours", `{"id":1}`, &hl)
	if len(hl.HappyHours) != 2 || hl.HappyHours[0].HappyID == hl.HappyHours[1].HappyID {
		t.Fatalf("happy hours: %+v", hl)
	}
	if code := f.post("addhappyhour", map[string]any{"id": 1, "happy_name": "x", "price_level": 9}, nil); code != 400 {
		t.Fatalf("bad happy hour accepted: %d", code)
	}
	f.post("deletehappyhour", map[string]any{"id": 1, "delete_id": 7, "isgroupid": 1}, nil)
	f.post("gethappyhours", `{"id":1}`, &hl)
	if len(hl.HappyHours) != 0 {
		t.Fatalf("group delete left %d", len(hl.HappyHours))
	}
	var lp ttg.LinePortions
	f.post("getPortionsForDeviceAndLine", ttg.LinePortionsRequest{ID: 1, DeviceID: 1001, Line: 2}, &lp)
	if len(lp.Portions) != 2 || lp.Portions[0].Price != 390 || lp.Portions[0].VolumeUnit != "cl" {
		t.Fatalf("line portions: %+v", lp)
	}
	var ctl map[string]any
	f.post("remoteLogin", map[string]any{"id": 1, "deviceID": 1001}, &ctl)
	if ctl["error"].(float64) != 4001 {
		t.Fatalf("remoteLogin without a connected client: %v", ctl)
	}
}

func TestStatePersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(Options{DataDir: dir})
	hs := httptest.NewServer(s.Handler())
	f := &fixture{t: t, s: s, url: hs.URL}
	var auth ttg.AuthResponse
	f.post("authToken", ttg.AuthRequest{Username: "tapagent", Password: "tapagent", Type: ttg.ClientType}, &auth)
	f.tok = auth.AuthToken
	f.send(tx(0, 101, 100, 100))
	uuid := s.st.UUID
	hs.Close()
	s.Close()
	s2, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if len(s2.Transactions()) != 1 || s2.st.UUID != uuid {
		t.Fatalf("after restart: %d transactions, uuid %s vs %s", len(s2.Transactions()), s2.st.UUID, uuid)
	}
}

func FuzzTransactionBody(f *testing.F) {
	good, _ := json.Marshal(ttg.TransactionRequest{LocationID: "1", DeviceID: 1001, Transactions: []ttg.Transaction{tx(0, 101, 1, 1)}})
	f.Add(good)
	f.Add([]byte(`{"deviceID":1,"locationID":"1","transactions":[{},{"plu":"x"},null]}`))
	f.Add([]byte(`[]`))
	s, err := New(Options{DataDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, body []byte) {
		rep := s.transaction(body)
		r, ok := rep.body.(ttg.UploadResult)
		if rep.status != 200 || !ok {
			t.Fatalf("reply %d %T", rep.status, rep.body)
		}
		if r.Valid && r.RecordsMalformatted != 0 {
			t.Fatalf("valid with malformed records: %+v", r)
		}
	})
}
