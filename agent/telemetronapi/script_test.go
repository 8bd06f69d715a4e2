package telemetronapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	emu "github.com/tapagent/tapagent/sim/telemetron"
	"github.com/tapagent/tapagent/telemetron"
)

// step is one request of the operator script.
type step struct {
	name, method, path string
	body               any
}

// operatorScript is what a Telemetron-style tool does with one machine:
// every GET of the documented resources it reads, in order.
func operatorScript(since, until time.Time) []step {
	vm := "/v2/vending_machines/123"
	period := "since=" + ts(since) + "&until=" + ts(until)
	return []step{
		{"me", "GET", "/v2/me", nil},
		{"machines", "GET", "/v2/vending_machines", nil},
		{"machine", "GET", vm, nil},
		{"events", "GET", vm + "/events?" + period, nil},
		{"reports", "GET", vm + "/reports?" + period, nil},
		{"reports cp1251 base64 port", "GET", vm + "/reports?" + period + "&cp1251=1&base64=1&port=1", nil},
		{"last report", "GET", vm + "/reports/last", nil},
		{"last valid report", "GET", vm + "/reports/last_valid?base64=1", nil},
		{"loading", "GET", vm + "/loading", nil},
		{"timestamp", "GET", vm + "/timestamp", nil},
		{"summary", "GET", vm + "/stats/vends/summary?" + period, nil},
		{"all machines' summary", "GET", "/v2/stats/vends/summary?" + period, nil},
		{"products", "GET", vm + "/stats/vends/products?type=paid&" + period, nil},
		{"payments", "GET", vm + "/stats/vends/payments?" + period, nil},
		{"request", "POST", vm + "/request", map[string]bool{"report": true}},
		{"logout", "GET", "/logout", nil},
	}
}

// shape is a JSON value's keys and types: "string", "number", "bool",
// "null", a map of shapes, or a list of its elements' shapes. An event's
// payload is the reference's "array - Event metadata": its elements are
// the event's own.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = shape(e)
			if _, list := e.([]any); list && k == "payload" {
				m[k] = "array"
			}
		}
		return m
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			out = append(out, shape(e))
		}
		return out
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// shapeDiff says where two shapes differ; a null matches any type (the
// reference's optional values are null when unknown).
func shapeDiff(path string, a, b any) []string {
	if a == "null" || b == "null" {
		return nil
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: object vs %v", path, b)}
		}
		var out []string
		for k := range x {
			if _, ok := y[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: only in the agent's answer", path, k))
			}
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: only in the emulator's answer", path, k))
				continue
			}
			out = append(out, shapeDiff(path+"."+k, x[k], y[k])...)
		}
		slices.Sort(out)
		return out
	case []any:
		y, ok := b.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: list vs %v", path, b)}
		}
		if len(x) == 0 || len(y) == 0 {
			return []string{fmt.Sprintf("%s: an empty list (%d, %d): seed both", path, len(x), len(y))}
		}
		var out []string
		for i, e := range x {
			for j, f := range y {
				out = append(out, shapeDiff(fmt.Sprintf("%s[%d~%d]", path, i, j), e, f)...)
			}
		}
		return out
	}
	if a != b {
		return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
	}
	return nil
}

// runScript logs in (password grant, JSON), refreshes, and runs the script
// with the refreshed token, returning each answer's shape.
func runScript(t *testing.T, base string, script []step) map[string]any {
	t.Helper()
	p := call(t, "POST", base+"/auth/", "", map[string]string{"grant_type": "refresh_token",
		"client_id": clientID, "client_secret": clientSecret, "refresh_token": login(t, base).RefreshToken})
	var tk tokens
	p.json(t, &tk) // the refresh ends the access token it replaces
	out := map[string]any{"token": mustShape(t, p)}
	for _, s := range script {
		p := call(t, s.method, base+s.path, tk.AccessToken, s.body)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %s %s: %d %s", base, s.method, s.path, p.status, p.body)
		}
		out[s.name] = mustShape(t, p)
	}
	return out
}

