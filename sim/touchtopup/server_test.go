package touchtopup

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
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
	key string

	clk *clock.Manual
}

func start(t *testing.T, o Options) *client {
	t.Helper()
	c := &client{t: t, key: "tapagent-key", clk: clock.NewManual(time.Date(2026, 6, 16, 7, 54, 7, 0, time.UTC))}
	o.Now = c.clk.Now
	if o.Companies == nil {
		o.Companies = []Company{{ID: 1, Name: "ICRTouch Testing", DB: "10", Customers: map[int64]*Customer{
			5: {ID: 5, Title: "Mr", FirstName: "John", LastName: "Smith", AccountNumber: "54321", Balance: 610, LinkCode: "463607569"},
		}}}
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
	return c
}

// get calls a method and decodes the reply into a generic map.
func (c *client) call(method, path string, form url.Values) (int, map[string]any) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.url+"/index.php/"+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.key != "" {
		req.Header.Set("X-API-KEY", c.key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s: reply %q: %v", path, raw, err)
	}
	return res.StatusCode, out
}

func (c *client) ok(method, path string, form url.Values) map[string]any {
	c.t.Helper()
	code, out := c.call(method, path, form)
	if code != 200 || out["status"] != 1.0 {
		c.t.Fatalf("%s: %d %v", path, code, out)
	}
	return out
}

// refused checks a status-0 answer and its msg.
func (c *client) refused(method, path string, form url.Values, httpStatus int, msg string) {
	c.t.Helper()
	code, out := c.call(method, path, form)
	if code != httpStatus || out["status"] != 0.0 || !strings.Contains(out["msg"].(string), msg) {
		c.t.Errorf("%s: %d %v, want %d status 0 with %q", path, code, out, httpStatus, msg)
	}
}

func TestAccounts(t *testing.T) {
	c := start(t, Options{})
	bal := c.ok("GET", "accounts/customer_balance/coid/1/custid/5", nil)
	if b := bal["balance"].(map[string]any); b["BALANCE"] != "610" || b["LAST_UPDATE"] != "2026-06-16 08:54:07" {
		t.Errorf("balance: %v", bal)
	}
	det := c.ok("GET", "accounts/customer_details/coid/1/custid/5/", nil)
	if cu := det["customer"].(map[string]any); cu["FIRSTNAME"] != "John" || cu["ACCOUNTNUMBER"] != "54321" || cu["TITLE"] != "Mr" {
		t.Errorf("details: %v", det)
	}
	if co := c.ok("GET", "accounts/company_details/cid/1", nil); co["name"] != "ICRTouch Testing" || co["db"] != "10" {
		t.Errorf("company: %v", co)
	}
	c.refused("GET", "accounts/customer_balance/coid/1/custid/6", nil, 200, "No Data Available")
	c.refused("GET", "accounts/customer_balance/coid/1", nil, 200, "Missing parameter custid")
	c.refused("GET", "accounts/customer_balance/coid/1/custid", nil, 200, "name/value pairs")
	c.refused("GET", "accounts/customer_balance/coid/x/custid/5", nil, 200, "coid must be")
	c.refused("GET", "accounts/debit/coid/1/custid/5", nil, 404, "Unknown method")
	c.refused("POST", "accounts/customer_balance/coid/1/custid/5", url.Values{}, 405, "Unknown method")
	c.key = "wrong"
	c.refused("GET", "accounts/customer_balance/coid/1/custid/5", nil, 403, "Invalid API key")
	c.key = ""
	c.refused("GET", "accounts/customer_balance/coid/1/custid/5", nil, 403, "Invalid API key")

	if v := c.s.o.KeyHeader; v != "X-API-KEY" {
		t.Errorf("key header %q", v)
	}
	strict := start(t, Options{ErrorStatusCodes: true})
	strict.refused("GET", "accounts/customer_balance/coid/1/custid/6", nil, 404, "No Data Available")
	strict.refused("GET", "accounts/customer_balance/coid/1", nil, 400, "Missing parameter")
}

func TestLinkKeyAndUsers(t *testing.T) {
	c := start(t, Options{})
	key, ok := c.s.LinkKey(1, 5)
	if !ok || key != "000001-000005-463607569" {
		t.Fatalf("link key %q", key)
	}
	if v := c.ok("GET", "accounts/validate_accountkey/linkkey/"+key, nil); v["msg"] != "linkkey is valid" {
		t.Errorf("validate: %v", v)
	}
	c.refused("GET", "accounts/validate_accountkey/linkkey/000001-000005-463607560", nil, 200, "not valid")
	c.refused("GET", "accounts/validate_accountkey/linkkey/1-5-463607569", nil, 200, "not valid")

	form := url.Values{"email": {"someone@example.com"}, "password": {"mysecretpassword"}, "firstname": {"John"}, "surname": {"Smith"}, "title": {"Mr"}}
	made := c.ok("POST", "users/user_create", form)
	uid := itoa(int64(made["uid"].(float64)))
	c.refused("POST", "users/user_create", form, 200, "already registered")
	if u := c.ok("GET", "users/user_details/uid/"+uid, nil)["user"].(map[string]any); u["email"] != "someone@example.com" || u["surname"] != "Smith" {
		t.Errorf("user details: %v", u)
	}
	linked := c.ok("POST", "users/user_link_account", url.Values{"uid": {uid}, "linkkey": {key}})
	if linked["coid"] != "1" || linked["custid"] != "5" || linked["uid"] != uid {
		t.Errorf("link: %v", linked)
	}
	auth := c.ok("GET", "accounts/auth_user/username/someone@example.com/password/mysecretpassword", nil)
	if auth["auth"] != "true" || auth["userid"] != uid {
		t.Fatalf("auth: %v", auth)
	}
	if co := auth["companies"].(map[string]any)["1"].(map[string]any); co["company_id"] != "1" || co["customers"].([]any)[0] != "5" {
		t.Errorf("companies: %v", auth["companies"])
	}
	code, bad := c.call("GET", "accounts/auth_user/username/fred/password/x", nil)
	if code != 200 || bad["status"] != 0.0 || bad["auth"] != "false" || bad["msg"] != "Could not login user with username fred using password supplied" {
		t.Errorf("failed login: %d %v", code, bad)
	}
	if v := c.ok("GET", "users/user_check_email_exists/email/someone@example.com", nil); v["msg"] != "Email Found" {
		t.Errorf("email exists: %v", v)
	}
	reset := c.ok("GET", "users/user_forgot_password/email/someone@example.com", nil)
	code, _ = c.call("GET", "users/user_check_reset_code/userid/"+uid+"/resetcode/"+reset["resetcode"].(string), nil)
	if code != 200 {
		t.Errorf("reset code check: %d", code)
	}
	c.ok("POST", "users/user_change_password", url.Values{"userid": {uid}, "resetcode": {reset["resetcode"].(string)}, "new_password": {"another1"}})
	c.refused("GET", "accounts/auth_user/username/someone@example.com/password/mysecretpassword", nil, 200, "Could not login")
	c.refused("POST", "users/user_change_password", url.Values{"userid": {uid}, "password": {"wrong"}, "new_password": {"another2"}}, 200, "wrong")

	alt := start(t, Options{UserCreateAsUser: true})
	if v := alt.ok("POST", "users/user_create", form); v["user"] == nil {
		t.Errorf("second sample shape: %v", v)
	}
}

func TestPaymentsSalesAndHistory(t *testing.T) {
	c := start(t, Options{})
	c.refused("GET", "accounts/payment_history/coid/1/custid/5/", nil, 200, "No Data Available")
	tok := c.ok("GET", "accounts/make_payment/coid/1/custid/5/pmtType/1/amt/5.00", nil)["response"].(string)
	if !strings.HasPrefix(tok, "EC-") {
		t.Fatalf("token %q", tok)
	}
	paid := c.ok("POST", "accounts/record_payment/pmtType/1/token/"+tok, url.Values{})
	again := c.ok("POST", "accounts/record_payment/pmtType/1/token/"+tok, url.Values{})
	if paid["payment_id"] != again["payment_id"] {
		t.Errorf("recorded twice: %v %v", paid, again)
	}
	if b, _ := c.s.Balance(1, 5); b != 1110 {
		t.Fatalf("balance after a 5.00 top-up: %d", b)
	}
	c.refused("GET", "accounts/make_payment/coid/1/custid/5/pmtType/1/amt/5.5", nil, 200, "amt")
	c.refused("POST", "accounts/record_payment/pmtType/1/token/EC-NOPE", url.Values{}, 200, "Unknown payment token")
	hist := c.ok("GET", "accounts/payment_history/coid/1/custid/5", nil)["payments"].([]any)
	if p := hist[0].(map[string]any); len(hist) != 1 || p["ADJUSTMENT"] != "500" || p["PAYMENTSOURCE"] != "1" || p["RECIEVED"] != "2026-06-16 08:54:07" {
		t.Errorf("payment history: %v", hist)
	}

	id, err := c.s.RecordSale(1, 5, Sale{Total: 450, ConsecNumber: 84, Items: []Item{{1, "Pils 0.3"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.RecordSale(1, 5, Sale{Total: 450, ConsecNumber: 84}); err == nil {
		t.Error("a resent till sale was booked twice")
	}
	if _, err := c.s.RecordSale(1, 5, Sale{Total: 10000, ConsecNumber: 85}); err == nil {
		t.Error("a sale over the balance was booked")
	}
	tx := c.ok("GET", "accounts/transaction_history/coid/1/custid/5", nil)["transactions"].([]any)[0].(map[string]any)
	if tx["SALETOTAL"] != "450" || tx["ACCOUNTADJ"] != "-450" || tx["BALANCE"] != "660" || tx["CONSECNUMBER"] != "84" || tx["DATE"] != "2026-06-16" {
		t.Errorf("transaction history: %v", tx)
	}
	det := c.ok("GET", "accounts/transaction_detail/tid/"+itoa(id)+"/coid/1", nil)["transaction"].(map[string]any)
	if det["DATE"] != "16062026" || det["TIME"] != "0854" || det["items"].([]any)[0].(map[string]any)["TEXT"] != "Pils 0.3" {
		t.Errorf("transaction detail: %v", det)
	}
	if err := c.s.SetBalance(1, 5, 0); err != nil {
		t.Fatal(err)
	}
	if b := c.ok("GET", "accounts/customer_balance/coid/1/custid/5", nil)["balance"].(map[string]any); b["BALANCE"] != "0" {
		t.Errorf("after SetBalance: %v", b)
	}
}

func TestXMLFormatFaultsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ttu.json")
	c := start(t, Options{StateFile: path})
	req, _ := http.NewRequest("GET", c.url+"/index.php/accounts/customer_balance/coid/1/custid/5/format/xml", nil)
	req.Header.Set("X-API-KEY", c.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(raw), "<xml><balance><BALANCE>610</BALANCE>") || !strings.Contains(string(raw), "<status>1</status>") {
		t.Errorf("xml: %s", raw)
	}
	c.s.SetFaults(cloudemu.Faults{Fail500: 1})
	if code, out := c.call("GET", "accounts/customer_balance/coid/1/custid/5", nil); code != 500 || out["status"] != 0.0 {
		t.Errorf("injected 500: %d %v", code, out)
	}
	if err := c.s.SetBalance(1, 5, 1234); err != nil {
		t.Fatal(err)
	}
	if err := c.s.Close(); err != nil {
		t.Fatal(err)
	}
	again := start(t, Options{StateFile: path, Companies: []Company{}})
	if b, err := again.s.Balance(1, 5); err != nil || b != 1234 {
		t.Errorf("after a restart: %d %v", b, err)
	}
}
