package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
)

// Page bounds: the history page shows the newest rows, the CSV export at
// most history.MaxLimit, the charts the last chartDays days.
const (
	historyRows = 200
	chartDays   = 14
)

// pourKinds are what the history page and the charts count.
var pourKinds = []string{history.KindPour, history.KindVend}

// tapsData is the tap list page.
type tapsData struct {
	Taps     []tapView
	Operator bool
	// Vouchers shows a voucher field on each line.
	Vouchers bool
}

func (s *Server) tapsPage(w http.ResponseWriter, r *http.Request, ss session) {
	p := s.pageFor(ss, "Taps", "taps")
	p.Flash, p.Error = r.URL.Query().Get("ok"), r.URL.Query().Get("err")
	p.Data = tapsData{Taps: s.currentTaps(r), Operator: ss.role == RoleOperator, Vouchers: s.d.Voucher != nil}
	s.render(w, "taps.html", p)
}

// currentTaps is the tap list now.
func (s *Server) currentTaps(r *http.Request) []tapView {
	today, since := s.today(r)
	return s.tapViews(s.d.Wall.Status(), today, since, s.alarms.snapshot())
}

// statusJSON is the live stream's status frame.
func (s *Server) statusJSON() []byte {
	b, _ := json.Marshal(s.currentTaps(nil))
	return b
}

// todayCache keeps the day's volume per line for the time-to-empty
// estimate; it is recomputed after a booking or every half minute.
type todayCache struct {
	mu    sync.Mutex
	at    time.Time
	stale bool
	vol   map[int]flow.Vol
	day   time.Time
}

func (c *todayCache) invalidate() {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
}

func (s *Server) zone() *time.Location {
	if loc, err := s.d.Config.TTG.Location(); err == nil {
		return loc
	}
	return time.Local
}

// today returns the day's volume per line and the time since midnight.
func (s *Server) today(r *http.Request) (map[int]flow.Vol, time.Duration) {
	now := s.d.Now().In(s.zone())
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	c := &s.todayC
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vol == nil || c.stale || now.Sub(c.at) > 30*time.Second || !c.day.Equal(midnight) {
		ctx := s.ctx
		if r != nil {
			ctx = r.Context()
		}
		tot, err := s.d.History.Totals(ctx, history.Query{From: midnight, Kinds: []string{history.KindPour}, Loc: s.zone()}, history.ByLine)
		if err != nil {
			s.d.Log.Warn("web: today's pours", "err", err)
		}
		c.vol = map[int]flow.Vol{}
		for _, t := range tot {
			if n, err := strconv.Atoi(t.Key); err == nil {
				c.vol[n] = t.Volume
			}
		}
		c.at, c.stale, c.day = now, false, midnight
	}
	return c.vol, now.Sub(midnight)
}

// historyData is the history page.
type historyData struct {
	Rows     []historyRow
	Q        url.Values
	Lines    []int
	Payments []string
	CSV      string
	Total    string
}

type historyRow struct {
	history.Entry
	When, Vol, Money string
}

// query reads the history filters of a form: dates in the wall's zone.
func (s *Server) query(v url.Values) (history.Query, error) {
	loc := s.zone()
	q := history.Query{Kinds: pourKinds, Loc: loc}
	var err error
	if q.From, err = history.ParseFrom(v.Get("from"), loc); err != nil {
		return q, fmt.Errorf("from: %w", err)
	}
	if q.To, err = history.ParseTo(v.Get("to"), loc); err != nil {
		return q, fmt.Errorf("to: %w", err)
	}
	if l := v.Get("line"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return q, fmt.Errorf("line: %q is not a line number", l)
		}
		q.Line = n
	}
	q.Product, q.Payment = v.Get("product"), v.Get("payment")
	return q, q.Validate()
}

