package smartnow

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// voucher makes a campaign and one voucher in it and returns the voucher.
func (c *client) voucher(campaign map[string]any, voucher map[string]any) Voucher {
	c.t.Helper()
	var made map[string]int64
	if code := c.do("POST", "/campaign", campaign, &made); code != 201 {
		c.t.Fatalf("campaign: %d", code)
	}
	voucher["campaign"] = made["id"]
	var v Voucher
	if code := c.do("POST", "/voucher", voucher, &v); code != 201 || v.ID == "" {
		c.t.Fatalf("voucher: %d %+v", code, v)
	}
	return v
}

func (c *client) validate(code string, body any) validateReply {
	c.t.Helper()
	var rep validateReply
	if status := c.do("POST", "/voucher/"+code+"/validate", body, &rep); status != 200 {
		c.t.Fatalf("validate %s: %d", code, status)
	}
	return rep
}

func (c *client) redeem(code string, body any) redeemReply {
	c.t.Helper()
	var rep redeemReply
	if status := c.do("POST", "/voucher/"+code+"/redeem", body, &rep); status != 200 {
		c.t.Fatalf("redeem %s: %d", code, status)
	}
	return rep
}

func pour(device, orderID string, amount int64, plu string) map[string]any {
	return map[string]any{"deviceId": device, "order": map[string]any{"id": orderID, "amount": amount,
		"items": []map[string]any{{"productId": plu, "quantity": 1, "price": amount}}}}
}

func discountCampaign() map[string]any {
	return map[string]any{"name": "Happy pint", "totalVouchers": 1, "voucherValue": 100, "type": "discount"}
}

func TestDiscountVoucherLockProductsLimit(t *testing.T) {
	c := start(t, Options{})
	v := c.voucher(discountCampaign(), map[string]any{"type": "discount", "value": 100, "code": "PINT1",
		"redemptionLimit": 2, "validationRules": []Rule{{"product", "5"}, {"product", "7"}}})

	rep := c.validate("PINT1", map[string]any{"deviceId": "tap-1", "lockDuration": 60})
	if !rep.Valid || rep.Discount.AmountOff != 100 || rep.Discount.Type != "cents" || rep.CampaignType != "discount" ||
		!rep.ValidFor.Products["5"] || !rep.ValidFor.Products["7"] || rep.VoucherID != v.ID {
		t.Fatalf("validate: %+v", rep)
	}
	if got := c.s.Vouchers()[0]; got.LockOwner != "tap-1" || got.LockedTill != "2026-11-22T18:01:00Z" {
		t.Errorf("lock: %q till %q", got.LockOwner, got.LockedTill)
	}
	if rep := c.validate("PINT1", map[string]any{"deviceId": "tap-2"}); rep.Valid || !strings.Contains(rep.Reason, "locked") {
		t.Errorf("another device during the lock: %+v", rep)
	}
	if rep := c.redeem("PINT1", pour("tap-2", "p-0", 450, "5")); rep.Redeemed {
		t.Errorf("another device redeemed a locked voucher: %+v", rep)
	}
	if rep := c.redeem("PINT1", pour("tap-1", "p-1", 450, "9")); rep.Redeemed || !strings.Contains(rep.Reason, "product 9") {
		t.Errorf("wrong product: %+v", rep)
	}
	rep1 := c.redeem("PINT1", pour("tap-1", "p-1", 450, "5"))
	if !rep1.Redeemed || rep1.Discount.AmountOff != 100 {
		t.Fatalf("redeem: %+v", rep1)
	}
	if again := c.redeem("PINT1", pour("tap-1", "p-1", 450, "5")); again != rep1 {
		t.Errorf("resent redeem: %+v, want the first answer %+v", again, rep1)
	}
	got := c.s.Vouchers()[0]
	if got.RedemptionCount != 1 || got.AmountRedeemed != 100 || got.LockOwner != "" {
		t.Errorf("after redeem: count %d amount %d lock %q", got.RedemptionCount, got.AmountRedeemed, got.LockOwner)
	}
	// A short order caps the discount at the order's amount.
	if rep := c.redeem("PINT1", pour("tap-2", "p-2", 60, "7")); !rep.Redeemed || rep.Discount.AmountOff != 60 {
		t.Errorf("short order: %+v", rep)
	}
	if rep := c.redeem("PINT1", pour("tap-1", "p-3", 450, "5")); rep.Redeemed || rep.Reason != "redemption limit reached" {
		t.Errorf("third redeem over a limit of 2: %+v", rep)
	}
	var actions []VoucherAction
	if c.do("GET", "/voucher/"+v.ID+"/logs", nil, &actions); len(actions) != 7 || actions[0].Action != "validate" || actions[0].Success != 1 {
		t.Errorf("voucher logs: %d %+v", len(actions), actions)
	}
}

