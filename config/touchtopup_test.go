package config

import (
	"strings"
	"testing"
)

func TestTouchTopUpSection(t *testing.T) {
	base := `
[[line]]
id = 1
[pos]
listen = "127.0.0.1:0"
[touchtopup]
url = "http://127.0.0.1:9000"
api_key = "k"
`
	cases := []struct {
		name, toml, bad string
	}{
		{"ok", `[[touchtopup.account]]
card = 7
company_id = 1
customer_id = 5
[[touchtopup.account]]
account = "54321"
link_key = "000001-000006-463607569"`, ""},
		{"http off loopback", "", "touchtopup.url"},
		{"no key", "", "touchtopup.api_key"},
		{"both card and account", `[[touchtopup.account]]
card = 7
account = "1"
company_id = 1
customer_id = 5`, "needs exactly one of card and account"},
		{"twice", `[[touchtopup.account]]
card = 7
company_id = 1
customer_id = 5
[[touchtopup.account]]
card = 7
company_id = 1
customer_id = 6`, "mapped before"},
		{"ids and key", `[[touchtopup.account]]
card = 7
company_id = 1
customer_id = 5
link_key = "000001-000005-1"`, "not both"},
		{"bad key", `[[touchtopup.account]]
card = 7
link_key = "1-5-1"`, "link_key"},
		{"no ids", `[[touchtopup.account]]
card = 7`, "company_id and customer_id"},
	}
	for _, c := range cases {
		doc := base + c.toml
		switch c.name {
		case "http off loopback":
			doc = strings.Replace(doc, "127.0.0.1:9000", "api.example.com", 1)
		case "no key":
			doc = strings.Replace(doc, `api_key = "k"`, "", 1)
		}
		_, err := Parse([]byte(doc))
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%s: %v, want %q", c.name, err, c.bad)
		}
	}
	_, err := Parse([]byte("[[line]]\nid = 1\n[touchtopup]\nurl = \"https://api.touchtopup.com\"\napi_key = \"k\"\n"))
	if err == nil || !strings.Contains(err.Error(), "pos.listen") {
		t.Errorf("without the cash interface: %v", err)
	}
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.TouchTopUp.KeyHeader != "X-API-KEY" || c.TouchTopUp.BalanceMaxAge.Duration.Seconds() != 60 || c.TouchTopUp.OfflineAllowance != 0 {
		t.Errorf("defaults: %+v, %v", c.TouchTopUp, err)
	}
}
