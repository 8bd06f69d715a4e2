package voucherpay_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/device"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	"github.com/tapagent/tapagent/smartnow"
)

// TestFullyCoveredPoursAndRedeems: a discount worth more than the portion
// pours at once, booked at 0 with the voucher's references; the sink
// redeems the order at the portion's price and sends the sale paid by
// code.
func TestFullyCoveredPoursAndRedeems(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.voucher("FREE-0001", "discount", 2000)
	if err := r.scan(1, "FREE-0001"); err != nil {
		t.Fatal(err)
	}
	acc, ok := r.ev.Find(device.EventVoucherAccepted)
	if !ok || acc.PourID == "" || acc.Kind != "discount" || strings.Contains(acc.Detail, "FREE-0001") || !strings.Contains(acc.Detail, "0001") {
		t.Fatalf("accepted %+v", acc)
	}
	r.pour(1, 8)
	rec := r.booked(1)[0]
	if rec.Pour.Amount != 0 || !rec.Pour.Complete || rec.Ref.Voucher != "FREE-0001" || rec.Ref.VoucherType != "discount" || rec.Ref.OriginalPrice != "650" {
		t.Fatalf("record %+v", rec)
	}
	if v := r.emuVoucher("FREE-0001"); v.LockOwner != host {
		t.Fatalf("not locked to this machine: %+v", v)
	}
	if err := r.deliver(); err != nil {
		t.Fatal(err)
	}
	v := r.emuVoucher("FREE-0001")
	rts := r.emu.RevenueTransactions()
	pts := r.emu.PaymentTransactions()
	if v.TotalRedemptionCount != 1 || len(rts) != 1 || rts[0].Price != 0 || rts[0].OriginalPrice != portionPrice || len(pts) != 1 || pts[0].Method != "code" {
		t.Fatalf("voucher %+v, revenue %+v, payments %+v", v, rts, pts)
	}
}

// TestGiftPaysWithDemand: a gift is validated with demand = the portion's
// price and redeemed with what it paid; a portion that ends short takes
// off only what was poured (pro rata), measured in the gift's balance.
func TestGiftPaysWithDemand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secs    float64
		balance int64
	}{
		{"full portion", 8, 1000 - portionPrice},
		{"short pour", 2.5, 0}, // balance checked pro rata below
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{})
			r.voucher("GIFT-0001", "gift", 1000)
			if err := r.scan(1, "GIFT-0001"); err != nil {
				t.Fatal(err)
			}
			r.pour(1, tc.secs) // the glass is taken away after secs: no flow ends the pour
			rec := r.booked(1)[0]
			if err := r.deliver(); err != nil {
				t.Fatal(err)
			}
			want := tc.balance
			if !rec.Pour.Complete {
				poured := smartnow.PouredOriginal(rec)
				if poured <= 0 || poured >= portionPrice {
					t.Fatalf("pro rata %d of %d for %v poured", poured, portionPrice, rec.Pour.Charged)
				}
				want = 1000 - poured
			}
			if v := r.emuVoucher("GIFT-0001"); v.Balance != want || v.TotalRedemptionCount != 1 {
				t.Fatalf("balance %d, want %d (record %+v)", v.Balance, want, rec.Pour)
			}
		})
	}
}

