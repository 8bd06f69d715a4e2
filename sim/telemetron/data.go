package telemetron

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits from the reference (windows, depths) and the emulator's own
// bounds (batch sizes, kept records).
const (
	day           = 24 * time.Hour
	eventsWindow  = 7 * day
	eventsDepth   = 14 * day
	reportsWindow = 14 * day
	reportsDepth  = 14 * day
	statsWindow   = 31 * day
	summaryWindow = 7 * day
	statsDepth    = 62 * day // "does not exceed two months"
	maxBatch      = 1000
	maxKept       = 100000
	maxReport     = 1 << 20
	maxLoad       = int64(1e15)
	maxPrice      = int64(1e12)
	maxNumber     = int64(1e6)
)

// prune drops what is older than the reference keeps.
func (s *Server) prune(md *machineData) {
	now := s.o.Now()
	md.Events = slices.DeleteFunc(md.Events, func(e Event) bool { return e.At < now.Add(-eventsDepth).Unix() })
	md.Reports = slices.DeleteFunc(md.Reports, func(r Report) bool { return r.At < now.Add(-reportsDepth).Unix() })
	md.Sales = slices.DeleteFunc(md.Sales, func(v Sale) bool { return v.At < now.Add(-statsDepth).Unix() })
	md.Operations = slices.DeleteFunc(md.Operations, func(o operation) bool { return o.At < now.Add(-statsDepth).Unix() })
	md.Events = keepLast(md.Events)
	md.Reports = keepLast(md.Reports)
	md.Sales = keepLast(md.Sales)
	md.Operations = keepLast(md.Operations)
}

func keepLast[T any](v []T) []T {
	if len(v) > maxKept {
		return slices.Delete(v, 0, len(v)-maxKept)
	}
	return v
}

var eventCodeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,15}$`)

type eventDoc struct {
	Date    string          `json:"date"`
	Code    string          `json:"code"`
	Payload json.RawMessage `json:"payload"`
}

func (s *Server) getEvents(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	since, until, err := s.period(r.URL.Query(), lastDays(1), eventsWindow)
	if err != nil {
		return reply{}, err
	}
	out := []eventDoc{}
	for _, e := range sortedBy(md.Events, func(e Event) int64 { return e.At }) {
		if e.At >= since.Unix() && e.At <= until.Unix() {
			p := e.Payload
			if p == nil {
				p = json.RawMessage("null")
			}
			out = append(out, eventDoc{Date: s.stamp(time.Unix(e.At, 0)), Code: e.Code, Payload: p})
		}
	}
	return ok(out), nil
}

func sortedBy[T any](v []T, key func(T) int64) []T {
	out := slices.Clone(v)
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return out
}

// postEvents stores the machine's events (assumed ingestion: the GET's
// shape). An identical resent event is stored once.
func (s *Server) postEvents(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var docs []eventDoc
	if err := decode(r, &docs); err != nil {
		return reply{}, err
	}
	if len(docs) == 0 || len(docs) > maxBatch {
		return reply{}, &apiError{Status: http.StatusBadRequest, Message: "Not enough data", Subcode: "L103"}
	}
	var add []Event
	for i, d := range docs {
		t, err := parseTime(d.Date)
		if err != nil {
			return reply{}, invalid(fmt.Sprintf("%d.date", i), err.Error())
		}
		if !eventCodeRE.MatchString(d.Code) {
			return reply{}, invalid(fmt.Sprintf("%d.code", i), "The code must be an EVA-DTS style event code (EA1A).")
		}
		payload, err := compactPayload(d.Payload)
		if err != nil {
			return reply{}, invalid(fmt.Sprintf("%d.payload", i), err.Error())
		}
		add = append(add, Event{At: t.Unix(), Code: d.Code, Payload: payload})
	}
	for _, e := range add {
		if s.o.StoreDuplicates || !slices.ContainsFunc(md.Events, func(o Event) bool {
			return o.At == e.At && o.Code == e.Code && bytes.Equal(o.Payload, e.Payload)
		}) {
			md.Events = append(md.Events, e)
		}
	}
	s.prune(md)
	return created(map[string]bool{"res": true}), nil
}

// compactPayload accepts the reference's payload: an array, or null.
func compactPayload(p json.RawMessage) (json.RawMessage, error) {
	t := bytes.TrimSpace(p)
	if len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	if t[0] != '[' {
		return nil, fmt.Errorf("The payload must be an array or null.")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, t); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// flags are a report call's encoding flags.
type flags struct{ cp1251, base64 bool }

func readFlags(q url.Values) (flags, int, error) {
	var f flags
	port := 0
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"cp1251", &f.cp1251}, {"base64", &f.base64}} {
		switch q.Get(p.name) {
		case "", "0", "false":
		case "1", "true":
			*p.dst = true
		default:
			return f, 0, badField(p.name, "invalid", "%s must be 1 or 0", p.name)
		}
	}
	if v := q.Get("port"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 2 {
			return f, 0, badField("port", "invalid", "port must be 1 or 2 (2-DEX)")
		}
		port = n
	}
	return f, port, nil
}

// encode renders stored Windows-1251 bytes as the flags ask: UTF-8 text
// by default, the raw Windows-1251 bytes with cp1251, and either packed
// in base64 with base64.
func (f flags) encode(b []byte) []byte {
	if !f.cp1251 {
		b = fromCP1251(b)
	}
	if f.base64 {
		return []byte(base64.StdEncoding.EncodeToString(b))
	}
	return b
}

// writeReports writes report objects by hand: with cp1251 and without
// base64 the data string holds Windows-1251 bytes, which a JSON encoder
// would replace (it writes UTF-8 only).
func (s *Server) writeReports(reps []Report, f flags, one bool) reply {
	var b bytes.Buffer
	if !one {
		b.WriteByte('[')
	}
	for i, rep := range reps {
		if i > 0 {
			b.WriteByte(',')
		}
		date, _ := json.Marshal(s.stamp(time.Unix(rep.At, 0)))
		fmt.Fprintf(&b, `{"date":%s,"data":"`, date)
		jsonBytes(&b, f.encode(rep.Data))
		fmt.Fprintf(&b, `","evadts_port":%d}`, rep.Port)
	}
	if !one {
		b.WriteByte(']')
	}
	ctype := "application/json"
	if f.cp1251 && !f.base64 {
		ctype = "application/json; charset=windows-1251"
	}
	return reply{status: http.StatusOK, raw: b.Bytes(), ctype: ctype}
}

