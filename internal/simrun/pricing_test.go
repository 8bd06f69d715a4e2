package simrun_test

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/internal/simrun"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/ttg"
)

// TestScenarioPoursArePricedByTheServer: scenario pours in `tapagent sim`
// take the server's price with its happy hours, as on a real wall, for free
// pours and items alike, with ttg.time_zone far from the host's.
func TestScenarioPoursArePricedByTheServer(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	seed := ttgserver.DefaultSeed()
	seed.HappyHours = []ttg.HappyHour{{HappyID: 1, Name: "After work", StartTime: 17 * 60, EndTime: 18 * 60, PriceLevel: ttg.PriceHH1}}
	srv, err := ttgserver.New(ttgserver.Options{DataDir: t.TempDir(), Seed: &seed, Loc: kolkata})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer func() { hs.Close(); srv.Close() }()

	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir, cfg.TTG.URL, cfg.TTG.TimeZone = t.TempDir(), hs.URL, "Asia/Kolkata"
	cfg.Control.Listen, cfg.POS.Listen = "", ""
	sc, err := sim.ParseScenario([]byte(`
duration = "40s"
[[step]]
at = "1s"
line = 1
action = "authorise"
cap_ml = 300
[[step]]
at = "1.5s"
line = 1
action = "pour"
flow_ml_s = 60
duration = "8s"
[[step]]
at = "12s"
line = 2
action = "authorise"
item_id = "102-05"
[[step]]
at = "12.5s"
line = 2
action = "pour"
flow_ml_s = 50
duration = "15s"
`))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 20, 17, 0, 0, 0, kolkata)
	if _, err := simrun.Run(context.Background(), simrun.Options{Config: cfg, Scenario: sc, Out: io.Discard,
		Output: simrun.OutputJSON, Start: start}); err != nil {
		t.Fatal(err)
	}
	txs := srv.Transactions()
	if len(txs) != 2 {
		t.Fatalf("%d transactions on the server", len(txs))
	}
	for _, tx := range txs {
		switch tx.Tx.PLU {
		case 101: // 13 c/cl, 10 in happy hour 1
			if tx.Tx.PricePerUnit != 10 || tx.Tx.Money <= 0 || tx.Tx.Money > tx.Tx.Volume { // volume in 0.1 cl
				t.Errorf("free pour: %+v", tx.Tx)
			}
		case 102: // item 102-05: 7.00, 5.50 in happy hour 1
			if tx.Tx.ItemID != "102-05" || tx.Tx.Money != 550 {
				t.Errorf("item pour: %+v", tx.Tx)
			}
		}
	}
}