// TestRemainderAtTheTerminal: a discount that does not cover the portion
// arms the terminal line: the card is asked the remainder, the record
// carries the voucher and the original price, and the redeem follows.
func TestRemainderAtTheTerminal(t *testing.T) {
	r := newRig(t, rigOptions{terminal: []int{1}})
	r.voucher("DISC-0200", "discount", 200)
	if err := r.scan(1, "DISC-0200"); err != nil {
		t.Fatal(err)
	}
	if acc, _ := r.ev.Find(device.EventVoucherAccepted); acc.Amount != portionPrice-200 || acc.PourID != "" {
		t.Fatalf("accepted %+v", acc)
	}
	if err := r.scan(1, "DISC-0200"); !errors.Is(err, voucherpay.ErrRefused) {
		t.Fatalf("a second scan while armed: %v", err)
	}
	r.pour(1, 8)
	r.reader.PresentCard(1000)
	r.until("vend success", r.ev.Has(device.EventMDBVendSuccess))
	rec := r.booked(1)[0]
	if rec.Pour.Amount != portionPrice-200 || rec.Ref.Voucher != "DISC-0200" || rec.Ref.OriginalPrice != "650" || rec.Ref.Vend == "" {
		t.Fatalf("record %+v", rec)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{portionPrice - 200}) {
		t.Fatalf("the card paid %v", l.Sales)
	}
	if err := r.deliver(); err != nil {
		t.Fatal(err)
	}
	rts := r.emu.RevenueTransactions()
	if v := r.emuVoucher("DISC-0200"); v.TotalRedemptionCount != 1 || len(rts) != 1 || rts[0].OriginalPrice != portionPrice || rts[0].Price != portionPrice-200 {
		t.Fatalf("voucher %+v revenue %+v", v, rts)
	}
}

// TestDeniedVendLeavesTheVoucher: the card is denied the remainder; no
// beer, no record, the voucher unredeemed.
func TestDeniedVendLeavesTheVoucher(t *testing.T) {
	r := newRig(t, rigOptions{terminal: []int{1}})
	r.voucher("DISC-0201", "discount", 200)
	if err := r.scan(1, "DISC-0201"); err != nil {
		t.Fatal(err)
	}
	r.reader.PresentCard(100)
	r.until("denied", r.ev.Has(device.EventMDBVendDenied))
	if ev, _ := r.ev.Find(device.EventMDBVendDenied); ev.Amount != portionPrice-200 {
		t.Fatalf("asked %d", ev.Amount)
	}
	if recs, _ := r.store.Outbox(0, 10); len(recs) != 0 {
		t.Fatalf("records %+v", recs)
	}
	if v := r.emuVoucher("DISC-0201"); v.TotalRedemptionCount != 0 {
		t.Fatalf("redeemed %+v", v)
	}
}

// TestArmExpires: an armed line not paid for within the hold is disarmed
// with voucher_expired; the terminal then asks the full price.
func TestArmExpires(t *testing.T) {
	r := newRig(t, rigOptions{terminal: []int{1}})
	r.voucher("DISC-0202", "discount", 200)
	if err := r.scan(1, "DISC-0202"); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(61 * time.Second)
	if _, ok := r.svc.TakeVoucher(1); ok {
		t.Fatal("an expired arm was handed to the terminal")
	}
	r.svc.Sweep()
	if ev, ok := r.ev.Find(device.EventVoucherExpired); !ok || ev.Line != 1 || r.ev.Count(device.EventVoucherExpired) != 1 {
		t.Fatalf("voucher_expired: %s", r.ev.String())
	}
	// Swept before the terminal asks: expired once, and the code is free.
	if err := r.scan(1, "DISC-0202"); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(61 * time.Second)
	r.svc.Sweep()
	if r.ev.Count(device.EventVoucherExpired) != 2 {
		t.Fatalf("voucher_expired: %s", r.ev.String())
	}
}

// TestPartialWithoutTerminalIsRefused: no beer on a partial voucher
// without a way to pay the rest.
func TestPartialWithoutTerminalIsRefused(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.voucher("DISC-0203", "discount", 200)
	if err := r.scan(1, "DISC-0203"); !errors.Is(err, voucherpay.ErrRefused) || !strings.Contains(r.refused(), "no card terminal") {
		t.Fatalf("%v / %q", err, r.refused())
	}
	if _, ok := r.ev.Find(device.EventPourAuthorised); ok {
		t.Fatal("poured")
	}
}