// jsonBytes escapes what JSON requires inside a string and copies every
// other byte as it is.
func jsonBytes(b *bytes.Buffer, data []byte) {
	for _, c := range data {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
}

func (s *Server) listReports(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	q := r.URL.Query()
	f, port, err := readFlags(q)
	if err != nil {
		return reply{}, err
	}
	since, until, err := s.period(q, lastDays(1), reportsWindow)
	if err != nil {
		return reply{}, err
	}
	var out []Report
	for _, rep := range sortedBy(md.Reports, func(r Report) int64 { return r.At }) {
		if rep.At >= since.Unix() && rep.At <= until.Unix() && (port == 0 || rep.Port == port) {
			out = append(out, rep)
		}
	}
	return s.writeReports(out, f, false), nil
}

// getReport finds a report by id, or the last (last_valid: the last that
// is a well-formed EVA-DTS file), on the port if one is given.
func (s *Server) getReport(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	f, port, err := readFlags(r.URL.Query())
	if err != nil {
		return reply{}, err
	}
	which := r.PathValue("report")
	id, idErr := strconv.ParseInt(which, 10, 64)
	if idErr != nil && which != "last" && which != "last_valid" {
		return reply{}, errf(http.StatusNotFound, "Not found")
	}
	var found *Report
	for _, rep := range sortedBy(md.Reports, func(r Report) int64 { return r.At }) {
		if port != 0 && rep.Port != port {
			continue
		}
		switch {
		case idErr == nil && rep.ID == id, which == "last", which == "last_valid" && rep.Valid:
			found = &rep
		}
	}
	if found == nil {
		return reply{}, errf(http.StatusNotFound, "Not found")
	}
	return s.writeReports([]Report{*found}, f, true), nil
}

type reportDoc struct {
	Date string          `json:"date"`
	Data *string         `json:"data"`
	Port json.RawMessage `json:"evadts_port"`
}

// postReport stores an EVA-DTS report (assumed ingestion: the report
// object, data encoded as the cp1251 and base64 query flags say) and
// fulfils a report request. Without base64, cp1251 bytes cannot travel
// in JSON, so that pair is refused.
func (s *Server) postReport(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	f, _, err := readFlags(r.URL.Query())
	if err != nil {
		return reply{}, err
	}
	if f.cp1251 && !f.base64 {
		return reply{}, badField("cp1251", "invalid", "Windows-1251 data must be base64-packed in JSON (cp1251=1&base64=1)")
	}
	var doc reportDoc
	if err := decode(r, &doc); err != nil {
		return reply{}, err
	}
	t, err := parseTime(doc.Date)
	if err != nil {
		return reply{}, invalid("date", err.Error())
	}
	if doc.Data == nil || *doc.Data == "" {
		return reply{}, &apiError{Status: http.StatusBadRequest, Message: "Not enough data", Subcode: "L103"}
	}
	port, err := readPort(doc.Port)
	if err != nil {
		return reply{}, invalid("evadts_port", err.Error())
	}
	raw := []byte(*doc.Data)
	if f.base64 {
		if raw, err = base64.StdEncoding.DecodeString(*doc.Data); err != nil {
			return reply{}, invalid("data", "The data is not base64: "+err.Error())
		}
	}
	if !f.cp1251 {
		if raw, err = toCP1251(raw); err != nil {
			return reply{}, invalid("data", err.Error())
		}
	}
	if len(raw) > maxReport {
		return reply{}, invalid("data", "The report is larger than 1 MiB.")
	}
	rep := Report{At: t.Unix(), Data: raw, Port: port, Valid: validEVADTS(raw)}
	for _, o := range md.Reports {
		if !s.o.StoreDuplicates && o.At == rep.At && o.Port == rep.Port && bytes.Equal(o.Data, rep.Data) {
			md.fulfil(true, false)
			return created(map[string]int64{"id": o.ID}), nil
		}
	}
	rep.ID = s.st.id()
	md.Reports = append(md.Reports, rep)
	md.fulfil(true, false)
	s.prune(md)
	return created(map[string]int64{"id": rep.ID}), nil
}

// readPort reads evadts_port: a number (the examples) or a numeric
// string (the attribute list), 1 or 2; null is port 1.
func readPort(raw json.RawMessage) (int, error) {
	t := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if t == "" || t == "null" {
		return 1, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 || n > 2 {
		return 0, fmt.Errorf("The evadts_port must be 1 or 2.")
	}
	return n, nil
}

// validEVADTS checks a report's framing: it begins with DXS and ends with
// DXE, every line ends in CRLF, and each ST..SE transaction set's SE
// counts its own segments.
func validEVADTS(b []byte) bool {
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		return false
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "DXS*") || !strings.HasPrefix(lines[len(lines)-1], "DXE*") {
		return false
	}
	start := -1
	sets := 0
	for i, l := range lines {
		if strings.Contains(l, "\n") || strings.Contains(l, "\r") {
			return false
		}
		switch {
		case strings.HasPrefix(l, "ST*"):
			start = i
		case strings.HasPrefix(l, "SE*"):
			f := strings.Split(l, "*")
			n, err := strconv.Atoi(f[1])
			if start < 0 || err != nil || n != i-start+1 {
				return false
			}
			start = -1
			sets++
		}
	}
	return sets > 0 && start < 0
}

func (s *Server) getLoading(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	out := slices.Clone(md.Loading)
	slices.SortStableFunc(out, func(a, b Level) int {
		if a.ComponentID != b.ComponentID {
			return cmp.Compare(a.ComponentID, b.ComponentID)
		}
		return strings.Compare(deref(a.LayoutNumber), deref(b.LayoutNumber))
	})
	return ok(orNone(out)), nil
}

func orNone[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Line is one line of a refill (Add) or an inventory (Loaded).
type Line struct {
	ComponentID  *int64  `json:"component_id"`
	LayoutNumber *string `json:"layout_number"`
	Add          *int64  `json:"add,omitempty"`
	Loaded       *int64  `json:"loaded,omitempty"`
}

// LoadRequest is the body of POST .../loading and .../inventory.
type LoadRequest struct {
	Data      []Line  `json:"data"`
	Note      string  `json:"note"`
	CreatedAt *string `json:"created_at"`
}

func (s *Server) postLoading(r *http.Request) (reply, error)   { return s.load(r, "loading") }
func (s *Server) postInventory(r *http.Request) (reply, error) { return s.load(r, "inventory") }

// load books a refill (add to the levels) or an inventory (set them). A
// record whose created_at (the device's time) equals one already booked
// is the reference's L102 Duplicate.
func (s *Server) load(r *http.Request, kind string) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var req LoadRequest
	if err := decode(r, &req); err != nil {
		return reply{}, err
	}
	if len(req.Data) == 0 {
		return reply{}, &apiError{Status: http.StatusBadRequest, Message: "Not enough data", Subcode: "L103"}
	}
	if len(req.Data) > maxBatch {
		return reply{}, invalid("data", fmt.Sprintf("At most %d lines.", maxBatch))
	}
	field := map[string]string{"loading": "add", "inventory": "loaded"}[kind]
	moved := false
	for i, l := range req.Data {
		v := l.Add
		if kind == "inventory" {
			v = l.Loaded
		}
		other := l.Loaded != nil
		if kind == "inventory" {
			other = l.Add != nil
		}
		switch {
		case l.ComponentID == nil || *l.ComponentID <= 0:
			return reply{}, invalid(fmt.Sprintf("data.%d.component_id", i), fmt.Sprintf("The data.%d.component_id field is required.", i))
		case v == nil:
			return reply{}, invalid(fmt.Sprintf("data.%d.%s", i, field), fmt.Sprintf("The data.%d.%s field is required.", i, field))
		case other:
			return reply{}, invalid(fmt.Sprintf("data.%d", i), "add is for a refill, loaded for an inventory.")
		case *v > maxLoad || *v < -maxLoad:
			return reply{}, invalid(fmt.Sprintf("data.%d.%s", i, field), "The value is out of range.")
		}
		moved = moved || *v != 0
	}
	if kind == "loading" && !moved {
		return reply{}, &apiError{Status: http.StatusBadRequest, Message: "Not enough data (no load)", Subcode: "L104"}
	}
	at := s.o.Now()
	if req.CreatedAt != nil {
		if at, err = parseTime(*req.CreatedAt); err != nil {
			return reply{}, invalid("created_at", err.Error())
		}
		for _, op := range md.Operations {
			if op.Kind == kind && op.At == at.Unix() {
				return reply{}, &apiError{Status: http.StatusBadRequest, Message: "Duplicate", Subcode: "L102"}
			}
		}
	}
	for _, l := range req.Data {
		md.apply(kind, l)
	}
	canon, _ := json.Marshal(struct {
		Kind    string
		Machine int64
		At      int64
		Data    []Line
	}{kind, md.Machine.ID, at.UnixNano(), req.Data})
	sum := sha256.Sum256(canon)
	op := operation{Kind: kind, At: at.Unix(), Digest: hex.EncodeToString(sum[:16]), Note: req.Note, Data: req.Data}
	md.Operations = append(md.Operations, op)
	s.prune(md)
	return created(map[string]string{"digest": op.Digest}), nil
}

func (md *machineData) apply(kind string, l Line) {
	i := slices.IndexFunc(md.Loading, func(v Level) bool {
		return v.ComponentID == *l.ComponentID && deref(v.LayoutNumber) == deref(l.LayoutNumber)
	})
	if i < 0 {
		md.Loading = append(md.Loading, Level{ComponentID: *l.ComponentID, LayoutNumber: l.LayoutNumber})
		i = len(md.Loading) - 1
	}
	if kind == "inventory" {
		md.Loading[i].Value = *l.Loaded
		return
	}
	md.Loading[i].Value = clampAdd(md.Loading[i].Value, *l.Add)
}

// clampAdd adds without overflow: levels stay within ±maxLoad.
func clampAdd(a, b int64) int64 {
	return max(-maxLoad, min(maxLoad, a+b)) // |a|, |b| <= maxLoad, so a+b cannot overflow
}

// Vend types and payment types (assumed numbering; the reference shows
// vend_type 3 in a type=paid answer and payment_type 1 for cash).
var (
	vendTypes    = map[string]int{"test": 1, "free": 2, "paid": 3}
	paymentTypes = map[string]int{"cash": 1, "cashless": 2, "token": 3}
)

type saleDoc struct {
	Time         string  `json:"time"`
	LayoutNumber *string `json:"layout_number"`
	Name         string  `json:"name"`
	VendType     *int    `json:"vend_type"`
	PaymentType  *int    `json:"payment_type"`
	Price        *int64  `json:"price"`
	Number       *int64  `json:"number"`
	Value        *int64  `json:"value"`
}

func (d saleDoc) check(i int) (Sale, error) {
	f := func(name, msg string) error { return invalid(fmt.Sprintf("%d.%s", i, name), msg) }
	t, err := parseTime(d.Time)
	switch {
	case err != nil:
		return Sale{}, f("time", err.Error())
	case d.Name == "":
		return Sale{}, f("name", "The name field is required.")
	case d.VendType == nil || *d.VendType < 1 || *d.VendType > 3:
		return Sale{}, f("vend_type", "The vend_type must be 1 (test), 2 (free) or 3 (paid).")
	case d.PaymentType == nil || *d.PaymentType < 1 || *d.PaymentType > 3:
		return Sale{}, f("payment_type", "The payment_type must be 1 (cash), 2 (cashless) or 3 (token).")
	case d.Price == nil || *d.Price < 0 || *d.Price > maxPrice:
		return Sale{}, f("price", "The price must be a whole number of minor units, 0 to 10^12.")
	case d.Number == nil || *d.Number < 1 || *d.Number > maxNumber:
		return Sale{}, f("number", "The number must be 1 to 10^6.")
	case d.Value == nil:
		return Sale{}, f("value", "The value field is required.")
	}
	if *d.Price**d.Number != *d.Value { // bounded above: cannot overflow
		return Sale{}, f("value", "The value must be price × number.")
	}
	return Sale{At: t.Unix(), LayoutNumber: deref(d.LayoutNumber), Name: d.Name, VendType: *d.VendType,
		PaymentType: *d.PaymentType, Price: *d.Price, Number: *d.Number, Value: *d.Value}, nil
}

// postSales stores vend rows (assumed ingestion: the vend statistics
// rows, with both vend_type and payment_type). An identical resent row is
// stored once.
func (s *Server) postSales(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var docs []saleDoc
	if err := decode(r, &docs); err != nil {
		return reply{}, err
	}
	if len(docs) == 0 || len(docs) > maxBatch {
		return reply{}, &apiError{Status: http.StatusBadRequest, Message: "Not enough data", Subcode: "L103"}
	}
	var add []Sale
	for i, d := range docs {
		v, err := d.check(i)
		if err != nil {
			return reply{}, err
		}
		add = append(add, v)
	}
	for _, v := range add {
		if s.o.StoreDuplicates || !slices.Contains(md.Sales, v) {
			md.Sales = append(md.Sales, v)
		}
	}
	s.prune(md)
	return created(map[string]bool{"res": true}), nil
}

type summaryRow struct {
	Number int64 `json:"number"`
	Value  int64 `json:"value"`
}

func (s *Server) sales(mds []*machineData, q url.Values, window time.Duration, keep func(Sale) bool) ([]Sale, error) {
	since, until, err := s.period(q, s.today, window)
	if err != nil {
		return nil, err
	}
	var out []Sale
	for _, md := range mds {
		s.prune(md)
		for _, v := range md.Sales {
			if v.At >= since.Unix() && v.At <= until.Unix() && keep(v) {
				out = append(out, v)
			}
		}
	}
	return sortedBy(out, func(v Sale) int64 { return v.At }), nil
}

func sum(vs []Sale) []summaryRow {
	var r summaryRow
	for _, v := range vs {
		r.Number = satAdd(r.Number, v.Number)
		r.Value = satAdd(r.Value, v.Value)
	}
	return []summaryRow{r}
}

// satAdd adds non-negative numbers, stopping at MaxInt64 instead of
// wrapping: many machines' sales could pass it.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func all(Sale) bool { return true }

func (s *Server) machineSummary(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	vs, err := s.sales([]*machineData{md}, r.URL.Query(), statsWindow, all)
	if err != nil {
		return reply{}, err
	}
	return ok(sum(vs)), nil
}

func (s *Server) summary(r *http.Request) (reply, error) {
	vs, err := s.sales(s.sortedMachines(), r.URL.Query(), summaryWindow, all)
	if err != nil {
		return reply{}, err
	}
	return ok(sum(vs)), nil
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

// typeFilter reads the type query parameter against its enum.
func typeFilter(q url.Values, enum map[string]int, get func(Sale) int) (func(Sale) bool, error) {
	v := q.Get("type")
	if v == "" {
		return all, nil
	}
	n, ok := enum[v]
	if !ok {
		return nil, badField("type", "invalid", "unknown type %q", v)
	}
	return func(s Sale) bool { return get(s) == n }, nil
}

func (s *Server) vendsProducts(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	keep, err := typeFilter(r.URL.Query(), vendTypes, func(v Sale) int { return v.VendType })
	if err != nil {
		return reply{}, err
	}
	vs, err := s.sales([]*machineData{md}, r.URL.Query(), statsWindow, keep)
	if err != nil {
		return reply{}, err
	}
	out := []productRow{}
	for _, v := range vs {
		out = append(out, productRow{s.stamp(time.Unix(v.At, 0)), v.LayoutNumber, v.Name, v.VendType, v.Price, v.Number, v.Value})
	}
	return ok(out), nil
}

func (s *Server) vendsPayments(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	keep, err := typeFilter(r.URL.Query(), paymentTypes, func(v Sale) int { return v.PaymentType })
	if err != nil {
		return reply{}, err
	}
	vs, err := s.sales([]*machineData{md}, r.URL.Query(), statsWindow, keep)
	if err != nil {
		return reply{}, err
	}
	out := []paymentRow{}
	for _, v := range vs {
		out = append(out, paymentRow{s.stamp(time.Unix(v.At, 0)), v.LayoutNumber, v.Name, v.PaymentType, v.Price, v.Number, v.Value})
	}
	return ok(out), nil
}

// Reports returns copies of a machine's stored reports, for tests.
func (s *Server) Reports(machine int64) []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	if md, ok := s.st.Machines[machine]; ok {
		return slices.Clone(md.Reports)
	}
	return nil
}
