package telemetronapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/httpguard"
	"github.com/tapagent/tapagent/telemetron"
)

// Bounds of one answer.
const (
	maxEvents = 10_000
	maxVends  = history.MaxLimit
	// logDepth is how many events of the durable log are read.
	logDepth = 10_000
)

// handler answers a request whose token has been checked.
type handler func(r *http.Request) (any, error)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	vm := "/v2/vending_machines/{id}"
	mux.HandleFunc("POST /auth/{$}", s.token)
	mux.HandleFunc("POST /auth", s.token)
	mux.HandleFunc("GET /logout", s.logout)
	for p, h := range map[string]handler{
		"GET /v2/me":                          s.me,
		"GET /v2/vending_machines":            s.machines,
		"GET " + vm:                           s.forMachine(s.machine),
		"GET " + vm + "/events":               s.forMachine(s.events),
		"GET " + vm + "/state":                s.forMachine(s.state),
		"GET " + vm + "/loading":              s.forMachine(s.loading),
		"GET " + vm + "/timestamp":            s.forMachine(s.timestamp),
		"GET " + vm + "/stats/vends/summary":  s.forMachine(s.summary(statsWindow)),
		"GET /v2/stats/vends/summary":         s.summary(7 * day),
		"GET " + vm + "/stats/vends/products": s.forMachine(s.products),
		"GET " + vm + "/stats/vends/payments": s.forMachine(s.payments),
		"POST " + vm + "/request":             s.forMachine(s.postRequest),
		"GET " + vm + "/request/{request}":    s.forMachine(s.getRequest),
		"GET " + vm + "/config":               s.forMachine(s.config),
	} {
		mux.Handle(p, s.authed(h))
	}
	mux.Handle("GET "+vm+"/reports", s.authedRaw(s.forMachineRaw(s.listReports)))
	mux.Handle("GET "+vm+"/reports/{report}", s.authedRaw(s.forMachineRaw(s.oneReport)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeErr(w, notFound()) })
	return mux
}

