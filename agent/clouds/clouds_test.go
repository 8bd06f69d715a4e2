package clouds_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/clouds"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/testwait"
	tmemu "github.com/tapagent/tapagent/sim/telemetron"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/telemetron"
)

// TestTelemetronStarted: with [telemetron] url set the outbox delivers to
// Telemetron too; the links started by the assembly deliver a booked sale
// and an alarm, send the state and answer a data request on their own
// loop, and stop cleanly.
func TestTelemetronStarted(t *testing.T) {
	emu, err := tmemu.New(tmemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(clouds.Names(cfg), telemetron.SinkName) {
		t.Fatal("telemetron without [telemetron] url")
	}
	tc := &cfg.Telemetron
	tc.URL, tc.AuthURL, tc.MachineID = url+"/v2", url+"/auth/", 123
	tc.ClientID, tc.ClientSecret, tc.Username, tc.Password = "tapagent", "tapagent-secret", "tapagent@example.com", "tapagent"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tc.RequestPoll.Duration = 20 * time.Millisecond // a test does not wait a second
	if !slices.Contains(clouds.Names(cfg), telemetron.SinkName) {
		t.Fatalf("names %v", clouds.Names(cfg))
	}
	st, err := storage.Open(filepath.Join(t.TempDir(), "tapagent.db"), clouds.StoreOptions(cfg, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	links, err := clouds.New(cfg, st, time.Now, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	links.Start(func(device.Event) {})
	now := time.Now()
	if _, err := st.Book(storage.Booking{Record: storage.Record{ID: "1-1", Kind: storage.KindPour, Line: 1, PLU: 101, Product: "Pils",
		StartedAt: now.UnixMilli(), EndedAt: now.UnixMilli(), Pour: flow.Result{Volume: 3000, Charged: 3000, Amount: 390}}}); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(device.Event{Time: now, Type: device.EventAlarm, Line: 1, Alarm: &flow.Alarm{Kind: "leak", Active: true}})
	st.AppendEvent(raw, func(error) {})
	links.Kick()
	testwait.Until(t, 10*time.Second, "the sale, the alarm and the state at Telemetron", func() bool {
		m, _ := emu.Machine(123)
		got := emu.Received(123)
		return got.Sales == 1 && got.Events == 1 && m.State == telemetron.StateOperating
	})
	// A data request with nothing else to deliver: the sink's own loop.
	if _, _, err := telemetron.NewClient(telemetron.Config{BaseURL: tc.URL, AuthURL: tc.AuthURL, ClientID: tc.ClientID,
		ClientSecret: tc.ClientSecret, Username: tc.Username, Password: tc.Password}).Call(t.Context(), "POST",
		"/vending_machines/123/request", nil, map[string]bool{"config": true, "report": true}); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "the configuration snapshot and a report", func() bool {
		return emu.Received(123).Config && len(emu.Reports(123)) > 0
	})
	// The report's CB1 names the agent and its version.
	if r := emu.Reports(123)[0]; !r.Valid || !strings.Contains(string(r.Data), "CB1*") || !strings.Contains(string(r.Data), "*tapagent*test") {
		t.Fatalf("report %q", r.Data)
	}
	if err := links.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
}
