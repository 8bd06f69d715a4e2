package telemetronapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/telemetronapi"
	"github.com/tapagent/tapagent/history"
	emu "github.com/tapagent/tapagent/sim/telemetron"
	"github.com/tapagent/tapagent/telemetron"
)

// TestSummaryAndPaymentsReadTheSameAsTheEmulator: after the same records
// (paid pours, a 0.00 voucher pour, a cleaning), the agent's API and the
// emulator fed the uplink's vend rows give the same summary and the same
// payments, with and without a type filter: a vend row reads the same in
// both.
func TestSummaryAndPaymentsReadTheSameAsTheEmulator(t *testing.T) {
	r := newRig(t)
	now := r.clk.Now()
	zone := time.FixedZone("+03:00", 3*3600)
	voucher := pour(now.Add(-40*time.Minute), 2, "Stout", 0, history.PayCard)
	voucher.Mode = "free"
	entries := []history.Entry{
		pour(now.Add(-2*time.Hour), 1, "Lager", 650, history.PayRegister),
		pour(now.Add(-time.Hour), 2, "Stout", 416, history.PayCard),
		voucher,
		{Time: now.Add(-10 * time.Minute), Kind: history.KindCleaning, Line: 1, Product: "Lager", Payment: history.PayNone, Mode: "cleaning", Volume: 5000, ID: "c1"},
	}
	r.keep(entries...)

	e, err := emu.New(emu.Options{Users: map[string]string{userName: userPassword}, Clients: map[string]string{clientID: clientSecret},
		Machines: []emu.Machine{{ID: machineID, Name: "Tap wall", State: 1}}, Zone: zone, Now: r.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	eurl, stop, err := e.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	etk := login(t, eurl)
	m := telemetron.Machine{Zone: zone}
	var rows []telemetron.Sale
	for _, en := range entries {
		if v, ok, err := telemetron.VendRow(telemetronapi.RecordOf(en), m); err != nil {
			t.Fatal(err)
		} else if ok {
			rows = append(rows, v)
		}
	}
	if len(rows) != 4 {
		t.Fatalf("the uplink sends %d vend rows, want 4", len(rows))
	}
	if p := call(t, "POST", eurl+"/v2/vending_machines/123/sales", etk.AccessToken, rows); p.status >= 300 {
		t.Fatalf("seeding sales: %d %s", p.status, p.body)
	}

	tk := login(t, r.url)
	period := "since=" + ts(now.Add(-24*time.Hour)) + "&until=" + ts(now)
	for _, q := range []string{"/stats/vends/summary", "/stats/vends/payments", "/stats/vends/payments?type=token",
		"/stats/vends/payments?type=cash", "/stats/vends/products"} {
		sep := "?"
		if bytes.ContainsRune([]byte(q), '?') {
			sep = "&"
		}
		agent := call(t, "GET", r.vm(q+sep+period), tk.AccessToken, nil)
		cloud := call(t, "GET", eurl+"/v2/vending_machines/123"+q+sep+period, etk.AccessToken, nil)
		if agent.status != http.StatusOK || cloud.status != http.StatusOK {
			t.Fatalf("%s: agent %d %s, emulator %d %s", q, agent.status, agent.body, cloud.status, cloud.body)
		}
		if a, c := canonical(t, agent.body), canonical(t, cloud.body); a != c {
			t.Errorf("%s differs:\n  agent    %s\n  emulator %s", q, a, c)
		}
	}
}

// canonical is a JSON document re-encoded with sorted keys.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
