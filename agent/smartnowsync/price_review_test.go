package smartnowsync_test

import (
	"testing"

	snemu "github.com/tapagent/tapagent/sim/smartnow"
)

// TestReviewHugeAssortmentPriceOverflows: SmartNow's assortment price is
// checked only for being non-negative; a huge one (a cloud bug, a typo in
// cents) is applied and the wall's money arithmetic (Vol × Minor) wraps:
// 500 mL costs a negative amount. It should be refused at decode or apply
// with a clear error, keeping the configured price.
func TestReviewHugeAssortmentPriceOverflows(t *testing.T) {
	c := newCloud(t, snemu.Product{PLU: 101, Name: "Helles vom Fass", Price: 1 << 60})
	r := newRig(t, c, monday, nil)
	r.attach()
	_, err := r.sync.Refresh(ctx(t))
	p, perr := r.dev.PortionPrice(1, 5000)
	t.Logf("refresh err=%v; 500 mL on line 1 costs %d (err %v)", err, p, perr)
	if perr == nil && p < 0 {
		t.Fatalf("a SmartNow price of 2^60 made 500 mL cost %d: money wrapped", p)
	}
	if err == nil && perr == nil && p != 650 {
		t.Fatalf("a SmartNow price of 2^60 was applied without an error: 500 mL costs %d", p)
	}
}
