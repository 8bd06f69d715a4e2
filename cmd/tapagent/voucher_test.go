package main

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/tapagent/tapagent/device"
)

// TestVoucherScanOverMQTT: `tapagent sim --smartnow` with MQTT: an
// unsigned voucher.scan is refused (it grants beer), a signed one pours a
// fully covered portion and a refused code is reported with its reason,
// each as an event on the link.
func TestVoucherScanOverMQTT(t *testing.T) {
	addr := mqttBroker(t)
	tech := technician(t, addr)
	key, _, cfgPath := operator(t, "")
	cmd := exec.Command(binary, "sim", "--plain", "--speed", "1", "--no-ttg", "--smartnow", "--scenario", "none", "--duration", "60s",
		"--web", "off", "--data", t.TempDir(), "--mqtt", "tcp://"+addr, "--config", cfgPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	tech.waitFor(t, "tapagent/v1/1001/status", `"state":"online"`)
	if res := tech.call(t, "vs0", "voucher.scan", `{"line": 1, "code": "SIM-FREE"}`); res["status"].(float64) != 403 || !strings.Contains(fmt.Sprint(res["body"]), "signed by an operator key") {
		t.Fatalf("unsigned voucher.scan: %v", res)
	}
	if res := tech.signedCall(t, key, "vs1", "voucher.scan", `{"line": 1, "code": "SIM-FREE"}`); res["status"].(float64) != 200 {
		t.Fatalf("signed voucher.scan: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/events", typeField(device.EventVoucherAccepted))
	tech.waitFor(t, "tapagent/v1/1001/events", typeField(device.EventPourAuthorised))
	if res := tech.signedCall(t, key, "vs2", "voucher.scan", `{"line": 2, "code": "SIM-LINE1"}`); res["status"].(float64) != 422 || !strings.Contains(fmt.Sprint(res["body"]), "not valid for product 102") {
		t.Fatalf("refused voucher.scan: %v", res)
	}
	tech.waitFor(t, "tapagent/v1/1001/events", `"reason":"not valid for product 102"`)
	if res := tech.signedCall(t, key, "vs3", "voucher.scan", `{"line": 2}`); res["status"].(float64) != 400 {
		t.Fatalf("voucher.scan without a code: %v", res)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

// TestSimVouchersScenario: the built-in vouchers scenario against the
// emulator: three vouchers redeemed (a free portion, a gift on a short
// pour, a discount paid up at the terminal), one refused for the product,
// one refused as used.
func TestSimVouchersScenario(t *testing.T) {
	out, err := exec.Command(binary, "sim", "--plain", "--speed", "2", "--no-ttg", "--smartnow", "--scenario", "vouchers",
		"--web", "off", "--data", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"3 vouchers redeemed", "voucher refused: ••••INE1: not valid for product 102",
		"voucher refused: ••••OUNT: this voucher is in use here already", "mdb vend approved 4.50 EUR"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in:\n%s", want, s)
		}
	}
}
