package web

import (
	"context"
	"crypto/subtle"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/httpguard"
	"github.com/tapagent/tapagent/storage"
)

// salesKey is one series of the pour counters.
type salesKey struct {
	line    int
	payment string
}

// sales are integer sums; they become floats only on the way out.
type sales struct {
	pours  uint64
	volume int64 // tenths of mL
	amount int64 // minor units
}

// maxSalesSeries bounds the counter series (lines × payment types).
const maxSalesSeries = 1024

// metrics collects at scrape time what the agent knows now, and counts
// bookings as they happen.
type metrics struct {
	s      *Server
	reg    *prometheus.Registry
	booked chan device.Event
	mu     sync.Mutex
	sales  map[salesKey]*sales

	pours, volume, amount, kegLeft, kegFill, pouring, disabled *prometheus.Desc
	outbox, oldest, component, lag, build                      *prometheus.Desc
	sinkDepth, sinkOldest, sinkDead                            *prometheus.Desc
}

func newMetrics(s *Server) *metrics {
	lp := []string{"line", "payment"}
	m := &metrics{s: s, reg: prometheus.NewRegistry(), booked: make(chan device.Event, 1024), sales: map[salesKey]*sales{},
		pours:  prometheus.NewDesc("tapagent_pours_total", "Pours booked since the agent started, by line and payment type.", lp, nil),
		volume: prometheus.NewDesc("tapagent_poured_litres_total", "Volume booked since the agent started.", lp, nil),
		amount: prometheus.NewDesc("tapagent_sales_minor_units_total", "Money booked since the agent started, in the currency's minor units (label currency: ISO 4217 code; decimals: its minor-unit digits).", lp,
			prometheus.Labels{"currency": flow.CurrencyName(s.d.Config.Device.Currency), "decimals": strconv.Itoa(s.d.Config.Device.Decimals)}),
		kegLeft:    prometheus.NewDesc("tapagent_keg_remaining_litres", "What the keg registry says is left in the keg on a line.", []string{"line", "product"}, nil),
		kegFill:    prometheus.NewDesc("tapagent_keg_fill_ratio", "Keg fill level, 0 to 1.", []string{"line", "product"}, nil),
		pouring:    prometheus.NewDesc("tapagent_line_pouring", "1 while a pour is open on the line.", []string{"line"}, nil),
		disabled:   prometheus.NewDesc("tapagent_line_disabled", "1 while the line is disabled (keg empty, fault) or locked.", []string{"line"}, nil),
		outbox:     prometheus.NewDesc("tapagent_outbox_records", "Booked records waiting for upload to the server.", nil, nil),
		oldest:     prometheus.NewDesc("tapagent_outbox_oldest_age_seconds", "Age of the oldest record waiting for upload (0 when none).", nil, nil),
		component:  prometheus.NewDesc("tapagent_component_up", "1 when a part of the device is healthy: reader, terminal, machine, server link, broker, disk, clock.", []string{"component"}, nil),
		sinkDepth:  prometheus.NewDesc("tapagent_sink_records", "Booked records a sink (the TTG server, a cloud) has not yet taken.", []string{"sink"}, nil),
		sinkOldest: prometheus.NewDesc("tapagent_sink_oldest_age_seconds", "Age of the oldest record waiting for a sink (0 when none).", []string{"sink"}, nil),
		sinkDead:   prometheus.NewDesc("tapagent_sink_dead_letters", "Records a sink refused for good, kept for an operator.", []string{"sink"}, nil),
		lag:        prometheus.NewDesc("tapagent_checkpoint_lag_seconds", "Age of the oldest open pour's progress on disk (0 when nothing pours).", nil, nil),
		build:      prometheus.NewDesc("tapagent_build_info", "The agent's build.", []string{"version", "commit", "goversion"}, nil),
	}
	// The process collector (RSS, CPU, open files) reads /proc; the Go
	// runtime collector is left out: it cost 3 MiB of RSS on a scrape
	// every half second (docs/performance.md), and process figures are
	// what a fleet watches.
	m.reg.MustRegister(m, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe queues a booking without blocking the agent's event sink.
func (m *metrics) observe(ev device.Event) {
	if ev.Type != device.EventPourBooked {
		return
	}
	select {
	case m.booked <- ev:
	default:
		m.s.d.Log.Warn("web: metrics queue full; a booking is not counted", "pour", ev.PourID)
	}
}

// run counts bookings; the payment type is in the record's references,
// read back from the outbox while it is still there.
func (m *metrics) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-m.booked:
			m.count(ev, m.payment(ev.Seq))
		}
	}
}

