package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSimCloudsScenario: `tapagent sim --scenario clouds` starts the three
// cloud emulators by itself and shows a voucher pour, an account pour and
// the machine's data arriving in each: SmartNow's sales, logs and the
// redeemed voucher, TouchTopUp's balance lowered by the till, Telemetron's
// vend rows, keg documents, the requested report and configuration.
func TestSimCloudsScenario(t *testing.T) {
	out, err := exec.Command(binary, "sim", "--plain", "--speed", "4", "--scenario", "clouds", "--web", "off",
		"--data", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		"line 1 voucher accepted: ••••FREE scanner", "line 2 account ready 15.00 EUR: Mr John Smith",
		"line 4 voucher refused: ••••INE1: not valid for product", "lines 3 locked", "lines 3 unlocked",
		"2 pours booked", "0 records waiting in the outbox", ": 2 records stored",
		"TouchTopUp Mr John Smith (account 54321): 15.00 EUR before, ",
		"Telemetron emulator http://127.0.0.1:", "2 vend rows, 1 report, 1 refill, 1 inventory, the configuration snapshot",
		"SmartNow emulator http://127.0.0.1:", "2 revenue transactions", "1 voucher redeemed",
		// where each emulator listens and its login, at start
		"SmartNow emulator: http://127.0.0.1:", "(user tapagent, password tapagent)",
		"Telemetron emulator: http://127.0.0.1:", "TouchTopUp emulator: http://127.0.0.1:",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in:\n%s", want, s)
		}
	}
	if strings.Contains(s, "15.00 EUR before, 15.00 EUR after") || strings.Contains(s, "scenario error") {
		t.Errorf("the account was not debited, or a step failed:\n%s", s)
	}
}
