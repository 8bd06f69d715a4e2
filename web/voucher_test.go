package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/web"
)

// TestVoucherField: a logged-in staff user types a voucher on a line's
// card; without a session or without the CSRF token nothing is scanned;
// with both the code is validated with SmartNow (the emulator) and the
// portion pours, the scan named after its user (web:name, the source its
// refused codes are counted against).
func TestVoucherField(t *testing.T) {
	emu, err := snemu.New(snemu.Options{Machines: []snemu.Machine{{ID: 3, Hostname: "wall-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c := smartnow.NewClient(smartnow.Config{BaseURL: base, Username: "tapagent", Password: "tapagent"})
	zero, value := int64(0), int64(2000)
	status, raw, err := c.Call(context.Background(), http.MethodPost, "/campaign", snemu.CampaignRequest{Name: "web", TotalVouchers: &zero, VoucherValue: &value})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("campaign %d %s %v", status, raw, err)
	}
	camp, _ := smartnow.DecodeCreated(raw)
	if status, raw, err := c.Call(context.Background(), http.MethodPost, "/voucher", snemu.VoucherRequest{Campaign: &camp.ID, Type: "discount", Value: &value, Code: "WEB-0001"}); err != nil || status != http.StatusCreated {
		t.Fatalf("voucher %d %s %v", status, raw, err)
	}
	var svc *voucherpay.Service
	var sn config.SmartNow
	r := newRig(t, func(cfg *config.Config, d *web.Deps) {
		sn = cfg.SmartNow
		sn.URL, sn.Username, sn.Password, sn.Hostname, sn.Vouchers = base, "tapagent", "tapagent", "wall-1", true
		d.Voucher = func(ctx context.Context, line int, code, via string) error { return svc.Scan(ctx, line, code, via) }
	})
	svc = voucherpay.New(voucherpay.Options{Config: sn, PLUs: map[int]int{1: 101, 2: 102}, Wall: r.agent, SmartNow: c, Now: r.clk.Now})
	scan := url.Values{"action": {"voucher"}, "line": {"1"}, "code": {"WEB-0001"}}

	anon := r.client()
	if resp := r.post(anon, "/action", scan, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a session: %s", resp.Status)
	}
	staff := r.client()
	csrf := r.login(staff, staffName, staffPass)
	if body, _ := r.get(staff, "/"); !strings.Contains(body, `name="code"`) {
		t.Fatal("no voucher field for staff")
	}
	if resp := r.post(staff, "/action", scan, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without the CSRF token: %s", resp.Status)
	}
	if _, ok := r.ev.Find(device.EventVoucherAccepted); ok || emu.Vouchers()[0].LockOwner != "" {
		t.Fatal("scanned without a session or token")
	}
	scan.Set("csrf", csrf)
	resp := r.post(staff, "/action", scan, map[string]string{"Origin": r.srv.URL})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "ok=") {
		t.Fatalf("with session and token: %s %s", resp.Status, loc)
	}
	if ev, ok := r.ev.Find(device.EventVoucherAccepted); !ok || ev.Line != 1 || ev.PourID == "" || !strings.Contains(ev.Detail, "web:"+staffName) {
		t.Fatalf("accepted %+v (%s)", ev, r.ev.String())
	}
	if v := emu.Vouchers()[0]; v.LockOwner != "wall-1" {
		t.Fatalf("not validated for this machine: %+v", v)
	}
	// A refusal comes back to the page with its reason.
	scan.Set("code", "NO-SUCH-CODE")
	scan.Set("line", "2")
	resp = r.post(staff, "/action", scan, map[string]string{"Origin": r.srv.URL})
	if loc, _ := url.QueryUnescape(resp.Header.Get("Location")); !strings.Contains(loc, "unknown voucher") {
		t.Fatalf("refusal: %s", loc)
	}
}
