package touchtopup_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
	emu "github.com/tapagent/tapagent/sim/touchtopup"
	"github.com/tapagent/tapagent/touchtopup"
)

func start(t *testing.T, o emu.Options) (*emu.Server, string) {
	t.Helper()
	if o.Companies == nil {
		o.Companies = []emu.Company{{ID: 1, Name: "ICRTouch Testing", DB: "10", Customers: map[int64]*emu.Customer{
			5: {ID: 5, Title: "Mr", FirstName: "John", LastName: "Smith", AccountNumber: "54321", Balance: 610, LinkCode: "463607569"}}}}
	}
	s, err := emu.New(o)
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s, url
}

func TestClientAgainstTheEmulator(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	at := time.Date(2014, 5, 6, 12, 44, 19, 0, london)
	for _, codes := range []bool{false, true} {
		s, url := start(t, emu.Options{ErrorStatusCodes: codes, KeyHeader: "X-Custom-Key", APIKeys: []string{"k1"}, Zone: london,
			Now: func() time.Time { return at }})
		if err := s.SetBalance(1, 5, 610); err != nil {
			t.Fatal(err)
		}
		c := touchtopup.NewClient(touchtopup.Config{BaseURL: url, APIKey: "k1", KeyHeader: "X-Custom-Key", Zone: london})
		ctx := context.Background()
		b, err := c.Balance(ctx, 1, 5)
		if err != nil || b.Amount != 610 || !b.LastUpdate.Equal(at) {
			t.Fatalf("balance %+v, %v", b, err)
		}
		cu, err := c.Customer(ctx, 1, 5)
		if err != nil || cu.Name() != "Mr John Smith" || cu.AccountNumber != "54321" {
			t.Fatalf("customer %+v, %v", cu, err)
		}
		co, err := c.Company(ctx, 1)
		if err != nil || co.Name != "ICRTouch Testing" {
			t.Fatalf("company %+v, %v", co, err)
		}
		if err := c.ValidateKey(ctx, "000001-000005-463607569"); err != nil {
			t.Fatal(err)
		}
		// Refusals, in both readings: a clear error with TouchTopUp's msg.
		for name, call := range map[string]func() error{
			"unknown customer": func() error { _, err := c.Balance(ctx, 1, 99); return err },
			"wrong link code":  func() error { return c.ValidateKey(ctx, "000001-000005-000000001") },
			"wrong key": func() error {
				_, err := touchtopup.NewClient(touchtopup.Config{BaseURL: url, APIKey: "nope", KeyHeader: "X-Custom-Key"}).Balance(ctx, 1, 5)
				return err
			},
			"key in the default header": func() error {
				_, err := touchtopup.NewClient(touchtopup.Config{BaseURL: url, APIKey: "k1"}).Balance(ctx, 1, 5)
				return err
			},
		} {
			var rf *touchtopup.Refusal
			err := call()
			if !errors.As(err, &rf) || rf.Msg == "" || touchtopup.Offline(err) {
				t.Errorf("status codes %v, %s: %v, want a refusal with a msg", codes, name, err)
			}
		}
	}
}

func TestClientOffline(t *testing.T) {
	s, url := start(t, emu.Options{})
	c := touchtopup.NewClient(touchtopup.Config{BaseURL: url, APIKey: "tapagent-key", Timeout: 200 * time.Millisecond})
	for name, f := range map[string]cloudemu.Faults{"down": {Down: true}, "500": {FailAll: true},
		"timeout": {Latency: time.Second}} {
		s.SetFaults(f)
		if _, err := c.Balance(context.Background(), 1, 5); !touchtopup.Offline(err) {
			t.Errorf("%s: %v, want offline", name, err)
		}
	}
	s.SetFaults(cloudemu.Faults{Malformed: 1})
	if _, err := c.Balance(context.Background(), 1, 5); !errors.Is(err, touchtopup.ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}
	dead := touchtopup.NewClient(touchtopup.Config{BaseURL: "http://127.0.0.1:1", APIKey: "tapagent-key"})
	if _, err := dead.Balance(context.Background(), 1, 5); !touchtopup.Offline(err) {
		t.Errorf("refused connection: %v", err)
	}
}

func TestDecoders(t *testing.T) {
	cases := []struct {
		body string
		want int64
		ok   bool
	}{
		{`{"balance":{"BALANCE":"610","LAST_UPDATE":"2014-05-06 12:44:19"},"status":1}`, 610, true},
		{`{"balance":{"BALANCE":"-25","LAST_UPDATE":"0000-00-00 00:00:00"},"status":"1"}`, -25, true},
		{`{"balance":{"BALANCE":610,"LAST_UPDATE":""},"status":1}`, 610, true},
		{`{"balance":{"BALANCE":"6.10","LAST_UPDATE":""},"status":1}`, 0, false},
		{`{"balance":{"BALANCE":"99999999999999999999","LAST_UPDATE":""},"status":1}`, 0, false},
		{`{"balance":{"BALANCE":"2000000000000000","LAST_UPDATE":""},"status":1}`, 0, false},
		{`{"balance":{"BALANCE":"1","LAST_UPDATE":"06/05/2014"},"status":1}`, 0, false},
		{`{"status":1}`, 0, false},
	}
	for _, c := range cases {
		b, err := touchtopup.DecodeBalance([]byte(c.body), time.UTC)
		if (err == nil) != c.ok || (c.ok && b.Amount != c.want) {
			t.Errorf("%s: %+v, %v", c.body, b, err)
		}
	}
	for body, ok := range map[string]bool{`{"status":0,"msg":"x"}`: false, `{"status":"0","msg":"x"}`: false, `{"status":1}`: true} {
		got, msg, err := touchtopup.DecodeStatus([]byte(body))
		if err != nil || got != ok || (!ok && msg != "x") {
			t.Errorf("%s: %v %q %v", body, got, msg, err)
		}
	}
	for _, body := range []string{`{}`, `{"status":2}`, `[`, `{"status":true}`} {
		if _, _, err := touchtopup.DecodeStatus([]byte(body)); !errors.Is(err, touchtopup.ErrMalformed) {
			t.Errorf("%s: %v", body, err)
		}
	}
	for key, ok := range map[string]bool{"000001-000005-463607569": true, "000000-000005-1": false, "1-5-463607569": false, "000001-000005-": false} {
		_, _, err := touchtopup.ParseLinkKey(key)
		if (err == nil) != ok {
			t.Errorf("%s: %v", key, err)
		}
		// The link code links the account: an error never shows it.
		if code := key[strings.LastIndex(key, "-")+1:]; err != nil && code != "" && strings.Contains(err.Error(), code) {
			t.Errorf("%s: the error shows the link code: %v", key, err)
		}
	}
}