func mustShape(t *testing.T, p reply) any {
	t.Helper()
	var v any
	p.json(t, &v)
	return shape(v)
}

// The same operator script against the sim/telemetron emulator (seeded
// with comparable documents through its machine-side resources) and the
// agent's own API answers the same keys with the same types, resource by
// resource: both read the reference the same way.
func TestOperatorScriptReadsTheAgentAsTheEmulator(t *testing.T) {
	r := newRig(t)
	now := r.clk.Now()
	zone := time.FixedZone("+03:00", 3*3600)
	// The agent: two paid pours, a logged alarm, a report read-out.
	lager, stout := pour(now.Add(-2*time.Hour), 1, "Lager", 650, history.PayRegister), pour(now.Add(-time.Hour), 2, "Stout", 700, history.PayCard)
	r.keep(lager, stout)
	alarm := device.Event{Time: now.Add(-30 * time.Minute), Type: device.EventAlarm, Line: 1, Alarm: &flow.Alarm{Kind: "no_flow", Active: true, Detail: "valve open, meter silent"}}
	r.log(alarm)
	report, err := r.audit.Read(evadts.IdentityFrom(r.cfg, "test"), false, "test")
	if err != nil {
		t.Fatal(err)
	}

	// The emulator: the same documents, as the uplink sends them.
	loc, modem := &emu.Location{ID: 1, Name: "Bar"}, &emu.Modem{ID: 123, IMEI: "T123", Bus: "mdb", SWVersion: "test", HWVersion: "tapagent"}
	e, err := emu.New(emu.Options{Users: map[string]string{userName: userPassword}, Clients: map[string]string{clientID: clientSecret},
		Machines: []emu.Machine{{ID: machineID, Name: "Tap wall", SerialNumber: "TAP0000001", State: 1, Location: loc,
			Type: &emu.VMType{ID: 4, Label: "other", Name: "other"}, Modem: modem}},
		Zone: zone, Now: r.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	eurl, stop, err := e.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	etk := login(t, eurl)
	vm := eurl + "/v2/vending_machines/123"
	doc, _ := telemetron.EventDoc(alarm, 1, zone)
	var sales []telemetron.Sale
	for _, p := range []history.Entry{lager, stout} {
		sales = append(sales, telemetron.Sale{Time: telemetron.Stamp(p.Time, zone), LayoutNumber: fmt.Sprint(p.Line), Name: p.Product,
			Price: p.Amount, Number: 1, Value: p.Amount, VendType: telemetron.VendPaid, PaymentType: telemetron.PayCash})
	}
	add := int64(1000)
	for _, seed := range []struct {
		path string
		body any
	}{
		{"/events", []telemetron.Event{doc}},
		{"/reports?base64=1", telemetron.Report{Date: telemetron.Stamp(now, zone), Data: base64.StdEncoding.EncodeToString(report), Port: 1}},
		{"/sales", sales},
		{"/loading", telemetron.Load{Data: []telemetron.LoadLine{{ComponentID: 1, Add: &add}}, CreatedAt: telemetron.Stamp(now, zone)}},
		{"/state", telemetron.State{State: 1}},
	} {
		if p := call(t, "POST", vm+seed.path, etk.AccessToken, seed.body); p.status >= 300 {
			t.Fatalf("seeding %s: %d %s", seed.path, p.status, p.body)
		}
	}

	script := operatorScript(now.Add(-24*time.Hour), now)
	agent, cloud := runScript(t, r.url, script), runScript(t, eurl, script)
	for _, s := range append([]step{{name: "token"}}, script...) {
		if d := shapeDiff(s.name, agent[s.name], cloud[s.name]); len(d) > 0 {
			t.Errorf("%s differs:\n  %s", s.name, strings.Join(d, "\n  "))
		}
	}
	if t.Failed() {
		a, _ := json.Marshal(agent)
		c, _ := json.Marshal(cloud)
		t.Logf("agent %s\nemulator %s", a, c)
	}
}
