package smartnow

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzReplies feeds arbitrary bytes to every decoder of SmartNow's replies:
// none may panic, a decoded token is never empty, a created id never
// negative, and an error message stays short.
func FuzzReplies(f *testing.F) {
	for _, s := range []string{`{"access_token":"a.b.c","refresh_token":"r"}`, `{"id":3184234}`, `{"message":"token expired"}`,
		`{"code":"A1","campaignType":"gift","valid":true,"voucherValue":500,"discount":{"type":"cents","amountOff":0},"validFor":{"products":{"104":1},"productsRegExp":"^1"}}`,
		`{"redeemed":false,"reason":"expired"}`,
		`{"code":"B2","campaignType":"gift","valid":true,"voucherValue":500}`, `{"code":"A1","redeemed":true}`,
		`{"access_token":""}`, `{"id":-1}`, `[]`, `null`, "\xff", `{"message":"` + string(make([]byte, 300)) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if tok, err := DecodeTokens(b); err == nil && tok.Access == "" {
			t.Fatal("empty access token accepted")
		}
		if c, err := DecodeCreated(b); err == nil && c.ID < 0 {
			t.Fatal("negative id accepted")
		}
		if v, err := DecodeVoucher(b); err == nil {
			if v.Discount.AmountOff < 0 || v.VoucherValue < 0 {
				t.Fatal("negative voucher amount accepted")
			}
			if o, err := Apply(v, 104, 390); err == nil && (o.Price < 0 || o.Price > 390 || o.Demand < 0) {
				t.Fatalf("offer %+v", o)
			}
			if err := sameCode(v.Code, "A1"); (err == nil) != (v.Code == "" || v.Code == "A1") || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("reply about %q for A1: %v", v.Code, err)
			}
		}
		if r, err := DecodeRedemption(b); err == nil {
			if err := sameCode(r.Code, "A1"); (err == nil) != (r.Code == "" || r.Code == "A1") {
				t.Fatalf("redemption about %q for A1: %v", r.Code, err)
			}
		}
		if m := DecodeMessage(b); len([]rune(m)) > 201 {
			t.Fatalf("message of %d runes", len([]rune(m)))
		}
		var s string
		if json.Unmarshal(b, &s) == nil {
			if exp, ok := tokenExpiry(s); ok && exp.Unix() <= 0 {
				t.Fatal("expiry before the epoch accepted")
			}
		}
		_, _ = tokenExpiry(string(b))
	})
}
