package smartnow

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/delivery"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// fakeNow is a settable clock for token expiry.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

type rig struct {
	cloud *cloud
	clk   *fakeNow
	store *storage.Store
	view  *storage.SinkView
	pump  *delivery.Pump
	logs  *bytes.Buffer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	clk := &fakeNow{t: time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)}
	cl := newCloud(t, clk.Now)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(t.TempDir(), "tapagent.db"), storage.Options{Sinks: []string{"ttg", SinkName},
		Stamp: storage.Stamp{Zone: berlin, Currency: "EUR", Decimals: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	view, err := st.Sink(SinkName)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := NewClient(Config{BaseURL: cl.srv.URL, Username: "wall", Password: "secret", Now: clk.Now, Log: log})
	pump := delivery.NewPump(NewSink(c, Machine{Hostname: "wall-1", ID: 80, Zone: berlin}), view, delivery.Options{Now: clk.Now, Log: log})
	return &rig{cloud: cl, clk: clk, store: st, view: view, pump: pump, logs: &logs}
}

func (r *rig) book(t *testing.T, rec storage.Record) {
	t.Helper()
	if _, err := r.store.Book(storage.Booking{Record: rec}); err != nil {
		t.Fatal(err)
	}
}

func sale(id string, amount int64) storage.Record {
	return storage.Record{ID: id, Kind: storage.KindPour, Line: 2, PLU: 104, Product: "Helles", StartedAt: 1764619190000,
		EndedAt: 1764619200000, Pour: flow.Result{Volume: 3000, Charged: 3000, Amount: amount}}
}

func TestRevenueTransactionsAndLogs(t *testing.T) {
	r := newRig(t)
	card := sale("1-1", 390)
	card.Ref = storage.Ref{Vend: "v7"}
	r.book(t, card)
	r.book(t, storage.Record{ID: "1-b1-u1", Kind: storage.KindUnattributed, Line: 3, StartedAt: 1764619100000, EndedAt: 1764619160000,
		Pour: flow.Result{Unattributed: true, Volume: 250}})
	voucher := sale("1-2", 200)
	voucher.Ref = storage.Ref{Voucher: "ABC123", OriginalPrice: "390"}
	r.book(t, voucher)
	r.book(t, storage.Record{ID: "1-b1-c1", Kind: storage.KindCalibration, Line: 1, EndedAt: 1764619300000})
	r.book(t, sale("1-3", -0)) // a zero pour: no sale, nothing sent
	empty := sale("1-4", 0)
	empty.Pour.Charged = 0
	r.book(t, empty)
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _, nrev, nlog := r.cloud.counts()
	if nrev != 3 || nlog != 2 {
		t.Fatalf("cloud holds %d revenue transactions and %d logs, want 3 and 2", nrev, nlog)
	}
	got := r.cloud.revenue[1]
	pt := got.PaymentTransactions[0]
	if got.Hostname != "wall-1" || got.Machine != 80 || got.Price != 390 || got.OriginalPrice != 390 || got.Currency != "EUR" ||
		got.OccurredAt != "2025-12-01T21:00:00+01:00" || got.TimeZone != "Europe/Berlin" || got.Timestamp != 1764619200 ||
		got.InternalRef != "104" || got.Name != "Helles" || pt.Method != MethodCard || pt.Price != 390 {
		t.Errorf("card sale %+v", got)
	}
	if v := r.cloud.revenue[2]; v.Price != 200 || v.OriginalPrice != 390 || v.PaymentTransactions[0].Method != MethodCode {
		t.Errorf("voucher sale %+v", v)
	}
	if lg := r.cloud.logs[1]; lg.Code != CodeUnattributed || lg.Type != LogTypeAlarm || lg.Duration == nil || *lg.Duration != 60 ||
		!strings.Contains(lg.ExtraData, `"volume_ml10":250`) {
		t.Errorf("leak log %+v", lg)
	}
	if st, _ := r.view.Status(); st.Depth != 0 || st.Dead != 0 {
		t.Fatalf("sink status %+v", st)
	}
}

func TestResendIsIdempotent(t *testing.T) {
	r := newRig(t)
	r.book(t, sale("1-1", 390))
	r.book(t, sale("1-2", 390))
	// The cloud stores both but the replies are lost: the records stay.
	c := NewClient(Config{BaseURL: r.cloud.srv.URL, Username: "wall", Password: "secret", Now: r.clk.Now})
	recs, _ := r.view.Outbox(0, 10)
	for _, rec := range recs {
		rt, _ := Revenue(rec, Machine{Hostname: "wall-1"})
		if _, _, err := c.Call(context.Background(), "POST", "/revenuetransaction", rt); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, nrev, _ := r.cloud.counts(); nrev != 2 {
		t.Fatalf("%d revenue transactions after the resend", nrev)
	}
	if st, _ := r.view.Status(); st.Depth != 0 || st.Dead != 0 {
		t.Fatalf("a 409 for a remote already there must count as delivered: %+v", st)
	}
}

func TestTokenRefreshAndRelogin(t *testing.T) {
	r := newRig(t)
	r.book(t, sale("1-1", 390))
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// At 80 % of the token's 10 minutes it is refreshed, not replaced by a login.
	r.clk.Add(9 * time.Minute)
	r.book(t, sale("1-2", 390))
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if logins, refreshs, _, _ := r.cloud.counts(); logins != 1 || refreshs != 1 {
		t.Fatalf("logins %d refreshes %d, want 1 and 1", logins, refreshs)
	}
	// The server forgets its tokens: a 401 logs in again and the record goes.
	r.cloud.revoke()
	r.book(t, sale("1-3", 390))
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if logins, _, nrev, _ := r.cloud.counts(); logins != 2 || nrev != 3 {
		t.Fatalf("logins %d revenue %d after a 401", logins, nrev)
	}
	// Tokens are never logged.
	for tok := range r.cloud.tokens {
		if strings.Contains(r.logs.String(), tok) {
			t.Fatal("an access token reached the log")
		}
	}
	if strings.Contains(r.logs.String(), "refresh-") || strings.Contains(r.logs.String(), "secret") {
		t.Fatal("a refresh token or the password reached the log")
	}
}

func TestRefusedAndFailingRecords(t *testing.T) {
	r := newRig(t)
	r.book(t, sale("1-1", 390))
	r.book(t, sale("1-2", 390))
	r.cloud.mu.Lock()
	r.cloud.fail = 1
	r.cloud.mu.Unlock()
	// A 503 is no verdict on the record: it stays, and the error is kept.
	if _, err := r.pump.Once(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503: %v", err)
	}
	st, _ := r.view.Status()
	if st.Depth != 2 || !strings.Contains(st.LastError.Msg, "maintenance") {
		t.Fatalf("status after 503: %+v", st)
	}
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.view.Status(); st.Depth != 0 || st.LastError.Msg != "" {
		t.Fatalf("status after recovery: %+v", st)
	}
	// A document SmartNow refuses becomes this sink's dead letter only;
	// the records after it go on.
	bad := sale("1-3", 390)
	bad.PLU = 999
	r.book(t, bad)
	r.book(t, sale("1-4", 390))
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	dl, _ := r.view.DeadLetters()
	if len(dl) != 1 || dl[0].Record.ID != "1-3" || !strings.Contains(dl[0].Reason, "422") {
		t.Fatalf("dead letters %+v", dl)
	}
	if ttgDead, _ := r.store.DeadLetters(); len(ttgDead) != 0 {
		t.Fatalf("the TTG sink got a dead letter: %+v", ttgDead)
	}
	if _, _, nrev, _ := r.cloud.counts(); nrev != 3 {
		t.Fatalf("%d revenue transactions", nrev)
	}
	if n, _ := r.store.OutboxLen(); n != 4 {
		t.Fatalf("outbox %d: records left before the TTG sink took them", n)
	}
}

func TestUnreachableCloudKeepsRecords(t *testing.T) {
	r := newRig(t)
	r.cloud.srv.Close()
	r.book(t, sale("1-1", 390))
	if _, err := r.pump.Once(context.Background()); err == nil {
		t.Fatal("delivered to a closed server")
	}
	st, _ := r.view.Status()
	if st.Depth != 1 || st.LastError.Msg == "" || strings.Contains(st.LastError.Msg, "secret") {
		t.Fatalf("status %+v", st)
	}
}

// TestAlarmsBecomeLogs: the agent's alarms and service events in the event
// log reach SmartNow as logs with the published codes, once, in the wall's
// zone; other events are passed over.
func TestAlarmsBecomeLogs(t *testing.T) {
	r := newRig(t)
	at := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	for _, ev := range []device.Event{
		{Time: at, Type: device.EventAgentStarted},
		{Time: at.Add(time.Second), Type: device.EventPourStarted, Line: 1},
		{Time: at.Add(2 * time.Second), Type: device.EventAlarm, Line: 2, Alarm: &flow.Alarm{Kind: "leak", Active: true, Count: 40}},
		{Time: at.Add(3 * time.Second), Type: device.EventAlarmCleared, Line: 2, Alarm: &flow.Alarm{Kind: "leak"}},
		{Time: at.Add(4 * time.Second), Type: device.EventKegEmpty, Line: 3},
	} {
		b, _ := json.Marshal(ev)
		done := make(chan error, 1)
		r.store.AppendEvent(b, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ { // a second pass sends nothing again
		if err := r.pump.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	_, _, _, nlog := r.cloud.counts()
	if nlog != 4 {
		t.Fatalf("%d logs, want 4 (started, leak, leak cleared, keg empty)", nlog)
	}
	want := map[uint64]string{1: CodeStarted, 3: CodeLeak, 4: CodeLeak, 5: CodeKegEmpty}
	for seq, code := range want {
		lg, ok := r.cloud.logs[remoteEvents+seq]
		if !ok || lg.Code != code || lg.TimeZone != "Europe/Berlin" {
			t.Errorf("event %d: %+v, want %s", seq, lg, code)
		}
	}
	if lg := r.cloud.logs[remoteEvents+3]; lg.OccurredAt != "2026-07-01T12:00:02+02:00" || !lg.IsResolvable || lg.ResolvedAt != nil ||
		!strings.Contains(lg.ExtraData, `"count":40`) {
		t.Errorf("leak %+v", lg)
	}
	if lg := r.cloud.logs[remoteEvents+4]; lg.ResolvedAt == nil || *lg.ResolvedAt != "2026-07-01T12:00:03+02:00" {
		t.Errorf("leak cleared %+v", lg)
	}
}

// TestKegAndLineOperationsBecomeLogs: a keg change, an adjustment, a keg
// marked empty and a lock and unlock reach SmartNow as info logs naming the
// keg and who did it.
func TestKegAndLineOperationsBecomeLogs(t *testing.T) {
	r := newRig(t)
	at := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	by := &device.Actor{Name: "anna", Role: "staff", Via: "web"}
	keg := &flow.Keg{ID: "K-77", Size: 300000, Remaining: 123456, PLU: 12}
	evs := []device.Event{
		{Time: at, Type: device.EventKegChanged, Line: 1, Keg: keg, By: by},
		{Time: at.Add(time.Second), Type: device.EventKegAdjusted, Line: 1, Keg: keg, By: by, Detail: "12.3 L -> 12.3 L"},
		{Time: at.Add(2 * time.Second), Type: device.EventKegMarkedEmpty, Line: 2, Keg: &flow.Keg{Size: 200000}, By: by},
		{Time: at.Add(3 * time.Second), Type: device.EventLineLocked, Line: 3, By: &device.Actor{Via: "mqtt"}},
		{Time: at.Add(4 * time.Second), Type: device.EventLineUnlocked, Line: 3, By: &device.Actor{Via: "cli"}},
	}
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		done := make(chan error, 1)
		r.store.AppendEvent(b, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []struct{ code, extra string }{
		{CodeKegChanged, `{"by":{"name":"anna","role":"staff","via":"web"},"keg":{"id":"K-77","plu":12,"remaining_ml":12345,"size_ml":30000},"line":1,"type":"keg_changed"}`},
		{CodeKegAdjusted, `"detail":"12.3 L -> 12.3 L"`},
		{CodeKegMarkedEmpty, `"keg":{"remaining_ml":0,"size_ml":20000},"line":2`},
		{CodeLineLocked, `{"by":{"via":"mqtt"},"line":3,"type":"line_locked"}`},
		{CodeLineUnlocked, `"by":{"via":"cli"}`},
	}
	for i, w := range want {
		lg, ok := r.cloud.logs[remoteEvents+uint64(i+1)]
		if !ok || lg.Code != w.code || lg.Type != LogTypeInfo || lg.IsResolvable || !strings.Contains(lg.ExtraData, w.extra) {
			t.Errorf("event %d: %+v, want %s with %s", i+1, lg, w.code, w.extra)
		}
	}
}

// TestVoucherRedeemedFromTheOutbox: a voucher sale is redeemed with the
// order of what was poured before its revenue transaction goes; a redeem
// that fails for the network is retried with the record; a gift voucher's
// demand is the part it paid.
func TestVoucherRedeemedFromTheOutbox(t *testing.T) {
	r := newRig(t)
	short := sale("1-7", 0) // a gift paid it all; the pour ended short at 0.2 L of 0.3 L
	short.Ref = storage.Ref{Voucher: "GIFT-1", VoucherType: CampaignGift, OriginalPrice: "260"}
	r.book(t, short)
	disc := sale("1-8", 240)
	disc.Ref = storage.Ref{Voucher: "DISC-1", VoucherType: CampaignDiscount, OriginalPrice: "390"}
	r.book(t, disc)
	r.cloud.mu.Lock()
	r.cloud.fail = 1
	r.cloud.mu.Unlock()
	if _, err := r.pump.Once(context.Background()); err == nil {
		t.Fatal("a failed redeem was not reported")
	}
	if err := r.pump.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.cloud.mu.Lock()
	defer r.cloud.mu.Unlock()
	g, d := r.cloud.redeemed["1-7"], r.cloud.redeemed["1-8"]
	if g.Amount != 260 || len(g.Items) != 1 || g.Items[0].ProductID != "104" || g.Items[0].Price != 260 || r.cloud.demands["1-7"] != 260 {
		t.Errorf("gift redeem %+v demand %d", g, r.cloud.demands["1-7"])
	}
	if d.Amount != 390 || r.cloud.demands["1-8"] != 0 {
		t.Errorf("discount redeem %+v demand %d", d, r.cloud.demands["1-8"])
	}
	if rt := r.cloud.revenue[2]; rt.Price != 240 || rt.OriginalPrice != 390 || rt.PaymentTransactions[0].Method != MethodCode {
		t.Errorf("voucher sale %+v", rt)
	}
}
