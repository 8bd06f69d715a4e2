package terminalsale_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim/mdbsim"
	"github.com/tapagent/tapagent/storage"
)

// bookCash books n open pours paid at the bar straight into the store,
// each queueing its cash sale with the booking, as the agent does.
func bookCash(t testing.TB, st *storage.Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		rec := storage.Record{ID: fmt.Sprintf("1-%d", i), Kind: storage.KindPour, Line: 1, StartedAt: 1, EndedAt: 2,
			Pour: flow.Result{Volume: 3000, Charged: 3000, Amount: int64(100 + i)}}
		if _, err := st.Book(storage.Booking{Record: rec, Also: terminalsale.Settle(rec)}); err != nil {
			t.Fatal(err)
		}
	}
}

// queued counts the cash sales waiting in the journal.
func queued(t testing.TB, st *storage.Store) int {
	t.Helper()
	n := 0
	if err := st.View("mdb_vends", func(b storage.Bucket) error {
		return b.ForEach(func(k, _ []byte) error {
			if strings.HasPrefix(string(k), "cash/") {
				n++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCashSaleQueueBound: beyond MaxCashSales the oldest reports are
// dropped and announced once with their count; every sale stays booked in
// the outbox, and the reader hears the rest oldest first.
func TestCashSaleQueueBound(t *testing.T) {
	r := manualRig(t, func(rd *mdbsim.Reader) { rd.CashSale = true }, 1)
	const over = 5
	bookCash(t, r.store, 0, terminalsale.MaxCashSales+over)
	if n := queued(t, r.store); n != terminalsale.MaxCashSales {
		t.Fatalf("%d queued, want the bound %d", n, terminalsale.MaxCashSales)
	}
	if n, _ := r.store.OutboxLen(); n != terminalsale.MaxCashSales+over {
		t.Fatalf("outbox %d: a booking was lost at the bound", n)
	}
	ctx := context.Background()
	for range 4 {
		r.tap.Turn(ctx)
	}
	ev, ok := r.event(device.EventMDBCashSalesDropped)
	if !ok || ev.Amount != over {
		t.Fatalf("dropped event %+v (found %v), want a count of %d: %s", ev, ok, over, r.types())
	}
	for range 10 {
		r.tap.Turn(ctx)
	}
	if r.ev.Count(device.EventMDBCashSalesDropped) != 1 {
		t.Fatal("the drop was announced more than once")
	}
	sales := r.reader.Ledger().CashSales
	if len(sales) < 3 || !slices.Equal(sales[:3], []uint32{100 + over, 101 + over, 102 + over}) {
		t.Fatalf("reader heard %v, want the oldest kept first (%d, ...)", sales, 100+over)
	}
	if n := queued(t, r.store); n != terminalsale.MaxCashSales-len(sales) {
		t.Fatalf("%d queued after %d reported", n, len(sales))
	}
}

// TestCashSaleQueueClearedForAReaderWithout: a reader that does not take
// CASH SALE has the queue cleared in small bites, one commit per poll.
func TestCashSaleQueueClearedForAReaderWithout(t *testing.T) {
	r := manualRig(t, nil, 1)
	bookCash(t, r.store, 0, 150)
	ctx := context.Background()
	r.tap.Turn(ctx) // power-up
	if !r.tap.Health().Ready {
		t.Fatal("reader not up")
	}
	before := queued(t, r.store)
	r.tap.Turn(ctx)
	if after := queued(t, r.store); after >= before || before-after > 64 {
		t.Fatalf("one poll cleared %d of %d", before-after, before)
	}
	for range 5 {
		r.tap.Turn(ctx)
	}
	if n := queued(t, r.store); n != 0 || len(r.reader.Ledger().CashSales) != 0 {
		t.Fatalf("%d left, reader heard %v", n, r.reader.Ledger().CashSales)
	}
}

// TestCashSaleLegacyQueue: a queue an older agent wrote ("cash/<record
// id>", no id in the value, no count) is reported and counted after a
// restart.
func TestCashSaleLegacyQueue(t *testing.T) {
	r := newRigWith(t, func(rd *mdbsim.Reader) { rd.CashSale = true }, 1)
	r.crash()
	st, err := storage.Open(filepath.Join(r.cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update("mdb_vends", func(b storage.Bucket) error {
		for _, id := range []string{"1-7", "1-8"} {
			if err := b.Put([]byte("cash/"+id), []byte(`{"line":1,"amount":250}`)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r.start()
	r.until("both reported", func() bool { return r.ev.Count(device.EventMDBCashSale) == 2 && queued(t, r.store) == 0 })
	var ids []string
	for _, ev := range r.ev.All() {
		if ev.Type == device.EventMDBCashSale {
			ids = append(ids, ev.PourID)
		}
	}
	if !slices.Equal(ids, []string{"1-7", "1-8"}) || queued(t, r.store) != 0 {
		t.Fatalf("reported %v, %d left", ids, queued(t, r.store))
	}
}
