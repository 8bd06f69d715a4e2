package smartnow

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// decode reads a request body strictly (see cloudemu.DecodeJSON); a bad
// body is a 400 with the reason.
func decode(r *http.Request, v any) error {
	if err := cloudemu.DecodeJSON(r, v); err != nil {
		return errf(http.StatusBadRequest, "%v", err)
	}
	return nil
}

// Payment methods the reference names.
var methods = []string{"cash", "card", "code", "virtual", "token"}

// maxPayments bounds the payment transactions of one sale.
const maxPayments = 16

type paymentReq struct {
	Method        string  `json:"method"`
	Type          string  `json:"type"`
	Price         *int64  `json:"price"`
	OriginalPrice int64   `json:"originalPrice"`
	Currency      string  `json:"currency"`
	OccurredAt    string  `json:"occurredAt"`
	TimeZone      string  `json:"timeZone"`
	Exclude       int     `json:"exclude"`
	ReportGroup   *string `json:"reportGroup"`
}

// RevenueRequest is the body of POST /revenuetransaction (assumed: the
// revenue transaction object's writable fields, the machine by id or
// hostname, and its payment transactions nested).
type RevenueRequest struct {
	Machine             *int64       `json:"machine"`
	Hostname            string       `json:"hostname"`
	Product             int64        `json:"product"`
	Name                string       `json:"name"`
	InternalRef         string       `json:"internalRef"`
	OccurredAt          string       `json:"occurredAt"`
	TimeZone            string       `json:"timeZone"`
	OriginalPrice       int64        `json:"originalPrice"`
	Price               *int64       `json:"price"`
	Barcode             *string      `json:"barcode"`
	Currency            string       `json:"currency"`
	Timestamp           *int64       `json:"timestamp"`
	Token               string       `json:"token"`
	SalesType           int64        `json:"salestype"`
	Remote              *int64       `json:"remote"`
	Pricelist           int64        `json:"pricelist"`
	Usergroup           int64        `json:"usergroup"`
	PaymentTransactions []paymentReq `json:"paymentTransactions"`
	// PaymentTransactionsAlias is the same list under the reference's
	// populate alias, "paymenttransactions"; either name is taken, not both.
	PaymentTransactionsAlias []paymentReq `json:"paymenttransactions"`
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// recordMachine resolves the machine a record names, by id or hostname.
func (s *Server) recordMachine(id *int64, hostname string) (*Machine, error) {
	switch {
	case id == nil && hostname == "":
		return nil, errf(http.StatusBadRequest, "machine (or hostname) is required")
	case id == nil:
		return s.machineByHostname(hostname)
	}
	m, err := s.machineLocked(*id)
	if err != nil {
		return nil, err
	}
	if hostname != "" && hostname != m.Hostname {
		return nil, errf(http.StatusBadRequest, "machine %d is %q, not %q", m.ID, m.Hostname, hostname)
	}
	return m, nil
}

// checkTime enforces what the reference's examples show: occurredAt is
// local time with its offset, timeZone the IANA zone it is in, and
// timestamp (when given) the same instant in epoch seconds.
func checkTime(occurredAt, zone string, timestamp *int64) (time.Time, error) {
	if occurredAt == "" || zone == "" {
		return time.Time{}, errf(http.StatusBadRequest, "occurredAt and timeZone are required")
	}
	t, err := time.Parse(time.RFC3339, occurredAt)
	if err != nil {
		return time.Time{}, errf(http.StatusBadRequest, "occurredAt %q is not ISO 8601 with an offset (2019-02-06T07:06:17+01:00)", occurredAt)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return time.Time{}, errf(http.StatusBadRequest, "timeZone %q is not an IANA zone", zone)
	}
	_, want := t.In(loc).Zone()
	if _, got := t.Zone(); got != want {
		return time.Time{}, errf(http.StatusBadRequest, "occurredAt %s has offset %ds but %s is at %ds then", occurredAt, got, zone, want)
	}
	if timestamp != nil && *timestamp != t.Unix() {
		return time.Time{}, errf(http.StatusBadRequest, "timestamp %d is not occurredAt %s (%d)", *timestamp, occurredAt, t.Unix())
	}
	return t, nil
}

func (req *RevenueRequest) check() error {
	switch {
	case req.Price == nil:
		return errf(http.StatusBadRequest, "price is required")
	case *req.Price < 0 || req.OriginalPrice < 0:
		return errf(http.StatusBadRequest, "price and originalPrice must not be negative")
	case !currencyRE.MatchString(req.Currency):
		return errf(http.StatusBadRequest, "currency %q is not an ISO 4217 code", req.Currency)
	case req.Timestamp == nil:
		return errf(http.StatusBadRequest, "timestamp is required")
	case req.Remote == nil:
		return errf(http.StatusBadRequest, "remote (the device's sequence number) is required")
	case len(req.PaymentTransactions) == 0 || len(req.PaymentTransactions) > maxPayments:
		return errf(http.StatusBadRequest, "paymentTransactions: 1 to %d are required", maxPayments)
	}
	if _, err := checkTime(req.OccurredAt, req.TimeZone, req.Timestamp); err != nil {
		return err
	}
	for i, p := range req.PaymentTransactions {
		if err := p.check(req); err != nil {
			return errf(http.StatusBadRequest, "paymentTransactions[%d]: %v", i, err)
		}
	}
	return nil
}

func (p paymentReq) check(parent *RevenueRequest) error {
	switch {
	case !slices.Contains(methods, p.Method):
		return fmt.Errorf("method %q is not one of %v", p.Method, methods)
	case p.Price == nil:
		return fmt.Errorf("price is required")
	case *p.Price < 0 || p.OriginalPrice < 0:
		return fmt.Errorf("price and originalPrice must not be negative")
	case p.Currency != "" && p.Currency != parent.Currency:
		return fmt.Errorf("currency %q differs from the transaction's %q", p.Currency, parent.Currency)
	}
	if p.OccurredAt != "" || p.TimeZone != "" {
		if _, err := checkTime(p.OccurredAt, p.TimeZone, nil); err != nil {
			return err
		}
	}
	return nil
}

func duplicate(kind string, remote, id int64) error {
	return &apiError{status: http.StatusConflict, msg: fmt.Sprintf("%s with remote %d exists", kind, remote), extra: map[string]any{"id": id}}
}

func (s *Server) postRevenue(r *http.Request) (int, any, error) {
	var req RevenueRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.PaymentTransactionsAlias != nil {
		if req.PaymentTransactions != nil {
			return 0, nil, errf(http.StatusBadRequest, "paymentTransactions and paymenttransactions: send one")
		}
		req.PaymentTransactions, req.PaymentTransactionsAlias = req.PaymentTransactionsAlias, nil
	}
	m, err := s.recordMachine(req.Machine, req.Hostname)
	if err != nil {
		return 0, nil, err
	}
	for _, t := range s.st.Revenue {
		if t.Machine == m.ID && req.Remote != nil && t.Remote == *req.Remote {
			return 0, nil, duplicate("revenue transaction", t.Remote, t.ID)
		}
	}
	if err := req.check(); err != nil {
		return 0, nil, err
	}
	now := s.stamp()
	t := &RevenueTransaction{ID: s.st.id(), Product: req.Product, Name: req.Name, InternalRef: req.InternalRef,
		Machine: m.ID, Location: m.Location, OccurredAt: req.OccurredAt, TimeZone: req.TimeZone,
		OriginalPrice: req.OriginalPrice, Price: *req.Price, Barcode: req.Barcode, Currency: req.Currency,
		Timestamp: *req.Timestamp, Token: req.Token, SalesType: req.SalesType,
		NumPaymentTransactions: len(req.PaymentTransactions), Remote: *req.Remote, Pricelist: req.Pricelist,
		Usergroup: req.Usergroup, CreatedAt: now, UpdatedAt: now}
	s.st.Revenue = append(s.st.Revenue, t)
	for _, p := range req.PaymentTransactions {
		pt := &PaymentTransaction{ID: s.st.id(), RevenueTransaction: t.ID, Machine: m.ID, Location: m.Location,
			OccurredAt: p.OccurredAt, TimeZone: p.TimeZone, Method: p.Method, Type: p.Type, Price: *p.Price,
			OriginalPrice: p.OriginalPrice, Currency: req.Currency, Exclude: p.Exclude, ReportGroup: p.ReportGroup,
			CreatedAt: now, UpdatedAt: now}
		if pt.OccurredAt == "" {
			pt.OccurredAt, pt.TimeZone = t.OccurredAt, t.TimeZone
		}
		if pt.Type == "" {
			pt.Type = p.Method
		}
		s.st.Payments = append(s.st.Payments, pt)
	}
	m.LastRevenue = t.ID
	return http.StatusCreated, map[string]int64{"id": t.ID}, nil
}

func (s *Server) listRevenue(r *http.Request) (int, any, error) { return list(r, s.st.Revenue, capped) }

func (s *Server) listPayments(r *http.Request) (int, any, error) {
	return list(r, s.st.Payments, uncapped)
}

func (s *Server) getRevenue(r *http.Request) (int, any, error) {
	t, err := s.pathRevenue(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, t, nil
}

func (s *Server) pathRevenue(r *http.Request) (*RevenueTransaction, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	for _, t := range s.st.Revenue {
		if t.ID == id {
			return t, nil
		}
	}
	return nil, errf(http.StatusNotFound, "revenue transaction %d not found", id)
}

func (s *Server) revenuePayments(r *http.Request) (int, any, error) {
	t, err := s.pathRevenue(r)
	if err != nil {
		return 0, nil, err
	}
	out := []*PaymentTransaction{}
	for _, p := range s.st.Payments {
		if p.RevenueTransaction == t.ID {
			out = append(out, p)
		}
	}
	return http.StatusOK, out, nil
}

// LogRequest is the body of POST /log (assumed: the log object's
// writable fields and the machine by id or hostname).
type LogRequest struct {
	Machine      *int64  `json:"machine"`
	Hostname     string  `json:"hostname"`
	Remote       *int64  `json:"remote"`
	Code         string  `json:"code"`
	Type         int64   `json:"type"`
	OccurredAt   string  `json:"occurredAt"`
	TimeZone     string  `json:"timeZone"`
	Timestamp    *int64  `json:"timestamp"`
	Duration     *int64  `json:"duration"`
	ExtraData    *string `json:"extraData"`
	IsResolvable bool    `json:"isResolvable"`
	ResolvedAt   *string `json:"resolvedAt"`
}

var codeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func (req *LogRequest) check() (time.Time, error) {
	if !codeRE.MatchString(req.Code) {
		return time.Time{}, errf(http.StatusBadRequest, "code %q: 1 to 64 letters, digits, _ . -", req.Code)
	}
	t, err := checkTime(req.OccurredAt, req.TimeZone, req.Timestamp)
	if err != nil {
		return time.Time{}, err
	}
	if req.Duration != nil && *req.Duration < 0 {
		return time.Time{}, errf(http.StatusBadRequest, "duration must not be negative")
	}
	if req.ExtraData != nil && !json.Valid([]byte(*req.ExtraData)) {
		return time.Time{}, errf(http.StatusBadRequest, "extraData must be JSON text (a string holding JSON)")
	}
	if req.ResolvedAt != nil {
		rt, err := time.Parse(time.RFC3339, *req.ResolvedAt)
		switch {
		case !req.IsResolvable:
			return time.Time{}, errf(http.StatusBadRequest, "resolvedAt is set on a log that is not resolvable")
		case err != nil:
			return time.Time{}, errf(http.StatusBadRequest, "resolvedAt %q is not ISO 8601 with an offset", *req.ResolvedAt)
		case rt.Before(t):
			return time.Time{}, errf(http.StatusBadRequest, "resolvedAt is before occurredAt")
		}
	}
	return t, nil
}

func (s *Server) postLog(r *http.Request) (int, any, error) {
	var req LogRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	m, err := s.recordMachine(req.Machine, req.Hostname)
	if err != nil {
		return 0, nil, err
	}
	if req.Remote != nil {
		for _, l := range s.st.Logs {
			if l.Machine == m.ID && l.Remote == *req.Remote {
				return 0, nil, duplicate("log", l.Remote, l.ID)
			}
		}
	}
	t, err := req.check()
	if err != nil {
		return 0, nil, err
	}
	l := &Log{ID: s.st.id(), Machine: m.ID, Location: m.Location, Code: req.Code, Type: req.Type,
		IsResolvable: req.IsResolvable, OccurredAt: req.OccurredAt, TimeZone: req.TimeZone, Duration: req.Duration,
		ExtraData: req.ExtraData, Date: t.Unix(), Timestamp: t.Unix(), ResolvedAt: req.ResolvedAt, CreatedAt: s.stamp()}
	if req.Remote != nil {
		l.Remote = *req.Remote
	}
	s.st.Logs = append(s.st.Logs, l)
	m.LastLog = l.ID
	return http.StatusCreated, map[string]int64{"id": l.ID}, nil
}

func (s *Server) listLogs(r *http.Request) (int, any, error) { return list(r, s.st.Logs, capped) }

func (s *Server) getLog(r *http.Request) (int, any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	for _, l := range s.st.Logs {
		if l.ID == id {
			return http.StatusOK, l, nil
		}
	}
	return 0, nil, errf(http.StatusNotFound, "log %d not found", id)
}

// RevenueTransactions returns copies of the stored sales, for tests.
func (s *Server) RevenueTransactions() []RevenueTransaction {
	return copies(s, func() []*RevenueTransaction { return s.st.Revenue })
}

// PaymentTransactions returns copies of the stored payments, for tests.
func (s *Server) PaymentTransactions() []PaymentTransaction {
	return copies(s, func() []*PaymentTransaction { return s.st.Payments })
}

// Logs returns copies of the stored logs, for tests.
func (s *Server) Logs() []Log { return copies(s, func() []*Log { return s.st.Logs }) }

// copies copies the items that get returns while mu is held.
func copies[T any](s *Server, get func() []*T) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := get()
	out := make([]T, 0, len(items))
	for _, it := range items {
		out = append(out, *it)
	}
	return out
}
