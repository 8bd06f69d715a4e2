package doctor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/doctor"
	emu "github.com/tapagent/tapagent/sim/touchtopup"
)

// TestTouchTopUpProbe: doctor reads company_details of each configured
// company with the key; a wrong key is TouchTopUp's own refusal.
func TestTouchTopUpProbe(t *testing.T) {
	s, err := emu.New(emu.Options{Companies: []emu.Company{{ID: 1, Name: "The Taproom", Customers: map[int64]*emu.Customer{5: {ID: 5}}}}})
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg, _ := config.Default()
	cfg.TouchTopUp.URL, cfg.TouchTopUp.APIKey = url, "tapagent-key"
	cfg.TouchTopUp.Accounts = []config.TouchTopUpAccount{{Card: 1, CompanyID: 1, CustomerID: 5}, {Card: 2, LinkKey: "000001-000005-1"}}
	info, err := doctor.TouchTopUpProbe(cfg)(context.Background())
	if err != nil || info != `company 1 "The Taproom"` {
		t.Fatalf("probe: %q, %v", info, err)
	}
	cfg.TouchTopUp.APIKey = "wrong"
	if _, err := doctor.TouchTopUpProbe(cfg)(context.Background()); err == nil || !strings.Contains(err.Error(), "Invalid API key") {
		t.Fatalf("wrong key: %v", err)
	}
}
