package cardpay

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// FuzzResolveNeverChargesTwice plays what may happen to a first-layout
// card between a torn charge and its next tap — ours taken or not, then
// charges elsewhere (each a debit and a serving), top-ups and servings
// resets in any order — and checks Resolve never says "not charged" when
// ours is on the card, the one answer that would charge it again. What
// the counters cannot see (a reset and then at least as many charges
// elsewhere as the servings before; docs/cards.md) is left out.
func FuzzResolveNeverChargesTwice(f *testing.F) {
	f.Add(int64(2000), uint8(0), int64(392), true, []byte{0x80})
	f.Add(int64(2000), uint8(3), int64(392), true, []byte{0x01, 0x42})
	f.Add(int64(2000), uint8(0), int64(392), false, []byte{0x05})
	f.Fuzz(func(t *testing.T, credit int64, servings uint8, amount int64, took bool, steps []byte) {
		if credit < 0 || credit > 1_000_000 || amount <= 0 || amount > credit || len(steps) > 16 {
			return
		}
		e := Entry{CreditBefore: credit, ServingsBefore: int64(servings), Amount: amount, Servings: 1}
		c, s := credit, int64(servings)
		if took {
			c, s = c-amount, s+1
		}
		reset, since := false, int64(0) // charges elsewhere after the last reset
		for _, b := range steps {
			n := int64(b & 0x3F)
			switch b >> 6 {
			case 0, 1: // a charge elsewhere of 1..64 times 10
				if d := (n + 1) * 10; d <= c {
					c, s, since = c-d, s+1, since+1
				}
			case 2: // a top-up
				c += (n + 1) * 50
			case 3: // staff re-activate the card
				s, reset, since = 0, true, 0
			}
		}
		// A re-activation and as many charges elsewhere as the servings
		// before (or more) put the servings counter back in reach of the
		// rule; with servings before 0 a reset alone is seen, unless
		// top-ups bring the credit back to exactly what it was.
		if reset && since >= int64(servings) && (servings > 0 || since > 0 || c == credit) {
			return // beyond what the counters can tell (see above)
		}
		if got := e.Resolve(c, s); took && got == NotCommitted {
			t.Fatalf("ours on the card (before %d/%d, amount %d; now %d/%d): Resolve says not charged", credit, servings, amount, c, s)
		}
	})
}

// FuzzSettleKeepsTheCharge gives the booking's part of the card journal
// any stored entry (a valid one, a damaged one, one from an older
// version) and any booking: it never fails the booking, never changes or
// drops a charge the entry holds, records the pour for the tap (within
// maxPours), and owes a new charge only on an entry that held none.
func FuzzSettleKeepsTheCharge(f *testing.F) {
	f.Add([]byte(`{"pour_id":"1001-3","state":"sending","credit_before":2000,"amount":392,"servings":1}`), int64(450), int64(3000), true, false)
	f.Add([]byte(`{"state":"owed","booked":true,"amount":0,"servings":0,"pours":[{"pour_id":"1001-1"}]}`), int64(450), int64(3000), true, false)
	f.Add([]byte(`{"pour_id":"1001-3","state":"owed","booked":true,"amount":392,"servings":1}`), int64(0), int64(0), false, true)
	f.Add([]byte(`not json`), int64(1), int64(1), true, false)
	f.Add([]byte(nil), int64(450), int64(3000), true, false)
	st, err := storage.Open(filepath.Join(f.TempDir(), "db"), storage.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	n := 0
	f.Fuzz(func(t *testing.T, held []byte, amount, charged int64, prepaid, cleaning bool) {
		n++
		key := fmt.Sprintf("%x", n)
		r := storage.Record{ID: "1001-" + key, EndedAt: 1, Ref: storage.Ref{CardKey: key},
			Pour: flow.Result{Amount: amount, Charged: flow.Vol(charged), Volume: flow.Vol(charged)}}
		if prepaid {
			r.Ref.CardType = strconv.Itoa(ttg.CardPre)
		}
		if cleaning {
			r.Pour.Auth.Mode = flow.ModeCleaning
		}
		if held != nil {
			if err := st.Update(journalBucket, func(b storage.Bucket) error { return b.Put([]byte(key), held) }); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range Settle(r) {
			if err := st.Update(c.Bucket, c.Apply); err != nil {
				t.Fatalf("the booking failed over the journal: %v", err)
			}
		}
		var before Entry
		valid := held == nil || json.Unmarshal(held, &before) == nil
		var raw []byte
		_ = st.View(journalBucket, func(b storage.Bucket) error { raw = append(raw, b.Get([]byte(key))...); return nil })
		if !valid {
			if string(raw) != string(held) {
				t.Fatalf("a damaged entry was changed: %q → %q", held, raw)
			}
			return
		}
		var after Entry
		if err := json.Unmarshal(raw, &after); err != nil {
			t.Fatalf("entry after the booking: %q: %v", raw, err)
		}
		if n := len(after.Pours); n == 0 || n > maxPours || after.Pours[n-1].PourID != r.ID {
			t.Fatalf("the pour is not recorded for the tap: %+v", after.Pours)
		}
		heldCharge := held != nil && !(before.Booked && before.nothingDue())
		switch {
		case heldCharge && (after.PourID != before.PourID || after.State != before.State || after.Amount != before.Amount ||
			after.Servings != before.Servings || after.CreditBefore != before.CreditBefore):
			t.Fatalf("a held charge changed: %+v → %+v", before, after)
		case !heldCharge && cleaning && !after.nothingDue():
			t.Fatalf("a cleaning pour is owed: %+v", after)
		case !heldCharge && !after.nothingDue() && after.PourID != r.ID:
			t.Fatalf("owed for another pour: %+v", after)
		}
	})
}

// BenchmarkTapLook is what a waiting tap pays per look at the journal
// (every wake and every presence check): one read transaction and the
// entry decoded, with two served lines' pours booked in it.
func BenchmarkTapLook(b *testing.B) {
	st, err := storage.Open(filepath.Join(b.TempDir(), "db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pours := map[string]int{"1001-1": 1, "1001-2": 2}
	for id := range pours {
		r := storage.Record{ID: id, Ref: storage.Ref{CardKey: "04a1b2c3d4e5f6", CardType: strconv.Itoa(ttg.CardPre)},
			Pour: flow.Result{Amount: 450, Charged: flow.ML(300), Volume: flow.ML(300)}}
		for _, c := range Settle(r) {
			if err := st.Update(c.Bucket, c.Apply); err != nil {
				b.Fatal(err)
			}
		}
	}
	j := journal{st}
	b.ReportAllocs()
	for b.Loop() {
		if got, err := j.booked("04a1b2c3d4e5f6", pours); err != nil || len(got) != 2 {
			b.Fatal(got, err)
		}
	}
}