// TestRefusals: each reason becomes a voucher_refused event, with SmartNow
// refusing as 200 valid:false and as 400 {message}.
func TestRefusals(t *testing.T) {
	for _, asErrors := range []bool{false, true} {
		r := newRig(t, rigOptions{refusalsAsErrors: asErrors})
		r.voucher("PILS-ONLY", "discount", 2000, snemu.Rule{Field: "product", Value: "102"})
		r.voucher("REGEXP-9", "discount", 2000, snemu.Rule{Field: "productsRegExp", Value: "^9"})
		r.voucherWith("OLD-0001", "discount", 2000, func(v *snemu.VoucherRequest) { v.ExpiresOn = "2020-01-01" })
		r.voucher("EMPTY-GIFT", "gift", 0)
		r.voucher("LOCKED-01", "discount", 2000)
		if _, err := r.client.Validate(context.Background(), "LOCKED-01", "other-machine", time.Hour, 0); err != nil {
			t.Fatal(err)
		}
		for code, want := range map[string]string{
			"PILS-ONLY":  "not valid for product 101",
			"REGEXP-9":   "not valid for product 101",
			"OLD-0001":   "expired",
			"EMPTY-GIFT": "balance",
			"LOCKED-01":  "locked by another device",
			"NO-SUCH":    "unknown voucher",
			"bad\x01ode": "unreadable",
		} {
			err := r.scan(1, code)
			if !errors.Is(err, voucherpay.ErrRefused) || !strings.Contains(r.refused(), want) {
				t.Errorf("refusals as errors %v: %q: %v, reason %q, want %q", asErrors, code, err, r.refused(), want)
			}
		}
		if _, ok := r.ev.Find(device.EventPourAuthorised); ok {
			t.Errorf("a refused voucher poured: %s", r.ev.String())
		}
	}
}

// TestOneVoucherOnePour: a code pouring here is refused until SmartNow
// has its redeem.
func TestOneVoucherOnePour(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.voucher("MULTI-001", "gift", 5000)
	if err := r.scan(1, "MULTI-001"); err != nil {
		t.Fatal(err)
	}
	if err := r.scan(2, "MULTI-001"); !errors.Is(err, voucherpay.ErrRefused) {
		t.Fatalf("a second scan while pouring: %v", err)
	}
	r.pour(1, 8)
	r.booked(1)
	r.clk.Advance(10 * time.Minute) // the lock has passed; the redeem has not
	r.svc.Sweep()
	if err := r.scan(2, "MULTI-001"); !errors.Is(err, voucherpay.ErrRefused) || !strings.Contains(r.refused(), "not redeemed") {
		t.Fatalf("scan before the redeem: %v %q", err, r.refused())
	}
	if err := r.deliver(); err != nil {
		t.Fatal(err)
	}
	if err := r.scan(2, "MULTI-001"); err != nil {
		t.Fatalf("a gift with value left after its redeem: %v", err)
	}
}

// TestOffline: SmartNow unreachable refuses by default; with offline =
// "accept" the portion pours as covered, flagged, once per code and at
// most offline_max an hour, and the sink validates and redeems it later.
func TestOffline(t *testing.T) {
	t.Run("refuse", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		r.down(true)
		if err := r.scan(1, "ANY-CODE"); !errors.Is(err, voucherpay.ErrRefused) || r.refused() != voucherpay.ReasonUnreachable {
			t.Fatalf("%v %q", err, r.refused())
		}
	})
	t.Run("accept", func(t *testing.T) {
		r := newRig(t, rigOptions{offline: "accept"})
		r.voucher("GIFT-OFF1", "gift", 1000)
		r.down(true)
		if err := r.scan(1, "GIFT-OFF1"); err != nil {
			t.Fatal(err)
		}
		r.pour(1, 8)
		rec := r.booked(1)[0]
		if rec.Ref.VoucherOffline != "1" || rec.Ref.Voucher != "GIFT-OFF1" || rec.Pour.Amount != 0 || rec.Ref.OriginalPrice != "650" {
			t.Fatalf("record %+v", rec)
		}
		r.clk.Advance(10 * time.Minute)
		r.svc.Sweep()
		if err := r.scan(2, "GIFT-OFF1"); !errors.Is(err, voucherpay.ErrRefused) {
			t.Fatalf("a code seen offline twice: %v", err)
		}
		if err := r.deliver(); err == nil {
			t.Fatal("delivered while SmartNow is down")
		}
		r.down(false)
		if err := r.deliver(); err != nil {
			t.Fatal(err)
		}
		if v := r.emuVoucher("GIFT-OFF1"); v.Balance != 1000-portionPrice || v.TotalRedemptionCount != 1 {
			t.Fatalf("voucher %+v", v)
		}
	})
	t.Run("limit", func(t *testing.T) {
		r := newRig(t, rigOptions{offline: "accept"})
		r.cfg.SmartNow.OfflineMax = 1
		svc, err := voucherpay.Build(r.cfg, r.agent, r.store, nil, r.clk.Now, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.down(true)
		if err := svc.Scan(context.Background(), 1, "OFF-A", "test"); err != nil {
			t.Fatal(err)
		}
		if err := svc.Scan(context.Background(), 2, "OFF-B", "test"); !errors.Is(err, voucherpay.ErrRefused) || !strings.Contains(r.refused(), "limit") {
			t.Fatalf("over the hourly limit: %v %q", err, r.refused())
		}
	})
}

