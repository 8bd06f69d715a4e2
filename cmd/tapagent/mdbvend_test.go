package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
)

// TestMDBVendLeavesNoApproval: `mdb vend` against a reader whose replies
// are damaged takes the damage like a timeout (the reply is repeated) and
// sells; one whose approval does not come in time is withdrawn (VEND
// CANCEL, and VEND FAILURE unless it is denied) and the session ended,
// so no approval is left for the next probe's RESET to make a sale.
func TestMDBVendLeavesNoApproval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		faults  func(f *mdbsim.Faults)
		sold    bool
		withdrw bool
	}{
		{"damaged replies", func(f *mdbsim.Faults) { f.BadChecksums = 2 }, true, false},
		{"no approval in time", func(f *mdbsim.Faults) { f.SlowApproval = 1 << 20 }, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mdbsim.New(mdb.Cashless1)
			r.MaxResponse = 1 // Z7: the tool waits 1 s for the answer
			m := &mdb.Master{T: r, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Poll: time.Millisecond, Tries: 10}
			ctx := context.Background()
			if err := m.Init(ctx); err != nil {
				t.Fatal(err)
			}
			r.PresentCard(1000)
			r.SetFaults(tc.faults)
			var out strings.Builder
			err := mdbVend(ctx, m, 390, 1, 5*time.Second, &out)
			if tc.sold != (err == nil) || strings.Contains(out.String(), "VEND CANCEL") != tc.withdrw {
				t.Fatalf("vend: %v\n%s", err, out.String())
			}
			want := []uint32(nil)
			if tc.sold {
				want = []uint32{390}
			}
			if l := r.Ledger(); !slices.Equal(l.Sales, want) || r.State() != mdb.Enabled {
				t.Fatalf("ledger %+v, reader %s\n%s", l, r.State(), out.String())
			}
			r.PowerCycle() // what the next probe does: no sale appears
			if l := r.Ledger(); !slices.Equal(l.Sales, want) {
				t.Fatalf("after a reset: ledger %+v", l)
			}
		})
	}
}