func TestLockExpires(t *testing.T) {
	c := start(t, Options{})
	c.voucher(discountCampaign(), map[string]any{"type": "discount", "value": 50, "code": "L1"})
	c.validate("L1", map[string]any{"deviceId": "tap-1", "lockDuration": 30})
	c.clk.Advance(30 * time.Second)
	if rep := c.validate("L1", map[string]any{"deviceId": "tap-2"}); !rep.Valid {
		t.Errorf("after the lock expired: %+v", rep)
	}
}

func TestProductsRegExpAndLocation(t *testing.T) {
	c := start(t, Options{})
	c.voucher(discountCampaign(), map[string]any{"type": "discount", "value": 50, "code": "RX",
		"validationRules": []Rule{{"productsRegExp", "^1[0-9]$"}, {"location", "2"}}})
	rep := c.validate("RX", map[string]any{"deviceId": "tap-1"})
	if !rep.Valid || rep.ValidFor.ProductsRegExp != "^1[0-9]$" || len(rep.ValidFor.Products) != 0 {
		t.Fatalf("validate: %+v", rep)
	}
	if rep := c.validate("RX", map[string]any{"deviceId": "tap-2"}); rep.Valid || !strings.Contains(rep.Reason, "location") {
		t.Errorf("machine at location 3: %+v", rep)
	}
	if rep := c.redeem("RX", pour("tap-1", "o1", 300, "5")); rep.Redeemed {
		t.Errorf("PLU 5 against ^1[0-9]$: %+v", rep)
	}
	if rep := c.redeem("RX", pour("tap-1", "o1", 300, "12")); !rep.Redeemed {
		t.Errorf("PLU 12 against ^1[0-9]$: %+v", rep)
	}
	c.wantError("POST", "/voucher", map[string]any{"campaign": 1, "type": "discount", "value": 1,
		"validationRules": []Rule{{"productsRegExp", "("}}}, 400, "validationRules[0]")
}

func TestGiftVoucher(t *testing.T) {
	c := start(t, Options{})
	c.voucher(map[string]any{"name": "Gift", "totalVouchers": 1, "voucherValue": 1000, "type": "gift"},
		map[string]any{"type": "gift", "value": 1000, "code": "G1"})
	if rep := c.validate("G1", map[string]any{"deviceId": "tap-1"}); !rep.Valid || rep.Discount.AmountOff != 1000 || rep.VoucherValue != 1000 {
		t.Errorf("without demand the balance is amountOff: %+v", rep)
	}
	if rep := c.validate("G1", map[string]any{"deviceId": "tap-1", "demand": map[string]any{"amount": 450}}); rep.Discount.AmountOff != 450 {
		t.Errorf("demand 450: %+v", rep)
	}
	c.wantError("POST", "/voucher/G1/redeem", pour("tap-1", "o1", 450, "5"), 400, "demand is mandatory")
	body := pour("tap-1", "o1", 450, "5")
	body["demand"] = map[string]any{"amount": 450}
	if rep := c.redeem("G1", body); !rep.Redeemed || rep.Discount.AmountOff != 450 || rep.VoucherValue != 550 {
		t.Fatalf("gift redeem: %+v", rep)
	}
	body = pour("tap-1", "o2", 600, "5")
	body["demand"] = map[string]any{"amount": 600}
	if rep := c.redeem("G1", body); rep.Redeemed || !strings.Contains(rep.Reason, "exceeds the balance 550") {
		t.Errorf("over the balance: %+v", rep)
	}
	if rep := c.validate("G1", map[string]any{"deviceId": "tap-1", "demand": map[string]any{"amount": 600}}); !rep.Valid || rep.Discount.AmountOff != 550 {
		t.Errorf("validate caps at the balance: %+v", rep)
	}
	body["demand"] = map[string]any{"amount": 550}
	c.redeem("G1", body)
	if rep := c.validate("G1", map[string]any{"deviceId": "tap-1"}); rep.Valid || rep.Reason != "no balance left" {
		t.Errorf("empty gift: %+v", rep)
	}
}

func TestExpiredInactiveUnknownAndRefusalsAsErrors(t *testing.T) {
	c := start(t, Options{TokenTTL: 24 * time.Hour})
	c.voucher(discountCampaign(), map[string]any{"type": "discount", "value": 50, "code": "OLD",
		"expiresOn": "2026-11-22", "timeZone": "Europe/Amsterdam"})
	if rep := c.validate("OLD", map[string]any{"deviceId": "tap-1"}); !rep.Valid {
		t.Fatalf("on its last day: %+v", rep)
	}
	c.clk.Advance(5 * time.Hour) // 00:00 in Amsterdam on the 23rd
	if rep := c.validate("OLD", map[string]any{"deviceId": "tap-1"}); rep.Valid || rep.Reason != "voucher expired" {
		t.Errorf("expired: %+v", rep)
	}
	c.wantError("POST", "/voucher/NOPE/validate", map[string]any{"deviceId": "tap-1"}, 404, "not found")
	c.wantError("POST", "/voucher/OLD/validate", map[string]any{}, 400, "deviceId")
	c.wantError("POST", "/voucher/OLD/validate", map[string]any{"deviceId": "x", "lockDuration": -1}, 400, "lockDuration")
	c.wantError("POST", "/voucher/OLD/redeem", map[string]any{"deviceId": "x", "order": map[string]any{"id": "1", "amount": 1}}, 400, "order.items")

	strict := start(t, Options{RefusalsAsErrors: true})
	strict.voucher(discountCampaign(), map[string]any{"type": "discount", "value": 50, "code": "E", "expiresOn": "2026-11-01T00:00:00+01:00"})
	strict.wantError("POST", "/voucher/E/validate", map[string]any{"deviceId": "tap-1"}, 400, "voucher expired")
	strict.wantError("POST", "/voucher/E/redeem", pour("tap-1", "o", 1, "5"), 400, "voucher expired")
}

