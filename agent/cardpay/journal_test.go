package cardpay

import "testing"

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
