package cashregister_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/cashregister"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// TestPruneFinishedCredits: a credit poured to its end and the tombstones
// of a deleted credit and a collected debit go a retention after they
// were first found finished; a credit with portions left, one a pour holds
// a reservation on, and a debit the register has not collected stay; a
// POST replaying a pruned credit's id is refused, not granted again.
func TestPruneFinishedCredits(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := cashregister.NewRegister(st, []cashregister.Article{{PLU: 102, Line: 2, Name: "Pils", Portion: 3000, Price: 420}}, nil)
	grant := func(id, count int64, waiter ...int64) {
		t.Helper()
		w := append(waiter, 7)[0]
		if _, _, err := reg.CreateFilled(cashregister.Credit{ID: cashregister.Num(id), Waiter: cashregister.Num(w), PLU: 102, Count: cashregister.Num(count)}); err != nil {
			t.Fatal(err)
		}
	}
	grant(100, 2) // poured to the end below
	if _, err := reg.Fill(100, cashregister.Credit{Waiter: 7, PLU: 102, Count: -2}); err != nil {
		t.Fatal(err)
	}
	grant(200, 1) // deleted: a tombstone
	if err := reg.DeleteCredit(200); err != nil {
		t.Fatal(err)
	}
	grant(300, 3)    // portions left
	grant(400, 1, 8) // its last portion reserved by a pour under way: held
	if _, err := reg.Reserve(8, 102); err != nil {
		t.Fatal(err)
	}
	// a waiter pour booked: its debit, collected by the register, leaves a tombstone
	res, err := reg.Reserve(7, 102)
	if err != nil {
		t.Fatal(err)
	}
	rec := storage.Record{ID: "1-1", Kind: storage.KindPour, Line: 2, Ref: storage.Ref{Reservation: res.ID},
		Pour: flow.Result{Volume: 3000, Charged: 3000, Amount: 420}}
	if _, err := st.Book(storage.Booking{Record: rec, Also: reg.Settle(rec)}); err != nil {
		t.Fatal(err)
	}
	debits, err := reg.Debits()
	if err != nil || len(debits) != 1 {
		t.Fatalf("debits %v, %v", debits, err)
	}
	if n, err := reg.DeleteDebits(true, int64(debits[0].ID)); err != nil || n != 1 {
		t.Fatalf("collecting the debit: %d, %v", n, err)
	}
	p := cashregister.Pruner{St: st, Keep: 30 * 24 * time.Hour}
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if n, err := p.Prune(ctx, t0); n != 0 || err != nil {
		t.Fatalf("first pass deleted %d, %v: it only marks", n, err)
	}
	if n, err := p.Prune(ctx, t0.Add(29*24*time.Hour)); n != 0 || err != nil {
		t.Fatalf("within the retention: %d, %v", n, err)
	}
	n, err := p.Prune(ctx, t0.Add(30*24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("after the retention deleted %d, %v; want the used-up credit and both tombstones", n, err)
	}
	if _, err := reg.Credit(100); !errors.Is(err, cashregister.ErrNotFound) {
		t.Fatalf("credit 100: %v", err)
	}
	if _, err := reg.Credit(300); err != nil {
		t.Fatalf("credit with portions left: %v", err)
	}
	if _, err := reg.Credit(400); err != nil {
		t.Fatalf("credit held by a pour under way: %v", err)
	}
	left, err := reg.Credits()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range left {
		total += int(c.Count)
	}
	if total != 2 { // 300's three, one poured
		t.Fatalf("%d portions left after pruning, want 2: %+v", total, left)
	}
	_, _, err = reg.CreateFilled(cashregister.Credit{ID: 100, Waiter: 7, PLU: 102, Count: 2})
	if !errors.Is(err, cashregister.ErrConflict) {
		t.Fatalf("replayed POST of pruned credit 100: %v, want a conflict", err)
	}
	if _, _, err := reg.CreateFilled(cashregister.Credit{ID: 500, Waiter: 7, PLU: 102, Count: 1}); err != nil {
		t.Fatalf("a new id above the pruned ones: %v", err)
	}
}
