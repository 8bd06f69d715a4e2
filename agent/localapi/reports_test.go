package localapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

// TestOutboxStatusAndKeptReports: the per-sink status and the kept audit
// reports come over the socket as the store holds them; a bad period is a
// bad request naming the parameter.
func TestOutboxStatusAndKeptReports(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = dir
	clk := clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))
	w, err := simwall.NewWall(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(dir, "tapagent.db"), storage.Options{Sinks: []string{"ttg", "smartnow"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, err := device.New(device.Options{Config: cfg, Clock: clk, Store: st, Valves: w.Valves, Meters: w.Meters})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if _, err := st.Book(storage.Booking{Record: storage.Record{ID: "1001-1", Kind: storage.KindPour, Line: 1, StartedAt: 1, EndedAt: 2}}); err != nil {
		t.Fatal(err)
	}
	audit := evadts.NewAudit(st, clk.Now)
	if err := audit.Keep(evadts.PortDEX, []byte("DXS*A\r\n")); err != nil {
		t.Fatal(err)
	}
	path := localapi.SocketPath(dir)
	stop, err := localapi.Start(context.Background(), localapi.Options{Path: path, Agent: a, Store: st, Audit: audit, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx := context.Background()
	c, err := localapi.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.OutboxStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Total != 1 || len(got.Sinks) != 2 || got.Sinks[0].Depth != 1 || got.Sinks[0].Oldest.ID != "1001-1" {
		t.Fatalf("outbox status %+v", got)
	}
	kr, err := c.DexReports(ctx, time.Time{}, time.Time{}, evadts.PortDEX)
	if err != nil || len(kr.Reports) != 1 || kr.Reports[0].Data != "DXS*A\r\n" || kr.More {
		t.Fatalf("reports %+v, %v", kr, err)
	}
	if kr, err := c.DexReports(ctx, time.Time{}, time.Time{}, evadts.PortOwn); err != nil || len(kr.Reports) != 0 {
		t.Fatalf("own reports %+v, %v", kr, err)
	}
	_, err = c.DexReports(ctx, time.Time{}, time.Time{}, 3)
	var api *localapi.Error
	if !errors.As(err, &api) || api.Status != http.StatusBadRequest || !errors.Is(err, device.ErrBadOperation) {
		t.Fatalf("port 3: %v", err)
	}
}

func TestParseReportsQuery(t *testing.T) {
	for _, c := range []struct {
		raw  string
		port int
		ok   bool
	}{
		{"", 0, true},
		{"since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00.5Z&port=1", 1, true},
		{"port=2", 2, true},
		{"port=0", 0, false},
		{"port=x", 0, false},
		{"since=yesterday", 0, false},
	} {
		v, _ := url.ParseQuery(c.raw)
		_, _, port, err := localapi.ParseReportsQuery(v)
		if (err == nil) != c.ok || port != c.port {
			t.Errorf("%q: port %d, err %v", c.raw, port, err)
		}
	}
}

func FuzzParseReportsQuery(f *testing.F) {
	f.Add("since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00Z&port=2")
	f.Add("port=-1&since=2026-13-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		since, until, port, err := localapi.ParseReportsQuery(v)
		if err != nil {
			return
		}
		if port < 0 || port > 2 {
			t.Fatalf("%q: port %d accepted", raw, port)
		}
		// What the client sends back parses to the same period.
		again := url.Values{}
		if !since.IsZero() {
			again.Set("since", since.Format(time.RFC3339Nano))
		}
		if !until.IsZero() {
			again.Set("until", until.Format(time.RFC3339Nano))
		}
		s2, u2, _, err := localapi.ParseReportsQuery(again)
		if err != nil || !s2.Equal(since) || !u2.Equal(until) {
			t.Fatalf("%q: round trip %v %v, %v", raw, s2, u2, err)
		}
	})
}