// TestFullyCoveredAtTheTerminalLine: on a line the terminal sells, a
// voucher that covers the portion pours without the reader: no VEND
// REQUEST, nothing charged to a card.
func TestFullyCoveredAtTheTerminalLine(t *testing.T) {
	r := newRig(t, rigOptions{terminal: []int{1}})
	r.voucher("FREE-0002", "discount", 2000)
	if err := r.scan(1, "FREE-0002"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.svc.TakeVoucher(1); ok {
		t.Fatal("a fully covered voucher armed the terminal")
	}
	r.pour(1, 8)
	rec := r.booked(1)[0]
	if rec.Ref.Vend != "" || rec.Pour.Amount != 0 || rec.Ref.Voucher != "FREE-0002" {
		t.Fatalf("record %+v", rec)
	}
	if l := r.reader.Ledger(); len(l.Sales) != 0 || r.ev.Count(device.EventMDBSession) != 0 {
		t.Fatalf("the reader was involved: %+v %s", l, r.ev.String())
	}
}

// TestConcurrentScansSpendOnce: the scanner and the dashboard scan the
// same code at once on two lines: one pours, the other is refused.
func TestConcurrentScansSpendOnce(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.voucher("TWICE-001", "discount", 2000)
	errs := make(chan error, 2)
	for _, line := range []int{1, 2} {
		go func() { errs <- r.scan(line, "TWICE-001") }()
	}
	ok := 0
	for range 2 {
		if err := <-errs; err == nil {
			ok++
		} else if !errors.Is(err, voucherpay.ErrRefused) {
			t.Fatal(err)
		}
	}
	if ok != 1 || r.ev.Count(device.EventVoucherAccepted) != 1 {
		t.Fatalf("%d scans poured: %s", ok, r.ev.String())
	}
}

// TestShortPortionAtTheTerminal: a gift pays part of the portion, the
// card the rest; the glass is taken away early: the terminal refunds the
// card (VEND FAILURE) and the gift is charged only for what was poured.
func TestShortPortionAtTheTerminal(t *testing.T) {
	r := newRig(t, rigOptions{terminal: []int{1}})
	r.voucher("GIFT-0300", "gift", 300)
	if err := r.scan(1, "GIFT-0300"); err != nil {
		t.Fatal(err)
	}
	r.pour(1, 2)
	r.reader.PresentCard(1000)
	r.until("refunded", r.ev.Has(device.EventMDBVendRefunded))
	rec := r.booked(1)[0]
	if rec.Pour.Amount != 0 || rec.Pour.Complete || rec.Ref.Voucher != "GIFT-0300" || rec.Pour.Charged <= 0 {
		t.Fatalf("record %+v", rec)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Refunds, []uint32{portionPrice - 300}) {
		t.Fatalf("reader ledger %+v", l)
	}
	if err := r.deliver(); err != nil {
		t.Fatal(err)
	}
	poured := smartnow.PouredOriginal(rec)
	if v := r.emuVoucher("GIFT-0300"); poured <= 0 || v.Balance != 300-min(300, poured) {
		t.Fatalf("balance %d after %d poured (%v)", v.Balance, poured, rec.Pour.Charged)
	}
}
