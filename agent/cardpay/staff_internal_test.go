package cardpay

import (
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// TestStaffSettlementNamesTheCardByItsHash: the event of a staff
// settlement (readable by logs.tail and the dashboard) carries the card's
// salted hash, the one the history uses, and never its UID in hex or
// decimal.
func TestStaffSettlementNamesTheCardByItsHash(t *testing.T) {
	const uid = "04A1B2C3D4E5F6"
	for _, order := range []string{"big-endian", "little-endian"} {
		t.Run(order, func(t *testing.T) {
			st, err := storage.Open(filepath.Join(t.TempDir(), "t.db"), storage.Options{MaxEvents: 100})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := (journal{st}).put(uid, Entry{PourID: "p1", State: stateOwed, Amount: 350}); err != nil {
				t.Fatal(err)
			}
			if _, err := SettleByStaff(st, uid, order, DecidedPaid, "Anna (root)", time.Now()); err != nil {
				t.Fatal(err)
			}
			evs, err := st.Events(10)
			if err != nil || len(evs) != 1 {
				t.Fatal(len(evs), err)
			}
			be, _ := new(big.Int).SetString(uid, 16)
			le, _ := new(big.Int).SetString("F6E5D4C3B2A104", 16)
			for _, leak := range []string{uid, strings.ToLower(uid), be.String(), le.String()} {
				if strings.Contains(string(evs[0]), leak) {
					t.Fatalf("the event carries the card UID %s: %s", leak, evs[0])
				}
			}
			var ev device.Event
			if err := json.Unmarshal(evs[0], &ev); err != nil {
				t.Fatal(err)
			}
			salt, err := st.Salt()
			if err != nil {
				t.Fatal(err)
			}
			dec := be.String()
			if order == "little-endian" {
				dec = le.String()
			}
			if want := history.CardHash(salt, dec); ev.Card != want || want == "" {
				t.Fatalf("event card %q, want the history's hash %q", ev.Card, want)
			}
		})
	}
}
