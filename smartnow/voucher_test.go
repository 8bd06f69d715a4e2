package smartnow

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
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

// TestVoucherErrorsHideTheCode: a code is worth beer; the error of a
// failed validate or redeem (which lands in logs, the sink's last error
// and events) names it masked.
func TestVoucherErrorsHideTheCode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/login" {
			w.Write([]byte(`{"access_token":"t","refresh_token":"r"}`))
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c := NewClient(Config{BaseURL: "http://" + ln.Addr().String(), Username: "u", Password: "p"})
	_, verr := c.Validate(context.Background(), "SECRET-CODE-1234", "wall", time.Minute, 0)
	_, rerr := c.Redeem(context.Background(), "SECRET-CODE-1234", "wall", Order{ID: "1"}, 0)
	down := NewClient(Config{BaseURL: "http://127.0.0.1:1", Username: "u", Password: "p", Timeout: time.Second})
	down.access, down.expires = "t", time.Now().Add(time.Hour)
	_, nerr := down.Validate(context.Background(), "SECRET-CODE-1234", "wall", time.Minute, 0)
	for _, err := range []error{verr, rerr, nerr} {
		var he *HTTPError
		if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "1234") {
			t.Errorf("error %v", err)
		}
		if err != verr && err != rerr {
			continue
		}
		if !errors.As(err, &he) || he.Status != http.StatusBadGateway {
			t.Errorf("not an HTTP 502: %v", err)
		}
	}
}

// TestReplyAboutAnotherCodeIsMalformed: a validate or redeem reply that
// names another voucher than the one asked about is ErrMalformed (never a
// voucher to pour on); one that names the code, or none, is taken.
func TestReplyAboutAnotherCodeIsMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		malformed  bool
	}{
		{"same code", "MY-CODE-1234", false},
		{"no code", "", false},
		{"another code", "SOMEONE-ELSES", true},
		{"another case", "my-code-1234", true}, // SmartNow looks codes up exactly
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/auth/login":
					w.Write([]byte(`{"access_token":"t","refresh_token":"r"}`))
				case strings.HasSuffix(r.URL.Path, "/validate"):
					json.NewEncoder(w).Encode(map[string]any{"code": tc.code, "campaignType": "gift", "valid": true, "voucherValue": 5000})
				default:
					json.NewEncoder(w).Encode(map[string]any{"code": tc.code, "campaignType": "gift", "redeemed": true})
				}
			})}
			go srv.Serve(ln)
			defer srv.Close()
			c := NewClient(Config{BaseURL: "http://" + ln.Addr().String(), Username: "u", Password: "p"})
			v, verr := c.Validate(context.Background(), "MY-CODE-1234", "wall", time.Minute, 650)
			_, rerr := c.Redeem(context.Background(), "MY-CODE-1234", "wall", Order{ID: "1"}, 650)
			for _, err := range []error{verr, rerr} {
				if tc.malformed != errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v, want malformed %v", err, tc.malformed)
				}
				if err != nil && strings.Contains(err.Error(), "MY-CODE") {
					t.Fatalf("error names the code: %v", err)
				}
			}
			if tc.malformed && v.VoucherValue != 0 {
				t.Fatalf("voucher %+v returned beside the error", v)
			}
		})
	}
}

// TestPouredOriginal: the redeem's order is what was poured at the line's
// price: the whole original for a delivered portion, pro rata for one
// that ended short, never less than was paid; a gift's demand is what it
// paid of that, at most what was validated.
func TestPouredOriginal(t *testing.T) {
	rec := func(orig string, portionPrice, paid int64, charged flow.Vol, complete bool) storage.Record {
		return storage.Record{Ref: storage.Ref{Voucher: "V", VoucherType: CampaignGift, OriginalPrice: orig},
			Pour: flow.Result{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: 5000, PortionPrice: portionPrice},
				Charged: charged, Amount: paid, Complete: complete}}
	}
	for _, tc := range []struct {
		name           string
		r              storage.Record
		poured, demand int64
	}{
		{"delivered, fully covered", rec("650", 0, 0, 5000, true), 650, 650},
		{"half, fully covered", rec("650", 0, 0, 2500, false), 325, 325},
		{"delivered, remainder paid", rec("650", 450, 450, 5000, true), 650, 200},
		{"short at the terminal, refunded", rec("650", 450, 0, 1000, false), 130, 130},
		{"short, pro rata remainder", rec("650", 450, 90, 1000, false), 130, 40},
		{"no original price", rec("", 0, 300, 5000, true), 300, 0},
		{"huge price, no overflow", rec("9000000000000000000", 0, 0, 2500, false), 4500000000000000000, 4500000000000000000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PouredOriginal(tc.r); got != tc.poured {
				t.Errorf("poured original %d, want %d", got, tc.poured)
			}
			if got := GiftDemand(tc.r); got != tc.demand {
				t.Errorf("gift demand %d, want %d", got, tc.demand)
			}
		})
	}
}

// TestMaskCode: four dots and the last four characters, whatever the
// code's length, so the mask tells neither the code nor its length.
func TestMaskCode(t *testing.T) {
	for code, want := range map[string]string{"SIM-FREE": "••••FREE", "SIM-DISCOUNT": "••••OUNT", "ABC": "••••", "": "••••",
		"00000-ABCDEFGH": "••••EFGH", "ÄÖÜ-ßäöü": "••••ßäöü"} {
		if got := MaskCode(code); got != want {
			t.Errorf("MaskCode(%q) = %q, want %q", code, got, want)
		}
	}
}