func (m *metrics) payment(seq uint64) string {
	if m.s.d.Outbox == nil || seq == 0 {
		return "unknown"
	}
	recs, err := m.s.d.Outbox.Outbox(seq-1, 1)
	if err != nil || len(recs) == 0 || recs[0].Seq != seq {
		return "unknown" // already delivered and removed
	}
	return history.PaymentOf(recs[0])
}

func (m *metrics) count(ev device.Event, payment string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := salesKey{ev.Line, payment}
	s := m.sales[k]
	if s == nil {
		if len(m.sales) >= maxSalesSeries {
			return
		}
		s = &sales{}
		m.sales[k] = s
	}
	s.pours++
	s.volume += int64(ev.Volume)
	s.amount += ev.Amount
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.pours, m.volume, m.amount, m.kegLeft, m.kegFill, m.pouring, m.disabled, m.outbox, m.oldest, m.component, m.lag, m.build,
		m.sinkDepth, m.sinkOldest, m.sinkDead} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	m.mu.Lock()
	for k, s := range m.sales {
		line := strconv.Itoa(k.line)
		counter(m.pours, float64(s.pours), line, k.payment)
		counter(m.volume, float64(s.volume)/10000, line, k.payment)
		counter(m.amount, float64(s.amount), line, k.payment)
	}
	m.mu.Unlock()
	for _, l := range m.s.d.Wall.Status() {
		line := strconv.Itoa(l.Line)
		gauge(m.kegLeft, float64(l.KegLeft)/10000, line, l.Product)
		gauge(m.kegFill, float64(l.KegPermille)/1000, line, l.Product)
		gauge(m.pouring, b2f(l.PourID != ""), line)
		gauge(m.disabled, b2f(l.Disabled != "" || l.Locked), line)
	}
	now := m.s.d.Now()
	if o := m.s.d.Outbox; o != nil {
		if n, err := o.OutboxLen(); err == nil {
			gauge(m.outbox, float64(n))
		}
		age := 0.0
		if recs, err := o.Outbox(0, 1); err == nil && len(recs) > 0 {
			age = max(0, now.Sub(time.UnixMilli(recs[0].EndedAt)).Seconds())
		}
		gauge(m.oldest, age)
		sts, _ := o.SinkStatuses()
		for _, st := range sts {
			gauge(m.sinkDepth, float64(st.Depth), st.Name)
			gauge(m.sinkDead, float64(st.Dead), st.Name)
			age := 0.0
			if st.Depth > 0 {
				age = max(0, now.Sub(time.UnixMilli(st.Oldest.EndedAt)).Seconds())
			}
			gauge(m.sinkOldest, age, st.Name)
		}
	}
	for _, c := range m.s.health() {
		gauge(m.component, b2f(c.OK), c.Name)
	}
	if m.s.d.Intents != nil {
		gauge(m.lag, checkpointLag(m.s.d.Intents, now).Seconds())
	}
	gauge(m.build, 1, m.s.d.Version, m.s.d.Commit, runtime.Version())
}

// checkpointLag is the age of the oldest open pour's progress on disk.
func checkpointLag(intents func() ([]storage.Intent, error), now time.Time) time.Duration {
	ins, err := intents()
	if err != nil {
		return 0
	}
	var worst time.Duration
	for _, in := range ins {
		at := max(in.CheckpointAt, in.OpenedAt)
		worst = max(worst, now.Sub(time.UnixMilli(at)))
	}
	return worst
}

// serveMetrics admits a scraper with the bearer token, a caller on this
// host where open_metrics_on_loopback allows it, or an operator's session.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if !s.metricsAllowed(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tapagent metrics"`)
		http.Error(w, "metrics need [web] metrics_token as a bearer token or an operator's login", http.StatusUnauthorized)
		return
	}
	// Uncompressed: the answer is a few KiB, and a gzip writer's state cost
	// the agent 3 MiB of peak RSS (docs/performance.md).
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 2, DisableCompression: true}).ServeHTTP(w, r)
}

func (s *Server) metricsAllowed(r *http.Request) bool {
	w := s.d.Config.Web
	if tok, ok := httpguard.Bearer(r.Header.Get("Authorization")); ok && w.MetricsToken != "" {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(w.MetricsToken)) == 1
	}
	if w.OpenMetricsOnLoopback && remoteIsLoopback(r) {
		return true
	}
	if c, err := r.Cookie(cookieName); err == nil {
		ss, ok := s.sessions.get(c.Value)
		return ok && ss.role == RoleOperator && s.stillValid(ss)
	}
	return false
}
