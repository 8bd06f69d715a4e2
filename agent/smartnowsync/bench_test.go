package smartnowsync_test

import (
	"fmt"
	"testing"
	"time"

	snemu "github.com/tapagent/tapagent/sim/smartnow"
)

// BenchmarkClosed is the cost of one opening-hours evaluation, which the
// wall makes once a second per line and at every authorisation (a week of
// two intervals a day).
func BenchmarkClosed(b *testing.B) {
	c := newCloud(b)
	var hours []snemu.OpeningHour
	for d := range 7 {
		hours = append(hours, snemu.OpeningHour{Day: d, StartTime: "11:00:00", EndTime: "14:30:00"},
			snemu.OpeningHour{Day: d, StartTime: "17:00:00", EndTime: "23:30:00"})
	}
	c.setHours(b, hours)
	r := newRig(b, c, monday, nil)
	if _, err := r.sync.Refresh(ctx(b)); err != nil {
		b.Fatal(err)
	}
	h := r.sync.Hours()
	at := monday
	for b.Loop() {
		at = at.Add(time.Second)
		h.Closed(2, at)
	}
}

// BenchmarkRefresh is one fetch and apply of a changed assortment of 300
// products (three pages), the opening hours and the configuration against
// the emulator on loopback, with its commit to bbolt.
func BenchmarkRefresh(b *testing.B) {
	c := newCloud(b)
	r := newRig(b, c, monday, nil)
	products := make([]snemu.Product, 300)
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		for i := range products {
			products[i] = snemu.Product{PLU: int64(101 + i), Name: fmt.Sprintf("P%d", i), Price: int64(500 + n)}
		}
		c.call(b, "PUT", "/machine/80/assortment", toProductReqs(products))
		b.StartTimer()
		if _, err := r.sync.Refresh(ctx(b)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommand is one command from the poll to its reported result:
// the fetch, three journal commits, the lock (committed with its audit
// record) and the result.
func BenchmarkCommand(b *testing.B) {
	c := newCloud(b)
	r := newRig(b, c, monday, nil)
	r.attach()
	locked := false
	for b.Loop() {
		b.StopTimer()
		cmd := "lock"
		if locked {
			cmd = "unlock"
		}
		locked = !locked
		c.queue(b, cmd, 1)
		b.StartTimer()
		if err := r.sync.PollCommands(ctx(b)); err != nil {
			b.Fatal(err)
		}
	}
}

func toProductReqs(ps []snemu.Product) []map[string]any {
	out := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		out = append(out, map[string]any{"plu": p.PLU, "name": p.Name, "price": p.Price})
	}
	return out
}
