package diagcmd_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/diagcmd"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/sim"
)

func TestKegAndLineCommands(t *testing.T) {
	b := newBench(t)
	m := diagcmd.Methods(diagcmd.Parts{Config: b.cfg, Agent: b.agent, Store: b.store})
	for _, name := range []string{"keg.change", "keg.adjust", "keg.empty", "line.lock", "line.unlock", "line.clean", "pours.query"} {
		if m[name] == nil || slices.Contains(diagcmd.ReadOnly(), name) {
			t.Errorf("%s: missing, or callable without an operator's signature", name)
		}
	}
	for _, name := range []string{"kegs"} {
		if m[name] == nil || !slices.Contains(diagcmd.ReadOnly(), name) {
			t.Errorf("%s: missing or not read-only", name)
		}
	}
	call := func(method, params string, want int) any {
		t.Helper()
		status, body := m[method](context.Background(), json.RawMessage(params))
		if status != want {
			t.Fatalf("%s %s: %d %v, want %d", method, params, status, body, want)
		}
		return body
	}
	k := call("keg.change", `{"line": 1, "size": "30L", "keg_id": "K-3", "by": "olga"}`, 200).(device.KegInfo)
	if k.Keg.Size != flow.ML(30000) || k.Keg.ID != "K-3" {
		t.Fatalf("keg %+v", k)
	}
	call("keg.adjust", `{"line": 1, "remaining": "12L"}`, 200)
	call("keg.change", `{"line": 9, "size": "30L"}`, 404)
	call("keg.change", `{"line": 1, "size": "30"}`, 400)
	call("keg.change", `{"line": 1, "size": "0.5L"}`, 400)
	call("keg.empty", `{}`, 400)
	if _, err := b.agent.Authorise(2, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err != nil {
		t.Fatal(err)
	}
	b.wall.Board.Line(2).Pour([]sim.Point{{T: 0, MLs: 50}, {T: 5 * time.Second, MLs: 50}, {T: 5*time.Second + time.Millisecond, MLs: 0}})
	b.run(time.Second)
	call("keg.empty", `{"line": 2}`, 409)
	b.run(10 * time.Second)
	call("line.lock", `{"line": 3}`, 200)
	call("line.clean", `{"line": 3}`, 200)
	call("line.clean", `{"line": 3, "stop": true}`, 200)
	b.run(5 * time.Second)
	call("line.unlock", `{"line": 3}`, 200)
	if kegs := call("kegs", ``, 200).([]device.KegInfo); len(kegs) != 4 || kegs[0].Keg.Remaining != flow.ML(12000) {
		t.Fatalf("kegs %+v", kegs)
	}
	pours := call("pours.query", `{"line": 2}`, 200).([]history.Entry)
	if len(pours) != 1 || pours[0].Volume <= 0 {
		t.Fatalf("pours %+v", pours)
	}
	ops := call("pours.query", `{"kinds": ["operation"]}`, 200).([]history.Entry)
	if len(ops) != 6 || ops[0].Actor == nil || ops[0].Actor.Name != "olga" || ops[0].Actor.Via != "mqtt" {
		t.Fatalf("operations %+v", ops)
	}
	tot := call("pours.query", `{"totals": "line", "kinds": ["pour", "cleaning"]}`, 200).([]history.Total)
	if len(tot) != 2 || tot[0].Key != "2" || tot[1].Key != "3" {
		t.Fatalf("totals %+v", tot)
	}
	call("pours.query", `{"totals": "week"}`, 400)
}
