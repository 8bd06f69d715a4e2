package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/web"
)

// scrape reads /metrics with a real HTTP client and parses it with the
// Prometheus text parser.
func scrape(t *testing.T, r *rig, token string) (map[string]*dto.MetricFamily, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams, resp.StatusCode
}

// value is the sample of a family whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no %s%v", name, want)
	return 0
}

func TestMetrics(t *testing.T) {
	const token = "metrics-token-0123456789"
	r := newRig(t, func(c *config.Config, _ *web.Deps) {
		c.Web.MetricsToken, c.Web.OpenMetricsOnLoopback = token, false
	})
	if _, status := scrape(t, r, ""); status != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", status)
	}
	if _, status := scrape(t, r, "wrong-token-0123456789"); status != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", status)
	}
	r.pour(2, 50, 4*time.Second)
	var fams map[string]*dto.MetricFamily
	// The booking is counted on the metrics' own goroutine.
	r.until("the pour counted", func() bool {
		fams, _ = scrape(t, r, token)
		_, ok := fams["tapagent_pours_total"]
		return ok
	})
	if got := value(t, fams, "tapagent_pours_total", map[string]string{"line": "2", "payment": "free"}); got != 1 {
		t.Fatalf("pours on line 2: %v", got)
	}
	vol := value(t, fams, "tapagent_poured_litres_total", map[string]string{"line": "2"})
	if vol < 0.15 || vol > 0.25 {
		t.Fatalf("volume %v L for 4 s at 50 mL/s", vol)
	}
	if m := value(t, fams, "tapagent_sales_minor_units_total", map[string]string{"line": "2", "currency": "EUR", "decimals": "2"}); m <= 0 {
		t.Fatalf("money %v", m)
	}
	left := value(t, fams, "tapagent_keg_remaining_litres", map[string]string{"line": "2"})
	if left >= 50 || left < 49.7 {
		t.Fatalf("keg on line 2: %v L", left)
	}
	if n := value(t, fams, "tapagent_outbox_records", nil); n != 1 {
		t.Fatalf("outbox %v (no uplink in this rig)", n)
	}
	if n := value(t, fams, "tapagent_sink_records", map[string]string{"sink": "ttg"}); n != 1 {
		t.Fatalf("ttg sink depth %v, want 1", n)
	}
	if up := value(t, fams, "tapagent_component_up", map[string]string{"component": "sink ttg"}); up != 1 {
		t.Fatalf("sink ttg up %v (no delivery has failed)", up)
	}
	for _, name := range []string{"tapagent_sink_oldest_age_seconds", "tapagent_sink_dead_letters"} {
		if v := value(t, fams, name, map[string]string{"sink": "ttg"}); v < 0 {
			t.Fatalf("%s %v", name, v)
		}
	}
	if age := value(t, fams, "tapagent_outbox_oldest_age_seconds", nil); age < 0 {
		t.Fatalf("oldest age %v", age)
	}
	if v := value(t, fams, "tapagent_build_info", map[string]string{"version": "test"}); v != 1 {
		t.Fatal("build info")
	}
	for _, name := range []string{"tapagent_checkpoint_lag_seconds", "tapagent_line_pouring", "tapagent_line_disabled", "tapagent_keg_fill_ratio", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if !strings.Contains(fams["tapagent_sales_minor_units_total"].GetHelp(), "minor units") {
		t.Error("money's unit is not in its help")
	}
}
