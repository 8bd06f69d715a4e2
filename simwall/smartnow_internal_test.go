package simwall

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tapagent/tapagent/config"
)

// TestStartSmartNowSeeds: the emulator knows the machine by the sim
// config's hostname, its assortment from the lines, and the fixed-code
// vouchers; [smartnow] points at it with vouchers on.
func TestStartSmartNowSeeds(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	s, err := startSmartNow(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	sn := cfg.SmartNow
	if sn.URL != s.url || !sn.Vouchers || sn.Hostname != "tapagent-1001" || sn.ScannerLine != 1 || sn.Scanner != filepath.Join(cfg.Device.DataDir, "scanner") {
		t.Fatalf("[smartnow] %+v", sn)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, v := range s.srv.Vouchers() {
		codes[v.Code] = v.Type
	}
	for code, typ := range map[string]string{SimDiscountCode: "discount", SimFreeCode: "discount", SimGiftCode: "gift", SimFirstLineCode: "discount"} {
		if codes[code] != typ {
			t.Errorf("voucher %s: type %q, want %q (have %v)", code, codes[code], typ, codes)
		}
	}
	if n := s.redeemed(); n != 0 {
		t.Errorf("%d redeemed before any pour", n)
	}
}