func TestResetFrequencyAndNoDedup(t *testing.T) {
	c := start(t, Options{NoRedeemDedup: true, TokenTTL: 24 * time.Hour})
	c.voucher(discountCampaign(), map[string]any{"type": "discount", "value": 50, "code": "DAY",
		"redemptionLimit": 2, "resetFrequency": "day"})
	c.redeem("DAY", pour("tap-1", "o1", 100, "5"))
	if rep := c.redeem("DAY", pour("tap-1", "o1", 100, "5")); !rep.Redeemed {
		t.Fatalf("without dedup a resend counts again: %+v", rep)
	}
	if rep := c.validate("DAY", map[string]any{"deviceId": "tap-1"}); rep.Valid {
		t.Fatalf("limit reached: %+v", rep)
	}
	c.clk.Advance(6 * time.Hour) // past midnight in Amsterdam
	if rep := c.validate("DAY", map[string]any{"deviceId": "tap-1"}); !rep.Valid {
		t.Errorf("after the daily reset: %+v", rep)
	}
	if v := c.s.Vouchers()[0]; v.RedemptionCount != 0 || v.TotalRedemptionCount != 2 {
		t.Errorf("counters after reset: %d of %d", v.RedemptionCount, v.TotalRedemptionCount)
	}
}

func TestVoucherCreateAndLists(t *testing.T) {
	c := start(t, Options{})
	var made map[string]int64
	c.do("POST", "/campaign", discountCampaign(), &made)
	if code, raw := c.raw("POST", "/voucher", map[string]any{"campaign": made["id"], "type": "discount", "value": 10, "prefix": "ABC", "count": 3}); code != 201 || len(raw) != 0 {
		t.Fatalf("count 3: %d %q (the reference: empty body)", code, raw)
	}
	var vs []Voucher
	if c.do("GET", "/voucher?where[code][like]=ABC-%25&limit=2", nil, &vs); len(vs) != 2 {
		t.Fatalf("list: %+v", vs)
	}
	c.do("POST", "/voucher", map[string]any{"campaign": made["id"], "type": "discount", "value": 10, "code": "X"}, nil)
	c.wantError("POST", "/voucher", map[string]any{"campaign": made["id"], "type": "discount", "value": 10, "code": "X"}, 409, "exists")
	c.wantError("POST", "/voucher", map[string]any{"campaign": made["id"], "type": "discount", "value": 10, "prefix": "TOOLONG"}, 400, "prefix")
	c.wantError("POST", "/voucher", map[string]any{"campaign": made["id"], "type": "discount", "value": 10, "count": 5001}, 400, "count")
	c.wantError("POST", "/voucher", map[string]any{"campaign": 999, "type": "discount", "value": 10}, 404, "campaign")
	c.wantError("POST", "/voucher", map[string]any{"campaign": made["id"], "type": "inherit", "value": 10}, 400, "type")
	c.wantError("POST", "/campaign", map[string]any{"name": "x", "totalVouchers": 1}, 400, "voucherValue")
	var cs []Campaign
	if c.do("GET", "/campaign?where[name]=Happy%20pint", nil, &cs); len(cs) != 1 || cs[0].Status != "active" || cs[0].TimeZone != "Europe/Amsterdam" {
		t.Errorf("campaign list: %+v", cs)
	}
	var one0 Campaign
	if code := c.do("GET", fmt.Sprintf("/campaign/%d", made["id"]), nil, &one0); code != 200 || one0.Name != "Happy pint" || one0.VoucherValue != 100 {
		t.Errorf("campaign by id: %d %+v", code, one0)
	}
	off := c.voucher(map[string]any{"name": "Paused", "totalVouchers": 1, "voucherValue": 5, "status": "inactive"},
		map[string]any{"type": "discount", "value": 5, "code": "PAUSED"})
	if rep := c.validate(off.Code, map[string]any{"deviceId": "tap-1"}); rep.Valid || rep.Reason != "voucher is not active" {
		t.Errorf("voucher of an inactive campaign: %+v", rep)
	}
	var one Voucher
	if code := c.do("GET", "/voucher/"+vs[0].ID, nil, &one); code != 200 || one.Code != vs[0].Code || one.Prefix != "ABC" {
		t.Errorf("voucher by id: %d %+v", code, one)
	}
}
