package smartnow

import (
	"slices"
	"testing"

	"github.com/tapagent/tapagent/flow"
)

// FuzzMachineReplies feeds arbitrary bytes to the decoders of the machine
// configuration, assortment, opening hours and commands: none may panic,
// and what one accepts is within its bounds (prices never negative, PLUs
// positive and unique, intervals inside the day, commands named with a
// bounded parameter list).
func FuzzMachineReplies(f *testing.F) {
	for _, s := range []string{`[{"id":1,"plu":101,"name":"Helles","price":650,"machine":80}]`, `[{"plu":0,"name":"x","price":1}]`,
		`[{"plu":1,"name":"a","price":-5}]`, `[{"plu":1,"name":"a","price":1},{"plu":1,"name":"b","price":2}]`,
		`[{"day":1,"startTime":"09:15:00","endTime":"10:00:00"}]`, `[{"day":7,"startTime":"09:00","endTime":"24:00:00"}]`,
		`{"config":"{\"closed\":[1]}","ssid":"bar","encryptionKey":"k"}`, `{"config":null}`, `{"config":5}`,
		`[{"id":9,"command":"lock","params":[2],"state":"pending"}]`, `[{"id":0,"command":""}]`, `null`, `[]`, `{}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ps, err := DecodeProducts(b); err == nil {
			seen := map[int]bool{}
			for _, p := range ps {
				if p.Price < 0 || p.Price > flow.MaxPrice || p.PLU < 1 || seen[p.PLU] || p.Name == "" {
					t.Fatalf("product %+v accepted", p)
				}
				seen[p.PLU] = true
			}
		}
		if hs, err := DecodeOpeningHours(b); err == nil {
			for _, h := range hs {
				if h.Day < 0 || h.Day > 6 || h.Start < 0 || h.Start >= h.End || h.End > 86400 {
					t.Fatalf("opening hour %+v accepted", h)
				}
			}
		}
		if mc, err := DecodeMachineConfig(b); err == nil && slices.Contains(mc.Others, "config") {
			t.Fatal("config named among the other fields")
		}
		if cs, err := DecodeCommands(b); err == nil {
			for _, c := range cs {
				if c.ID <= 0 || c.Command == "" || len(c.Params) > maxParams {
					t.Fatalf("command %+v accepted", c)
				}
			}
		}
	})
}
