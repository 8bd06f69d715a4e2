package diagcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/storage"
)

func auditParts(t *testing.T) Parts {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return Parts{Config: cfg, Store: st, Audit: evadts.NewAudit(st, time.Now), Version: "test"}
}

// An audit read-out changes the read history and keeps a report: only a
// signed request may take one; the open listing refuses to.
func TestDexReadIsProtected(t *testing.T) {
	for _, m := range []string{"dex.read", "db.check"} {
		if slices.Contains(ReadOnly(), m) {
			t.Errorf("%s is open to every broker client", m)
		}
	}
	p := auditParts(t)
	methods := Methods(p)
	reads := func() int64 {
		st, err := p.Audit.State()
		if err != nil {
			t.Fatal(err)
		}
		return st.Reads
	}
	for _, c := range []struct {
		method, params string
		status         int
		has            string
		reads          int64
	}{
		{"dex.report", `{"read": true}`, 400, "dex.read", 0},
		{"dex.report", `{}`, 200, `"more":false`, 0},
		{"dex.read", `{"cp1251": true}`, 400, "base64", 0},
		{"dex.read", `{"base64": true}`, 200, `"evadts_port":1`, 1},
		{"dex.report", ``, 200, `"evadts_port":1`, 1},
	} {
		status, body := methods[c.method](context.Background(), json.RawMessage(c.params))
		b, _ := json.Marshal(body)
		if status != c.status || !strings.Contains(string(b), c.has) || reads() != c.reads {
			t.Fatalf("%s %s: %d %s, %d reads; want %d with %q, %d reads", c.method, c.params, status, b, reads(), c.status, c.has, c.reads)
		}
	}
}

// dex.report returns a bounded listing however many reports are kept.
func TestDexReportIsBounded(t *testing.T) {
	p := auditParts(t)
	for i := range evadts.MaxReports + 5 {
		if err := p.Audit.Keep(evadts.PortDEX, fmt.Appendf(nil, "DXS*%d\r\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	status, body := Methods(p)["dex.report"](context.Background(), nil)
	out, _ := body.(map[string]any)
	if ks, _ := out["reports"].([]evadts.Kept); status != 200 || len(ks) != evadts.MaxReports || out["more"] != true {
		t.Fatalf("dex.report: %d, %d reports, more %v", status, len(ks), out["more"])
	}
}

// TestLinkRefusedStartsNothing: settings the link refuses (a password in
// clear to another host) give ErrLinkRefused, for the agent to run on
// without the link; a desired document with them is rejected, since the
// device would come back without the link it came over.
func TestLinkRefusedStartsNothing(t *testing.T) {
	p := auditParts(t)
	p.Config.MQTT.Broker, p.Config.MQTT.Username, p.Config.MQTT.Password = "tcp://mqtt.example.net:1883", "1001", "pw"
	done := make(chan struct{})
	d, _, err := Start(context.Background(), p, "boot", done)
	if !errors.Is(err, ErrLinkRefused) || d != nil || !strings.Contains(err.Error(), "in clear") {
		t.Fatalf("Start: %v, %v", d, err)
	}
	path := filepath.Join(t.TempDir(), "tapagent.toml")
	if err := os.WriteFile(path, []byte("[[line]]\nid = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(Desired{Version: 1, TOML: "[mqtt]\nbroker = \"tcp://mqtt.example.net:1883\"\nusername = \"1001\"\npassword = \"pw\"\n[[line]]\nid = 1\n"})
	if r := (ConfigSetter{Path: path}).Apply(doc, true); r.Status != "rejected" || !strings.Contains(strings.Join(r.Errors, " "), "without its MQTT link") {
		t.Fatalf("desired document with a password in clear: %+v", r)
	}
}
