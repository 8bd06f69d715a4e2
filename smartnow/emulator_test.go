package smartnow_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/delivery"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim/cloudemu"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
)

// testWriter sends the client's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

type emuRig struct {
	emu   *snemu.Server
	store *storage.Store
	view  *storage.SinkView
	pump  *delivery.Pump
	c     *smartnow.Client
}

func newEmuRig(t *testing.T) *emuRig {
	t.Helper()
	emu, err := snemu.New(snemu.Options{Machines: []snemu.Machine{{ID: 80, Hostname: "tap-1", Location: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(t.TempDir(), "tapagent.db"), storage.Options{Sinks: []string{storage.DefaultSink, smartnow.SinkName},
		Stamp: storage.Stamp{Zone: berlin, Currency: "EUR", Decimals: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	view, err := st.Sink(smartnow.SinkName)
	if err != nil {
		t.Fatal(err)
	}
	c := smartnow.NewClient(smartnow.Config{BaseURL: url, Username: "tapagent", Password: "tapagent", Timeout: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	pump := delivery.NewPump(smartnow.NewSink(c, smartnow.Machine{Hostname: "tap-1", Zone: berlin}), view, delivery.Options{})
	return &emuRig{emu: emu, store: st, view: view, pump: pump, c: c}
}

func (r *emuRig) book(t *testing.T, rec storage.Record) {
	t.Helper()
	if _, err := r.store.Book(storage.Booking{Record: rec}); err != nil {
		t.Fatal(err)
	}
}

func emuSale(id string, amount int64, ref storage.Ref) storage.Record {
	return storage.Record{ID: id, Kind: storage.KindPour, Line: 2, PLU: 104, Product: "Helles", StartedAt: 1764619190000,
		EndedAt: 1764619200000, Ref: ref, Pour: flow.Result{Volume: 3000, Charged: 3000, Amount: amount}}
}

// TestAgainstTheEmulator: sales, service records and alarms reach the
// SmartNow emulator (written from the reference alone) once each, through
// a lost reply and expired tokens.
func TestAgainstTheEmulator(t *testing.T) {
	r := newEmuRig(t)
	r.book(t, emuSale("1-1", 390, storage.Ref{Vend: "v1"}))
	r.book(t, storage.Record{ID: "1-b1-u1", Kind: storage.KindUnattributed, Line: 3, StartedAt: 1764619100000, EndedAt: 1764619160000,
		Pour: flow.Result{Unattributed: true, Volume: 250}})
	b, _ := json.Marshal(device.Event{Time: time.Date(2025, 12, 1, 20, 1, 0, 0, time.UTC), Type: device.EventAlarm, Line: 2,
		Alarm: &flow.Alarm{Kind: "leak", Active: true}})
	done := make(chan error, 1)
	r.store.AppendEvent(b, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dl, _ := r.view.DeadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters %+v", dl)
	}
	// A lost reply: the emulator stores the sale, the agent resends it.
	r.book(t, emuSale("1-2", 390, storage.Ref{}))
	r.emu.SetFaults(cloudemu.Faults{LoseReply: 1})
	if _, err := r.pump.Once(context.Background()); err == nil {
		t.Fatal("a lost reply counted as delivered")
	}
	// Expired tokens: a 401 logs in again.
	r.emu.SetFaults(cloudemu.Faults{ExpireTokens: true})
	r.book(t, emuSale("1-3", 200, storage.Ref{Voucher: "X", OriginalPrice: "390"}))
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rev, logs := r.emu.RevenueTransactions(), r.emu.Logs()
	if len(rev) != 3 || len(logs) != 2 {
		t.Fatalf("emulator holds %d revenue transactions and %d logs (%+v), want 3 and 2", len(rev), len(logs), logs)
	}
	if rev[0].Price != 390 || rev[0].Machine != 80 || rev[0].OccurredAt != "2025-12-01T21:00:00+01:00" || rev[0].Remote != 1 {
		t.Errorf("first sale %+v", rev[0])
	}
	if st, _ := r.view.Status(); st.Depth != 0 || st.Dead != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestVoucherAgainstTheEmulator: a gift voucher for PLU 104 is validated
// with the tap's hostname and a lock covering the pour, refused for
// another PLU, priced, and redeemed from the outbox with what was poured;
// its balance at the emulator drops by exactly that.
func TestVoucherAgainstTheEmulator(t *testing.T) {
	r := newEmuRig(t)
	ctx := context.Background()
	status, raw, err := r.c.Call(ctx, "POST", "/campaign", map[string]any{"name": "Fest", "totalVouchers": 1, "voucherValue": 1000, "type": "gift"})
	var camp struct {
		ID int64 `json:"id"`
	}
	if err != nil || status/100 != 2 || json.Unmarshal(raw, &camp) != nil {
		t.Fatalf("campaign: %d %s %v", status, raw, err)
	}
	status, raw, err = r.c.Call(ctx, "POST", "/voucher", map[string]any{"campaign": camp.ID, "type": "gift", "value": 1000,
		"code": "FEST-1", "validationRules": []map[string]string{{"field": "product", "value": "104"}}})
	if err != nil || status/100 != 2 {
		t.Fatalf("voucher: %d %s %v", status, raw, err)
	}
	v, err := r.c.Validate(ctx, "FEST-1", "tap-1", 2*time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ref *smartnow.Refusal
	if _, err := smartnow.Apply(v, 101, 390); !errors.As(err, &ref) {
		t.Fatalf("PLU 101 accepted: %v", err)
	}
	offer, err := smartnow.Apply(v, 104, 390)
	if err != nil || offer.Price != 0 || offer.Demand != 390 {
		t.Fatalf("offer %+v %v", offer, err)
	}
	// The pour ends short: 0.2 L of the 0.3 L, so 260 of the gift.
	rec := emuSale("1-9", 0, storage.Ref{Voucher: "FEST-1", VoucherType: smartnow.CampaignGift,
		OriginalPrice: "260"})
	rec.Pour.Volume, rec.Pour.Charged = 2000, 2000
	r.book(t, rec)
	if err := r.pump.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	vs := r.emu.Vouchers()
	if len(vs) != 1 || vs[0].Value != 1000-260 {
		t.Fatalf("voucher after the redeem: %+v", vs)
	}
	rev := r.emu.RevenueTransactions()
	if len(rev) != 1 || rev[0].Price != 0 || rev[0].OriginalPrice != 260 {
		t.Fatalf("revenue %+v", rev)
	}
}
