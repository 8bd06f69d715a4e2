package device_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
)

var staff = device.Actor{Name: "anna", Role: "staff", Via: "cli"}

// entries reads the history the agent kept.
func (h *harness) entries(q history.Query) []history.Entry {
	h.t.Helper()
	es, err := history.New(h.store).Find(context.Background(), q)
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func (h *harness) ops(op string) []history.Entry {
	var out []history.Entry
	for _, e := range h.entries(history.Query{Kinds: []string{history.KindOperation}}) {
		if e.Op == op {
			out = append(out, e)
		}
	}
	return out
}

// kick runs line 1's keg dry mid-pour: foam, keg_empty, line disabled.
func (h *harness) kick() {
	h.t.Helper()
	h.line(1).SetKeg(400)
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(500), Price: price})
	h.pour(1, 60, 15*time.Second)
	h.run(12 * time.Second)
	if h.status(1).Disabled != "keg_empty" {
		h.t.Fatal("keg did not kick")
	}
}

// TestDryKegReadsEmpty: when the foam cut-off decides the keg is empty, its
// registry says 0 left (not the estimate the pours left), on disk too, so
// kegs, the dashboard and /metrics agree with "disabled: keg_empty".
func TestDryKegReadsEmpty(t *testing.T) {
	h := newHarness(t, nil)
	h.kick()
	h.run(10 * time.Second) // the pour that ran dry is booked
	check := func(when string) {
		t.Helper()
		if s := h.status(1); s.KegLeft != 0 || s.KegPermille != 0 {
			t.Fatalf("%s: status keg %d left, %d‰", when, s.KegLeft, s.KegPermille)
		}
		if k := h.agent.Kegs()[0]; k.Keg.Remaining != 0 || !k.Keg.Empty || !k.Keg.Kicked || k.Disabled != "keg_empty" {
			t.Fatalf("%s: kegs %+v", when, k)
		}
	}
	check("kicked")
	kegs, err := h.store.Kegs()
	if err != nil {
		t.Fatal(err)
	}
	if k := kegs[1]; k.Remaining != 0 || !k.Kicked {
		t.Fatalf("stored keg %+v", k)
	}
	h.stop()
	h.start()
	check("after restart")
}

func TestKegChangeReenablesDryLineAcrossRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.kick()
	h.line(1).SetKeg(30000)
	tapped := h.clk.Now().Add(-time.Hour)
	if err := h.agent.ChangeKeg(staff, device.KegChange{Line: 1, Size: flow.ML(30000), KegID: "K-7", Tapped: tapped}); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.start()
	if s := h.status(1); s.Disabled != "" || s.KegLeft != flow.ML(30000) {
		t.Fatalf("after restart: %+v", s)
	}
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(200), Price: price})
	ops := h.ops(history.OpKegChange)
	if len(ops) != 1 {
		t.Fatalf("%d keg change records", len(ops))
	}
	e := ops[0]
	if e.Actor == nil || *e.Actor != staff || e.Before == nil || !e.Before.Keg.Kicked || e.After == nil ||
		e.After.Keg.Size != flow.ML(30000) || e.After.Keg.ID != "K-7" || e.After.Keg.TappedAt != tapped.UnixMilli() ||
		!strings.Contains(e.Detail, "keg K-7 of") {
		t.Fatalf("audit record %+v before %+v after %+v", e, e.Before, e.After)
	}
	if h.count(device.EventKegChanged) != 1 {
		t.Fatal("no keg_changed event")
	}
}

func TestOperationsRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.authorise(2, flow.Auth{Mode: flow.ModeFree, Price: price})
	h.pour(2, 60, 10*time.Second)
	h.run(time.Second)
	change := func(c device.KegChange) func() error {
		return func() error { return h.agent.ChangeKeg(staff, c) }
	}
	for _, c := range []struct {
		name string
		do   func() error
		want error
	}{
		{"unknown line", change(device.KegChange{Line: 9, Size: flow.ML(50000)}), device.ErrNoLine},
		{"keg too small", change(device.KegChange{Line: 1, Size: flow.ML(500)}), device.ErrKegSize},
		{"keg too large", change(device.KegChange{Line: 1, Size: device.MaxKegSize + 1}), device.ErrKegSize},
		{"line pouring", change(device.KegChange{Line: 2, Size: flow.ML(50000)}), device.ErrLineBusy},
		{"tapped tomorrow", change(device.KegChange{Line: 1, Size: flow.ML(50000), Tapped: h.clk.Now().Add(24 * time.Hour)}), device.ErrBadOperation},
		{"nobody", func() error {
			return h.agent.ChangeKeg(device.Actor{}, device.KegChange{Line: 1, Size: flow.ML(50000)})
		}, device.ErrBadOperation},
		{"adjust above size", func() error { return h.agent.AdjustKeg(staff, 1, flow.ML(60000)) }, device.ErrBadOperation},
		{"adjust pouring", func() error { return h.agent.AdjustKeg(staff, 2, flow.ML(100)) }, device.ErrLineBusy},
		{"empty pouring", func() error { return h.agent.MarkEmpty(staff, 2) }, device.ErrLineBusy},
		{"clean pouring", func() error { return h.agent.SetCleaning(staff, 2, true) }, device.ErrLineBusy},
		{"stop cleaning not cleaning", func() error { return h.agent.SetCleaning(staff, 1, false) }, device.ErrBadOperation},
		{"lock unknown", func() error { return h.agent.SetLocked(staff, 0, true) }, device.ErrNoLine},
	} {
		if err := c.do(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if n := len(h.entries(history.Query{Kinds: []string{history.KindOperation}})); n != 0 {
		t.Fatalf("%d audit records of refused operations", n)
	}
}

func TestMarkEmptyAndAdjust(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.agent.MarkEmpty(staff, 3); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.start()
	if h.status(3).Disabled != "keg_empty" {
		t.Fatal("a line marked empty pours after a restart")
	}
	if _, err := h.agent.Authorise(3, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err == nil {
		t.Fatal("pour authorised on a line marked empty")
	}
	if err := h.agent.AdjustKeg(staff, 3, flow.ML(12000)); err != nil {
		t.Fatal(err)
	}
	if s := h.status(3); s.Disabled != "" || s.KegLeft != flow.ML(12000) {
		t.Fatalf("after adjust: %+v", s)
	}
	adj := h.ops(history.OpKegAdjust)
	if len(h.ops(history.OpKegEmpty)) != 1 || len(adj) != 1 || adj[0].Before.Keg.Remaining != 0 || adj[0].After.Keg.Remaining != flow.ML(12000) {
		t.Fatalf("audit records %+v", adj)
	}
}

func TestCleaningIsAnUnchargedPourInHistory(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.agent.SetCleaning(staff, 2, true); err != nil {
		t.Fatal(err)
	}
	h.pour(2, 60, 20*time.Second)
	h.run(5 * time.Second)
	if err := h.agent.SetCleaning(staff, 2, false); err != nil {
		t.Fatal(err)
	}
	h.run(5 * time.Second)
	cl := h.entries(history.Query{Kinds: []string{history.KindCleaning}, Line: 2})
	if len(cl) != 1 || cl[0].Amount != 0 || cl[0].Volume <= 0 || cl[0].Payment != history.PayNone {
		t.Fatalf("cleaning history %+v", cl)
	}
	if len(h.ops(history.OpCleanOn)) != 1 || len(h.ops(history.OpCleanOff)) != 1 {
		t.Fatal("cleaning start and stop not audited")
	}
	if h.count(device.EventCleaningStarted) != 1 || h.count(device.EventCleaningStopped) != 1 {
		t.Fatal("cleaning events missing")
	}
}

func TestProductChangeSurvivesRestart(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.agent.ChangeKeg(staff, device.KegChange{Line: 1, PLU: 4711, Size: flow.ML(20000)}); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.start()
	if s := h.status(1); s.Product != "PLU 4711" {
		t.Fatalf("product after restart %q", s.Product)
	}
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(200), Price: price})
	h.pour(1, 60, 10*time.Second)
	h.run(10 * time.Second)
	recs := h.outbox()
	if len(recs) != 1 || recs[0].PLU != 4711 {
		t.Fatalf("records %+v", recs)
	}
	if es := h.entries(history.Query{Product: "4711", Kinds: []string{history.KindPour}}); len(es) != 1 || es[0].ID != recs[0].ID {
		t.Fatalf("history by product %+v", es)
	}
}

func TestPoursAreKeptInHistoryWithTheirBooking(t *testing.T) {
	h := newHarness(t, nil)
	for _, l := range []int{1, 2, 2} {
		h.authorise(l, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(300), Price: price})
		h.pour(l, 60, 10*time.Second)
		h.run(10 * time.Second)
	}
	recs := h.outbox()
	es := h.entries(history.Query{Kinds: []string{history.KindPour}})
	if len(recs) != 3 || len(es) != 3 {
		t.Fatalf("%d records, %d history entries", len(recs), len(es))
	}
	for i, e := range es {
		if e.ID != recs[i].ID || e.Volume != recs[i].Pour.Volume || e.Amount != recs[i].Pour.Amount || e.Payment != history.PayFree {
			t.Errorf("entry %d %+v for record %+v", i, e, recs[i])
		}
	}
	tot, err := history.New(h.store).Totals(context.Background(), history.Query{}, history.ByLine)
	if err != nil {
		t.Fatal(err)
	}
	if len(tot) != 2 || tot[0].Key != "1" || tot[0].Pours != 1 || tot[1].Pours != 2 || tot[1].Amount != recs[1].Pour.Amount+recs[2].Pour.Amount {
		t.Fatalf("totals %+v", tot)
	}
}

func TestLockOutlivesARestart(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.agent.SetLocked(staff, 2, true); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.start()
	if !h.status(2).Locked {
		t.Fatal("a locked line is back in service after a restart")
	}
	if _, err := h.agent.Authorise(2, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); !errors.Is(err, device.ErrLocked) {
		t.Fatalf("pour on a line locked before the restart: %v", err)
	}
	if err := h.agent.SetLocked(staff, 2, false); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.start()
	if h.status(2).Locked {
		t.Fatal("an unlocked line is locked after a restart")
	}
	if ops := h.ops(history.OpLock); len(ops) != 1 || ops[0].Before.Locked || !ops[0].After.Locked {
		t.Fatalf("lock records %+v", ops)
	}
}