func (s *Server) historyPage(w http.ResponseWriter, r *http.Request, ss session) {
	p := s.pageFor(ss, "History", "history")
	p.Refresh = true
	d := historyData{Q: r.URL.Query(), CSV: "/history.csv?" + r.URL.RawQuery,
		Payments: []string{history.PayFree, history.PayCard, history.PayRemote, history.PayTerminal, history.PayRegister}}
	for _, l := range s.d.Config.Lines {
		d.Lines = append(d.Lines, l.ID)
	}
	q, err := s.query(r.URL.Query())
	if err != nil {
		p.Error = err.Error()
		p.Data = d
		s.render(w, "history.html", p)
		return
	}
	dev := s.d.Config.Device
	tot, err := s.d.History.Totals(r.Context(), q, history.ByLine)
	if err != nil {
		p.Error = err.Error()
	}
	var n int64
	var vol flow.Vol
	var amt int64
	for _, t := range tot {
		n, vol, amt = n+t.Pours, vol+t.Volume, amt+t.Amount
	}
	d.Total = fmt.Sprintf("%s, %s, %s", flow.Count(n, "pour", "pours"), vol.Litres(), flow.Money(amt, dev.Decimals, dev.Currency))
	q.Limit = historyRows
	rows, err := s.d.History.Find(r.Context(), q)
	if err != nil {
		p.Error = err.Error()
	}
	for i := len(rows) - 1; i >= 0; i-- { // newest first
		e := rows[i]
		d.Rows = append(d.Rows, historyRow{Entry: e, When: e.Time.In(s.zone()).Format("2006-01-02 15:04:05"),
			Vol: millilitres(e.Volume), Money: flow.Money(e.Amount, dev.Decimals, dev.Currency)})
	}
	p.Data = d
	s.render(w, "history.html", p)
}

// historyCSV exports the filtered pours in the history package's CSV.
func (s *Server) historyCSV(w http.ResponseWriter, r *http.Request, _ session) {
	q, err := s.query(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q.Limit = history.MaxLimit
	rows, err := s.d.History.Find(r.Context(), q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="pours.csv"`)
	if err := history.WriteCSV(w, rows, s.zone()); err != nil {
		s.d.Log.Warn("web: CSV export", "err", err)
	}
}

// chartsData is the charts page.
type chartsData struct {
	Volume, Sales template.HTML
	Totals        []dayTotalView
}

type dayTotalView struct {
	Day        string
	Line       int
	Pours      int64
	Vol, Money string
}

func (s *Server) chartsPage(w http.ResponseWriter, r *http.Request, ss session) {
	p := s.pageFor(ss, "Charts", "charts")
	p.Refresh = true
	loc := s.zone()
	now := s.d.Now().In(loc)
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1-chartDays)
	days := make([]string, chartDays)
	index := map[string]int{}
	for i := range days {
		days[i] = first.AddDate(0, 0, i).Format(time.DateOnly)
		index[days[i]] = i
	}
	dev := s.d.Config.Device
	var vols, sales []series
	d := chartsData{}
	for _, l := range s.d.Config.Lines {
		name := fmt.Sprintf("%d %s", l.ID, l.Product)
		v, m := series{Name: name, Values: make([]int64, chartDays)}, series{Name: name, Values: make([]int64, chartDays)}
		tot, err := s.d.History.Totals(r.Context(), history.Query{From: first, Line: l.ID, Kinds: pourKinds, Loc: loc}, history.ByDay)
		if err != nil {
			p.Error = err.Error()
		}
		for _, t := range tot {
			if i, ok := index[t.Key]; ok {
				v.Values[i], m.Values[i] = int64(t.Volume), t.Amount
			}
			d.Totals = append(d.Totals, dayTotalView{Day: t.Key, Line: l.ID, Pours: t.Pours, Vol: t.Volume.Litres(), Money: flow.Money(t.Amount, dev.Decimals, dev.Currency)})
		}
		vols, sales = append(vols, v), append(sales, m)
	}
	d.Volume = barChart("Volume per line and day", days, vols, func(v int64) string { return flow.Vol(v).Litres() })
	d.Sales = barChart("Sales per line and day", days, sales, func(v int64) string { return flow.Money(v, dev.Decimals, dev.Currency) })
	p.Data = d
	s.render(w, "charts.html", p)
}
