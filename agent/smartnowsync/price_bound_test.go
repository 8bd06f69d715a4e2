package smartnowsync_test

import (
	"testing"

	snemu "github.com/tapagent/tapagent/sim/smartnow"
)

// TestHugeAssortmentPriceIsRefused: a SmartNow assortment price beyond
// flow.MaxPrice (a cloud bug, a typo in cents) is refused with a clear
// error and the line keeps its configured price; the wall's money never
// wraps into a negative amount.
func TestHugeAssortmentPriceIsRefused(t *testing.T) {
	c := newCloud(t, snemu.Product{PLU: 101, Name: "Helles vom Fass", Price: 1 << 60})
	r := newRig(t, c, monday, nil)
	r.attach()
	_, err := r.sync.Refresh(ctx(t))
	p, perr := r.dev.PortionPrice(1, 5000)
	t.Logf("refresh err=%v; 500 mL on line 1 costs %d (err %v)", err, p, perr)
	if perr == nil && p < 0 {
		t.Fatalf("a SmartNow price of 2^60 made 500 mL cost %d: money wrapped", p)
	}
	if err == nil || perr != nil || p != 650 {
		t.Fatalf("a SmartNow price of 2^60: refresh %v; 500 mL costs %d (%v), want the configured 650", err, p, perr)
	}
}
