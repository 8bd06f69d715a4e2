package smartnow

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestApplyVoucher(t *testing.T) {
	mk := func(typ string, off, value int64, products, re string) Voucher {
		var v Voucher
		v.CampaignType, v.Valid, v.VoucherValue = typ, true, value
		v.Discount.Type, v.Discount.AmountOff = "cents", off
		if products != "" {
			v.ValidFor.Products = json.RawMessage(products)
		}
		v.ValidFor.ProductsRegExp = re
		return v
	}
	for _, tc := range []struct {
		name    string
		v       Voucher
		plu     int
		price   int64
		want    Offer
		refused bool
	}{
		{"discount", mk(CampaignDiscount, 150, 0, "", ""), 104, 390, Offer{Price: 240, Original: 390}, false},
		{"discount over the price", mk(CampaignDiscount, 500, 0, "", ""), 104, 390, Offer{Price: 0, Original: 390}, false},
		{"gift balance", mk(CampaignGift, 0, 1000, "", ""), 104, 390, Offer{Price: 0, Original: 390, Demand: 390}, false},
		{"gift short of the price", mk(CampaignGift, 250, 250, "", ""), 104, 390, Offer{Price: 140, Original: 390, Demand: 250}, false},
		{"products object", mk(CampaignDiscount, 100, 0, `{"104":true}`, ""), 104, 390, Offer{Price: 290, Original: 390}, false},
		{"products list", mk(CampaignDiscount, 100, 0, `[101, "104"]`, ""), 104, 390, Offer{Price: 290, Original: 390}, false},
		{"other product", mk(CampaignDiscount, 100, 0, `{"101":true}`, ""), 104, 390, Offer{}, true},
		{"regexp", mk(CampaignDiscount, 100, 0, "", "^10[0-4]$"), 104, 390, Offer{Price: 290, Original: 390}, false},
		{"regexp misses", mk(CampaignDiscount, 100, 0, "", "^2"), 104, 390, Offer{}, true},
		{"empty gift", mk(CampaignGift, 0, 0, "", ""), 104, 390, Offer{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Apply(tc.v, tc.plu, tc.price)
			var ref *Refusal
			if tc.refused != errors.As(err, &ref) || got != tc.want {
				t.Fatalf("got %+v %v, want %+v refused=%v", got, err, tc.want, tc.refused)
			}
		})
	}
}
