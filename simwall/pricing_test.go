package simwall_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/ttgserver"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/ttg"
)

// TestScenarioPoursArePricedByTheServer: scenario pours in `tapagent sim`
// take the server's price with its happy hours, as on a real wall, for free
// pours and items alike, with ttg.time_zone far from the host's.
func TestScenarioPoursArePricedByTheServer(t *testing.T) {
	cfg, kolkata, srv := kolkataWall(t, ttg.HappyHour{HappyID: 1, Name: "After work", StartTime: 17 * 60, EndTime: 18 * 60, PriceLevel: ttg.PriceHH1})
	sc := scenario(t, `
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
`+sellItem("12s", "12.5s"))
	start := time.Date(2026, 11, 20, 17, 0, 0, 0, kolkata)
	var out bytes.Buffer
	runAt(t, cfg, sc, start, &out)
	txs := srv.Transactions()
	if len(txs) != 2 {
		t.Fatalf("%d transactions on the server", len(txs))
	}
	booked := bookedOn(t, &out)
	for _, tx := range txs {
		switch tx.Tx.PLU {
		case 101: // 13 c/cl, 10 in happy hour 1
			// money = charged cl × 10 c, rounded down (charged is in 0.1 mL).
			ev := booked[1]
			if want := int64(ev.Charged) * 10 / 100; ev.Charged <= 0 || tx.Tx.PricePerUnit != 10 || int64(tx.Tx.Money) != want || ev.Amount != want {
				t.Errorf("free pour: %+v, charged %s, booked %d; want %d cents", tx.Tx, ev.Charged, ev.Amount, want)
			}
		case 102: // item 102-05: 7.00, 5.50 in happy hour 1
			if tx.Tx.ItemID != "102-05" || tx.Tx.Money != 550 {
				t.Errorf("item pour: %+v", tx.Tx)
			}
		}
	}
}

// bookedOn is the pour_booked event of each line in a JSON event stream.
func bookedOn(t *testing.T, r io.Reader) map[int]device.Event {
	t.Helper()
	out := map[int]device.Event{}
	dec := json.NewDecoder(r)
	for {
		var ev device.Event
		if err := dec.Decode(&ev); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if ev.Type == device.EventPourBooked {
			out[ev.Line] = ev
		}
	}
}

// TestScenarioItemsSeeTheKegAge: a keg_age happy hour applies to items in
// the simulator as on a real wall. The first run taps the kegs; the second,
// 15 days later on the same data, sells item 102-05 at its happy-hour price
// under a 14-day trigger.
func TestScenarioItemsSeeTheKegAge(t *testing.T) {
	cfg, kolkata, srv := kolkataWall(t, ttg.HappyHour{HappyID: 1, Name: "Old keg", KegAge: 14, PriceLevel: ttg.PriceHH1})
	tap := scenario(t, `
duration = "2s"
[[step]]
at = "1s"
line = 1
action = "stop"
`)
	sell := scenario(t, `
duration = "25s"
`+sellItem("1s", "1.5s"))
	tapped := time.Date(2026, 11, 5, 12, 0, 0, 0, kolkata)
	for _, run := range []struct {
		sc *sim.Scenario
		at time.Time
	}{{tap, tapped}, {sell, tapped.AddDate(0, 0, 15)}} {
		runAt(t, cfg, run.sc, run.at, io.Discard)
	}
	txs := srv.Transactions()
	if len(txs) != 1 || txs[0].Tx.ItemID != "102-05" || txs[0].Tx.Money != 550 {
		t.Fatalf("want item 102-05 at 5.50 (happy hour 1), got %+v", txs)
	}
}

// runAt runs sc on the simulated wall from start, its events to out as JSON.
func runAt(t *testing.T, cfg *config.Config, sc *sim.Scenario, start time.Time, out io.Writer) {
	t.Helper()
	if _, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Scenario: sc, Out: out,
		Output: simwall.OutputJSON, Start: start}); err != nil {
		t.Fatal(err)
	}
}

// scenario parses a scenario the test cannot do without.
func scenario(t *testing.T, toml string) *sim.Scenario {
	t.Helper()
	sc, err := sim.ParseScenario([]byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// sellItem is the scenario steps of a sale of item 102-05 on line 2:
// authorised at authAt, poured from pourAt for 15 s at 50 mL/s.
func sellItem(authAt, pourAt string) string {
	return fmt.Sprintf(`[[step]]
at = %q
line = 2
action = "authorise"
item_id = "102-05"
[[step]]
at = %q
line = 2
action = "pour"
flow_ml_s = 50
duration = "15s"
`, authAt, pourAt)
}

// kolkataWall is the default wall with ttg.time_zone Asia/Kolkata (far
// from a UTC host), priced by an emulator in that zone holding hh, and no
// listeners; with the zone and the emulator.
func kolkataWall(t *testing.T, hh ...ttg.HappyHour) (*config.Config, *time.Location, *ttgserver.Server) {
	t.Helper()
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	seed := ttgserver.DefaultSeed()
	seed.HappyHours = hh
	srv, err := ttgserver.New(ttgserver.Options{DataDir: t.TempDir(), Seed: &seed, Loc: kolkata})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir, cfg.TTG.URL, cfg.TTG.TimeZone = t.TempDir(), hs.URL, "Asia/Kolkata"
	cfg.Control.Listen, cfg.POS.Listen = "", ""
	return cfg, kolkata, srv
}
