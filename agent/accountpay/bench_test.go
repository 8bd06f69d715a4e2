package accountpay_test

import (
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/accountpay"
	"github.com/tapagent/tapagent/config"
	emu "github.com/tapagent/tapagent/sim/touchtopup"
)

// BenchmarkAccountTap measures a TouchTopUp tap from the card's number to
// the line authorised (intents, uncollected debits, the balance, the
// minimum pour, the intent's fsync), with the balance cached and read
// afresh from the emulator on loopback every time (balance_max_age 0).
// Each tapped pour is stopped and booked outside the timing.
func BenchmarkAccountTap(b *testing.B) {
	for _, c := range []struct {
		name string
		age  time.Duration
	}{{"cached", time.Hour}, {"fresh", 0}} {
		b.Run(c.name, func(b *testing.B) {
			r := newRig(b, emu.Options{}, func(tt *config.TouchTopUp) { tt.BalanceMaxAge.Duration = c.age })
			if err := r.emu.SetBalance(1, 5, 1<<40); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := r.tap(1, accountpay.Key{Card: cardJohn}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := r.dev.Stop(1); err != nil {
					b.Fatal(err)
				}
				r.run(time.Second)
				b.StartTimer()
			}
		})
	}
}