// authed checks the Bearer token, then answers with h's JSON.
func (s *Server) authed(h handler) http.Handler {
	return s.authedRaw(func(w http.ResponseWriter, r *http.Request) {
		v, err := h(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func (s *Server) authedRaw(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := s.bearer(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="telemetron"`)
			writeErr(w, err)
			return
		}
		h(w, r)
	})
}

// forMachine answers 404 for any machine but this one.
func (s *Server) forMachine(h handler) handler {
	return func(r *http.Request) (any, error) {
		if err := s.checkMachine(r); err != nil {
			return nil, err
		}
		return h(r)
	}
}

func (s *Server) forMachineRaw(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkMachine(r); err != nil {
			writeErr(w, err)
			return
		}
		h(w, r)
	}
}

func (s *Server) checkMachine(r *http.Request) error {
	if id, err := strconv.ParseInt(r.PathValue("id"), 10, 64); err != nil || id != s.o.Machine.ID {
		return errf(http.StatusNotFound, "Vending machine not found")
	}
	return nil
}

// stamp renders a time as the reference does: ISO 8601 with the wall's offset.
func (s *Server) stamp(t time.Time) string { return t.In(s.o.Zone).Format(time.RFC3339) }

func (s *Server) stampPtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := s.stamp(t)
	return &v
}

type role struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Title string `json:"title"`
}

type user struct {
	ID        int64   `json:"id"`
	CompanyID int64   `json:"company_id"`
	FirstName string  `json:"first_name"`
	LastName  string  `json:"last_name"`
	Position  string  `json:"position"`
	Email     string  `json:"email"`
	Lang      *string `json:"lang"`
	Status    bool    `json:"status"`
	LastLogin string  `json:"last_login"`
	Phone     bool    `json:"phone"`
	Roles     []role  `json:"roles"`
}

// me is the user the token was issued to; every user of this machine is
// its operator.
func (s *Server) me(r *http.Request) (any, error) {
	_, name, err := s.bearer(r)
	if err != nil {
		return nil, err
	}
	return user{ID: 1, CompanyID: 1, FirstName: name, Email: name, Status: true,
		LastLogin: s.stamp(s.o.Now()), Roles: []role{{3, "operator", "Operator"}}}, nil
}

type location struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Address string `json:"address"`
}

type vmType struct {
	ID    int64  `json:"id"`
	Label string `json:"label"`
	Name  string `json:"name"`
}

type modem struct {
	ID        int64  `json:"id"`
	IMEI      string `json:"imei"`
	Bus       string `json:"bus"`
	SWVersion string `json:"sw_version"`
	HWVersion string `json:"hw_version"`
}

// machineDoc is GET /v2/vending_machines/{id}; listed is the list's form
// of it, with the modem's IMEI instead of the modem.
type machineDoc struct {
	ID              int64           `json:"id"`
	SerialNumber    string          `json:"serial_number"`
	Name            string          `json:"name"`
	PlanogramID     *int64          `json:"planogram_id"`
	State           int             `json:"state"`
	Service         map[string]bool `json:"service"`
	Location        *location       `json:"location"`
	Type            *vmType         `json:"type"`
	Modem           *modem          `json:"modem,omitempty"`
	IMEI            *string         `json:"imei,omitempty"`
	IsCRTActive     bool            `json:"is_crt_active"`
	InventoryNumber *string         `json:"inventory_number"`
}

// otherType is the reference's type 4: a tap wall is neither of the others.
var otherType = vmType{ID: 4, Label: "other", Name: "other"}

func (s *Server) machineDoc(r *http.Request) (machineDoc, error) {
	m := s.o.Machine
	state, service, err := s.currentState(r)
	if err != nil {
		return machineDoc{}, err
	}
	d := machineDoc{ID: m.ID, SerialNumber: m.Serial, Name: m.Name, State: state, Service: service, Type: &otherType}
	if m.LocationID != 0 || m.Location != "" {
		d.Location = &location{ID: m.LocationID, Name: m.Location}
	}
	return d, nil
}

// agentIMEI stands for the modem's IMEI: the agent is the modem, and it
// has none; its number is the machine's.
func (s *Server) agentIMEI() string { return fmt.Sprintf("T%d", s.o.Machine.ID) }

func (s *Server) machine(r *http.Request) (any, error) {
	d, err := s.machineDoc(r)
	d.Modem = &modem{ID: s.o.Machine.ID, IMEI: s.agentIMEI(), Bus: s.o.Machine.Bus, SWVersion: s.o.Machine.Version, HWVersion: "tapagent"}
	return d, err
}

func (s *Server) machines(r *http.Request) (any, error) {
	d, err := s.machineDoc(r)
	imei := s.agentIMEI()
	d.IMEI = &imei
	return []machineDoc{d}, err
}

// currentState is the operating state and the service flags (null when
// none is set, as the reference shows it).
func (s *Server) currentState(r *http.Request) (int, map[string]bool, error) {
	now := s.o.Now()
	last, err := s.lastSale(r, now)
	if err != nil {
		return 0, nil, err
	}
	st := telemetron.StateOf(wallOf(s.o.Wall.Kegs(), last), now, s.started, s.o.NoSalesAfter)
	service := map[string]bool{}
	if st.Service.NeedLoading {
		service["need_loading"] = true
	}
	if st.Service.NoRecentSales {
		service["no_recent_sales"] = true
	}
	if len(service) == 0 {
		service = nil
	}
	return st.State, service, nil
}

type stateDoc struct {
	State   int             `json:"state"`
	Service map[string]bool `json:"service"`
}

// state is GET .../state (assumed: the machine object's state and service).
func (s *Server) state(r *http.Request) (any, error) {
	st, service, err := s.currentState(r)
	return stateDoc{st, service}, err
}

// loading is the kegs as load levels: one component per line, in mL.
func (s *Server) loading(*http.Request) (any, error) {
	return telemetron.Levels(kegMap(s.o.Wall.Kegs())), nil
}

// events are the machine's events in the period, oldest first: those of
// the durable event log, and before its oldest entry the alarms the
// history keeps (the log holds the newest storage.max_events events of
// every kind; the history keeps alarms for its retention).
func (s *Server) events(r *http.Request) (any, error) {
	now := s.o.Now()
	p, err := ParsePeriod(r.URL.Query(), now, lastDay(now), eventsWindow, eventsDepth)
	if err != nil {
		return nil, err
	}
	logged, err := s.o.Store.EventLog(logDepth)
	if err != nil {
		return nil, s.internal("event log", err)
	}
	var evs []device.Event
	var seqs []uint64
	oldest := p.Until.Add(time.Nanosecond)
	for _, le := range logged {
		ev, ok := decodeLogged(le)
		if !ok {
			continue
		}
		if ev.Time.Before(oldest) {
			oldest = ev.Time
		}
		if !ev.Time.Before(p.Since) && !ev.Time.After(p.Until) {
			evs, seqs = append(evs, ev), append(seqs, le.Seq)
		}
	}
	if p.Since.Before(oldest) {
		es, err := s.hist.Find(r.Context(), history.Query{From: p.Since, To: oldest, Kinds: []string{history.KindAlarm}, Limit: maxEvents})
		if err != nil {
			return nil, s.internal("events", err)
		}
		old := make([]device.Event, 0, len(es))
		for _, e := range es {
			old = append(old, eventOfAlarm(e))
		}
		evs, seqs = append(old, evs...), append(make([]uint64, len(old)), seqs...)
	}
	out := []telemetron.Event{}
	for i, ev := range evs {
		if d, ok := telemetron.EventDoc(ev, seqs[i], s.o.Zone); ok {
			out = append(out, d)
		}
	}
	if len(out) > maxEvents {
		out = out[len(out)-maxEvents:]
	}
	return out, nil
}

// internal logs a failure of the agent's own data and answers 500.
func (s *Server) internal(what string, err error) error {
	s.o.Log.Error("telemetron API: "+what, "err", err)
	return errf(http.StatusInternalServerError, "Server error")
}

// vends are the vend rows of the period, oldest first.
func (s *Server) vends(r *http.Request, window time.Duration) ([]sale, error) {
	now := s.o.Now()
	p, err := ParsePeriod(r.URL.Query(), now, today(now, s.o.Zone), window, statsDepth)
	if err != nil {
		return nil, err
	}
	return s.sales(r, p.Since, p.Until.Add(time.Nanosecond), []string{history.KindPour, history.KindVend, history.KindCleaning, history.KindCalibration})
}

// sales maps the history's entries of kinds in [from, to) to vend rows.
func (s *Server) sales(r *http.Request, from, to time.Time, kinds []string) ([]sale, error) {
	es, err := s.hist.Find(r.Context(), history.Query{From: from, To: to, Kinds: kinds, Limit: maxVends})
	if err != nil {
		return nil, s.internal("vends", err)
	}
	m := telemetron.Machine{Zone: s.o.Zone, Selections: s.o.Machine.Selections}
	var out []sale
	for _, e := range es {
		v, ok, err := telemetron.VendRow(recordOf(e), m)
		if err != nil {
			s.o.Log.Warn("telemetron API: vend row left out", "err", err)
			continue
		}
		if ok {
			out = append(out, sale{e.Time, v})
		}
	}
	return out, nil
}

// lastSale is the time of the newest paid vend within the statistics
// depth. It looks back a day, then a week, then the whole depth: a wall
// that sells daily finds it in the first day's entries.
func (s *Server) lastSale(r *http.Request, now time.Time) (time.Time, error) {
	for _, back := range []time.Duration{day, 7 * day, statsDepth} {
		vs, err := s.sales(r, now.Add(-back), time.Time{}, []string{history.KindPour, history.KindVend})
		if err != nil {
			return time.Time{}, err
		}
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].VendType == telemetron.VendPaid {
				return vs[i].at, nil
			}
		}
	}
	return time.Time{}, nil
}

type summaryRow struct {
	Number int64 `json:"number"`
	Value  int64 `json:"value"`
}

// summary sums every vend row the uplink sends (telemetron.VendRow):
// test and free vends count with their value, as Telemetron's cloud
// counts the rows it received, so both answer the same for one wall.
func (s *Server) summary(window time.Duration) handler {
	return func(r *http.Request) (any, error) {
		vs, err := s.vends(r, window)
		if err != nil {
			return nil, err
		}
		var t summaryRow
		for _, v := range vs {
			t.Number = satAdd(t.Number, v.Number)
			t.Value = satAdd(t.Value, v.Value)
		}
		return []summaryRow{t}, nil
	}
}

// satAdd adds non-negative numbers, stopping at MaxInt64 instead of wrapping.
func satAdd(a, b int64) int64 {
	if b > 0 && a > (1<<63-1)-b {
		return 1<<63 - 1
	}
	return a + b
}

type productRow struct {
	Time         string `json:"time"`
	LayoutNumber string `json:"layout_number"`
	Name         string `json:"name"`
	VendType     int    `json:"vend_type"`
	Price        int64  `json:"price"`
	Number       int64  `json:"number"`
	Value        int64  `json:"value"`
}

type paymentRow struct {
	Time         string `json:"time"`
	LayoutNumber string `json:"layout_number"`
	Name         string `json:"name"`
	PaymentType  int    `json:"payment_type"`
	Price        int64  `json:"price"`
	Number       int64  `json:"number"`
	Value        int64  `json:"value"`
}

var (
	vendTypes    = map[string]int{"test": telemetron.VendTest, "free": telemetron.VendFree, "paid": telemetron.VendPaid}
	paymentTypes = map[string]int{"cash": telemetron.PayCash, "cashless": telemetron.PayCashless, "token": telemetron.PayToken}
)

// typeFilter reads the type parameter against its enum; 0 keeps all.
func typeFilter(r *http.Request, enum map[string]int) (int, error) {
	v := r.URL.Query().Get("type")
	if v == "" {
		return 0, nil
	}
	n, ok := enum[v]
	if !ok {
		return 0, badField("type", "invalid", "unknown type %q", v)
	}
	return n, nil
}

func (s *Server) products(r *http.Request) (any, error) {
	want, err := typeFilter(r, vendTypes)
	if err != nil {
		return nil, err
	}
	vs, err := s.vends(r, statsWindow)
	if err != nil {
		return nil, err
	}
	out := []productRow{}
	for _, v := range vs {
		if want == 0 || v.VendType == want {
			out = append(out, productRow{v.Time, v.LayoutNumber, v.Name, v.VendType, v.Price, v.Number, v.Value})
		}
	}
	return out, nil
}

// payments lists every vend row the uplink sends with its payment type,
// free and test vends included, as Telemetron's cloud lists them.
func (s *Server) payments(r *http.Request) (any, error) {
	want, err := typeFilter(r, paymentTypes)
	if err != nil {
		return nil, err
	}
	vs, err := s.vends(r, statsWindow)
	if err != nil {
		return nil, err
	}
	out := []paymentRow{}
	for _, v := range vs {
		if want == 0 || v.PaymentType == want {
			out = append(out, paymentRow{v.Time, v.LayoutNumber, v.Name, v.PaymentType, v.Price, v.Number, v.Value})
		}
	}
	return out, nil
}

type timestamps struct {
	LastSale           *string `json:"last_sale"`
	LastService        *string `json:"last_service"`
	LastCollection     *string `json:"last_collection"`
	LastLoading        *string `json:"last_loading"`
	LastReport         *string `json:"last_report"`
	LastAcquiredReport *string `json:"last_acquired_report"`
}

// timestamp: the last paid vend, cleaning (service), keg change (loading)
// and kept reports (valid, any); the agent takes no cash, so
// last_collection is null.
func (s *Server) timestamp(r *http.Request) (any, error) {
	now := s.o.Now()
	sale, err := s.lastSale(r, now)
	if err != nil {
		return nil, err
	}
	var service, loading time.Time
	es, err := s.hist.Find(r.Context(), history.Query{From: now.Add(-statsDepth), Kinds: []string{history.KindCleaning, history.KindOperation}, Limit: maxVends})
	if err != nil {
		return nil, s.internal("timestamps", err)
	}
	for _, e := range es {
		switch {
		case e.Kind == history.KindCleaning:
			service = e.Time
		case e.Op == history.OpKegChange:
			loading = e.Time
		}
	}
	var valid, acquired time.Time
	if s.o.Audit != nil {
		ks, _, err := s.o.Audit.Reports(now.Add(-reportsDepth), time.Time{}, 0)
		if err != nil {
			return nil, s.internal("reports", err)
		}
		for _, k := range ks {
			acquired = k.Date
			if validReport([]byte(k.Data)) {
				valid = k.Date
			}
		}
	}
	return timestamps{LastSale: s.stampPtr(sale), LastService: s.stampPtr(service), LastLoading: s.stampPtr(loading),
		LastReport: s.stampPtr(valid), LastAcquiredReport: s.stampPtr(acquired)}, nil
}

type requestReply struct {
	RequestID int64 `json:"request_id"`
	Progress  bool  `json:"progress,omitempty"`
}

// postRequest asks the machine for a report or its configuration: any
// value of "report" or "config" asks for it (the reference's words),
// in a JSON body or the query string.
func (s *Server) postRequest(r *http.Request) (any, error) {
	keys := map[string]bool{}
	for k := range r.URL.Query() {
		keys[k] = true
	}
	if len(keys) == 0 {
		body, err := httpguard.ReadBody(nil, r, maxBody)
		if err != nil {
			return nil, errf(http.StatusRequestEntityTooLarge, "%v", err)
		}
		var req map[string]json.RawMessage
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, badField("body", "invalid", "Bad request: the body must be a JSON object: %v", err)
		}
		for k := range req {
			keys[k] = true
		}
	}
	for k := range keys {
		if k != "report" && k != "config" {
			return nil, &apiError{Status: http.StatusUnprocessableEntity, Message: "The given data was invalid.",
				Errors: []fieldError{{k, "unknown: report and config can be requested"}}}
		}
	}
	if len(keys) == 0 {
		return nil, badField("report", "missing", "Nothing requested: report or config")
	}
	id, progress := s.reqs.ask(keys["report"], keys["config"])
	return requestReply{RequestID: id, Progress: progress}, nil
}

// getRequest: 200 {progress: true} while the request is open, 404 once
// fulfilled (or for an id never issued).
func (s *Server) getRequest(r *http.Request) (any, error) {
	id, err := strconv.ParseInt(r.PathValue("request"), 10, 64)
	if err != nil || !s.reqs.pending(id) {
		return nil, notFound()
	}
	return map[string]bool{"progress": true}, nil
}

// config is the last configuration snapshot a config request made
// (assumed: the reference says a config can be requested, not where it
// is read).
func (s *Server) config(*http.Request) (any, error) {
	c := s.reqs.lastConfig()
	if c == nil {
		return nil, notFound()
	}
	return c, nil
}
