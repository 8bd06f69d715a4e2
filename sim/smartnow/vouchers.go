package smartnow

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// Voucher and campaign rules, from the reference: types discount and gift
// (a campaign may also be "dynamic"), values in cents, codes unique per
// campaign, at most 5000 vouchers per create, prefixes [a-zA-Z0-9]{1,5},
// time zone default Europe/Amsterdam.
const (
	maxCount      = 5000
	maxItems      = 100
	maxLock       = 24 * time.Hour
	defaultZone   = "Europe/Amsterdam"
	defaultPrefix = "00000"
)

var (
	prefixRE    = regexp.MustCompile(`^[a-zA-Z0-9]{1,5}$`)
	frequencies = []string{"day", "week", "month", "never"}
)

// CampaignRequest is the body of POST /campaign.
type CampaignRequest struct {
	Name            string `json:"name"`
	TotalVouchers   *int64 `json:"totalVouchers"`
	VoucherValue    *int64 `json:"voucherValue"`
	Type            string `json:"type"`
	ValueType       string `json:"valueType"`
	RedemptionLimit int64  `json:"redemptionLimit"`
	ResetFrequency  string `json:"resetFrequency"`
	ExpiresOn       string `json:"expiresOn"`
	TimeZone        string `json:"timeZone"`
	Prefix          string `json:"prefix"`
	Currency        string `json:"currency"`
	VoucherText1    string `json:"voucherText1"`
	VoucherText2    string `json:"voucherText2"`
	VoucherText3    string `json:"voucherText3"`
	VoucherText4    string `json:"voucherText4"`
	VoucherStyle    string `json:"voucherStyle"`
	Status          string `json:"status"`
}

func (s *Server) createCampaign(r *http.Request) (int, any, error) {
	var req CampaignRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	req.Type = orDefault(req.Type, "discount")
	req.Status = orDefault(req.Status, "active")
	req.TimeZone = orDefault(req.TimeZone, defaultZone)
	req.Currency = orDefault(req.Currency, "EUR")
	req.ResetFrequency = orDefault(req.ResetFrequency, "never")
	switch {
	case req.Name == "":
		return 0, nil, errf(http.StatusBadRequest, "name is required")
	case req.TotalVouchers == nil || *req.TotalVouchers < 0:
		return 0, nil, errf(http.StatusBadRequest, "totalVouchers is required and not negative")
	case req.VoucherValue == nil || *req.VoucherValue < 0:
		return 0, nil, errf(http.StatusBadRequest, "voucherValue is required and not negative")
	case !slices.Contains([]string{"discount", "gift", "dynamic"}, req.Type):
		return 0, nil, errf(http.StatusBadRequest, "type %q is not discount, gift or dynamic", req.Type)
	case req.ValueType != "" && req.ValueType != "cents":
		return 0, nil, errf(http.StatusBadRequest, "valueType must be cents")
	case !slices.Contains([]string{"active", "inactive"}, req.Status):
		return 0, nil, errf(http.StatusBadRequest, "status %q is not active or inactive", req.Status)
	case req.Prefix != "" && !prefixRE.MatchString(req.Prefix):
		return 0, nil, errf(http.StatusBadRequest, "prefix %q: 1 to 5 letters or digits", req.Prefix)
	case req.RedemptionLimit < 0:
		return 0, nil, errf(http.StatusBadRequest, "redemptionLimit must not be negative")
	case !currencyRE.MatchString(req.Currency):
		return 0, nil, errf(http.StatusBadRequest, "currency %q is not an ISO 4217 code", req.Currency)
	}
	if err := checkSchedule(req.ResetFrequency, req.ExpiresOn, req.TimeZone); err != nil {
		return 0, nil, err
	}
	now := s.stamp()
	c := &Campaign{ID: s.st.id(), Name: req.Name, TotalVouchers: *req.TotalVouchers, Type: req.Type, ValueType: "cents",
		VoucherValue: *req.VoucherValue, RedemptionLimit: req.RedemptionLimit, ResetFrequency: req.ResetFrequency,
		ExpiresOn: req.ExpiresOn, Currency: req.Currency, TimeZone: req.TimeZone, Status: req.Status, Prefix: req.Prefix,
		CreatedAt: now, UpdatedAt: now}
	s.st.Campaigns = append(s.st.Campaigns, c)
	return http.StatusCreated, map[string]int64{"id": c.ID}, nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func checkSchedule(freq, expiresOn, zone string) error {
	if !slices.Contains(frequencies, freq) {
		return errf(http.StatusBadRequest, "resetFrequency %q is not one of %v", freq, frequencies)
	}
	if _, err := zoneOf(zone); err != nil {
		return err
	}
	if expiresOn != "" {
		if _, err := expiry(expiresOn, zone); err != nil {
			return err
		}
	}
	return nil
}

func zoneOf(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" || name == "" {
		return nil, errf(http.StatusBadRequest, "timeZone %q is not an IANA zone", name)
	}
	return loc, nil
}

// expiry reads expiresOn: an ISO 8601 time with an offset, a local
// "YYYY-MM-DD HH:MM:SS" in the voucher's zone, or a date, which expires
// at the end of that day there.
func expiry(expiresOn, zone string) (time.Time, error) {
	loc, err := zoneOf(zone)
	if err != nil {
		return time.Time{}, err
	}
	if t, err := time.Parse(time.RFC3339, expiresOn); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateTime, expiresOn, loc); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, expiresOn, loc); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return time.Time{}, errf(http.StatusBadRequest, "expiresOn %q is not a date or an ISO 8601 time", expiresOn)
}

func (s *Server) campaignLocked(id int64) (*Campaign, error) {
	for _, c := range s.st.Campaigns {
		if c.ID == id {
			return c, nil
		}
	}
	return nil, errf(http.StatusNotFound, "campaign %d not found", id)
}

func (s *Server) listCampaigns(r *http.Request) (int, any, error) {
	return list(r, s.st.Campaigns, capped)
}

func (s *Server) getCampaign(r *http.Request) (int, any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	c, err := s.campaignLocked(id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

// VoucherRequest is the body of POST /voucher.
type VoucherRequest struct {
	Campaign        *int64 `json:"campaign"`
	Type            string `json:"type"`
	Value           *int64 `json:"value"`
	ValueType       string `json:"valueType"`
	Code            string `json:"code"`
	Prefix          string `json:"prefix"`
	RedemptionLimit int64  `json:"redemptionLimit"`
	ResetFrequency  string `json:"resetFrequency"`
	ExpiresOn       string `json:"expiresOn"`
	TimeZone        string `json:"timeZone"`
	ValidationRules []Rule `json:"validationRules"`
	Count           *int   `json:"count"`
	Text1           string `json:"text1"`
	Text2           string `json:"text2"`
	Text3           string `json:"text3"`
	Text4           string `json:"text4"`
	Style           string `json:"style"`
}

// Rule fields the emulator enforces; the reference names location,
// locationExternalRef and product, and returns product rules to the
// client as validFor.
var ruleFields = []string{"location", "locationExternalRef", "product", "productsRegExp"}

func (req *VoucherRequest) check() error {
	switch {
	case req.Campaign == nil:
		return errf(http.StatusBadRequest, "campaign is required")
	case req.Type != "discount" && req.Type != "gift":
		return errf(http.StatusBadRequest, "type %q is not discount or gift", req.Type)
	case req.Value == nil || *req.Value < 0:
		return errf(http.StatusBadRequest, "value is required and not negative")
	case req.ValueType != "cents":
		return errf(http.StatusBadRequest, "valueType must be cents")
	case !prefixRE.MatchString(req.Prefix):
		return errf(http.StatusBadRequest, "prefix %q: 1 to 5 letters or digits", req.Prefix)
	case req.RedemptionLimit < 0:
		return errf(http.StatusBadRequest, "redemptionLimit must not be negative")
	case *req.Count < 1 || *req.Count > maxCount:
		return errf(http.StatusBadRequest, "count must be 1 to %d", maxCount)
	case *req.Count > 1 && req.Code != "":
		return errf(http.StatusBadRequest, "a custom code names one voucher; count must be 1")
	case len(req.Code) > 64:
		return errf(http.StatusBadRequest, "code is longer than 64 characters")
	}
	for i, rule := range req.ValidationRules {
		if !slices.Contains(ruleFields, rule.Field) {
			return errf(http.StatusBadRequest, "validationRules[%d]: field %q is not one of %v", i, rule.Field, ruleFields)
		}
		if rule.Field == "productsRegExp" {
			if _, err := regexp.Compile(rule.Value); err != nil {
				return errf(http.StatusBadRequest, "validationRules[%d]: %v", i, err)
			}
		}
	}
	return checkSchedule(req.ResetFrequency, req.ExpiresOn, req.TimeZone)
}

func (s *Server) createVoucher(r *http.Request) (int, any, error) {
	var req VoucherRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Count == nil {
		one := 1
		req.Count = &one
	}
	req.ValueType = orDefault(req.ValueType, "cents")
	req.Prefix = orDefault(req.Prefix, defaultPrefix)
	req.ResetFrequency = orDefault(req.ResetFrequency, "never")
	req.TimeZone = orDefault(req.TimeZone, defaultZone)
	if err := req.check(); err != nil {
		return 0, nil, err
	}
	c, err := s.campaignLocked(*req.Campaign)
	if err != nil {
		return 0, nil, err
	}
	codes := map[string]bool{}
	for _, v := range s.st.Vouchers {
		if v.Campaign == c.ID {
			codes[v.Code] = true
		}
	}
	if req.Code != "" && codes[req.Code] {
		return 0, nil, errf(http.StatusConflict, "code %q exists in campaign %d", req.Code, c.ID)
	}
	now := s.stamp()
	var made []*Voucher
	for range *req.Count {
		code := req.Code
		for code == "" || codes[code] {
			code = req.Prefix + "-" + strings.ToUpper(cloudemu.RandomHex(4))
		}
		codes[code] = true
		made = append(made, &Voucher{ID: cloudemu.RandomHex(12), Code: code, Campaign: c.ID, Type: req.Type,
			Value: *req.Value, ValueType: "cents", Currency: c.Currency, InitialValue: *req.Value,
			RedemptionLimit: req.RedemptionLimit, Prefix: req.Prefix, ResetFrequency: req.ResetFrequency,
			LastResetAt: now, ExpiresOn: req.ExpiresOn, TimeZone: req.TimeZone, Status: "active",
			CreatedAt: now, UpdatedAt: now, Balance: *req.Value, Rules: orNone(req.ValidationRules)})
	}
	s.st.Vouchers = append(s.st.Vouchers, made...)
	if len(made) > 1 {
		return http.StatusCreated, nil, nil
	}
	return http.StatusCreated, made[0], nil
}

func (s *Server) listVouchers(r *http.Request) (int, any, error) {
	for _, v := range s.st.Vouchers {
		s.resetIfDue(v)
	}
	return list(r, s.st.Vouchers, capped)
}

func (s *Server) pathVoucher(r *http.Request) (*Voucher, error) {
	id := r.PathValue("id")
	for _, v := range s.st.Vouchers {
		if v.ID == id {
			s.resetIfDue(v)
			return v, nil
		}
	}
	return nil, errf(http.StatusNotFound, "voucher %q not found", id)
}

func (s *Server) getVoucher(r *http.Request) (int, any, error) {
	v, err := s.pathVoucher(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (s *Server) voucherLogs(r *http.Request) (int, any, error) {
	v, err := s.pathVoucher(r)
	if err != nil {
		return 0, nil, err
	}
	out := []*VoucherAction{}
	for _, a := range s.st.Actions {
		if a.Voucher == v.ID {
			out = append(out, a)
		}
	}
	return http.StatusOK, out, nil
}

// resetIfDue resets a voucher's period counters (and a gift's value) once
// its resetFrequency period has turned, in the voucher's time zone.
func (s *Server) resetIfDue(v *Voucher) {
	loc, err := time.LoadLocation(v.TimeZone)
	if err != nil || v.ResetFrequency == "never" || v.ResetFrequency == "" {
		return
	}
	now := s.o.Now().In(loc)
	y, mo, d := now.Date()
	start := time.Date(y, mo, d, 0, 0, 0, 0, loc)
	switch v.ResetFrequency {
	case "week":
		start = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7)) // Monday
	case "month":
		start = time.Date(y, mo, 1, 0, 0, 0, 0, loc)
	}
	last, err := time.Parse(time.RFC3339, v.LastResetAt)
	if err == nil && !last.Before(start) {
		return
	}
	v.RedemptionCount, v.AmountRedeemed, v.LastResetAt = 0, 0, s.stamp()
	if v.Type == "gift" {
		v.Value, v.Balance = v.InitialValue, v.InitialValue
	}
}

type demand struct {
	Amount *int64 `json:"amount"`
}

// ValidateRequest is the body of POST /voucher/{code}/validate.
type ValidateRequest struct {
	DeviceID     string   `json:"deviceId"`
	LockDuration *float64 `json:"lockDuration"`
	Demand       *demand  `json:"demand"`
}

type discountBody struct {
	Type      string `json:"type"`
	AmountOff int64  `json:"amountOff"`
}

type validFor struct {
	Products       map[string]bool `json:"products"`
	ProductsRegExp string          `json:"productsRegExp"`
}

type validateReply struct {
	Code         string       `json:"code"`
	CampaignType string       `json:"campaignType"`
	VoucherID    string       `json:"voucherId"`
	Valid        bool         `json:"valid"`
	Reason       string       `json:"reason,omitempty"`
	VoucherValue int64        `json:"voucherValue"`
	Discount     discountBody `json:"discount"`
	ValidFor     validFor     `json:"validFor"`
}

// findByCode picks the voucher a code names: codes are unique per
// campaign only, so a usable one is preferred over an expired or
// inactive one of the same code.
func (s *Server) findByCode(code string) (*Voucher, error) {
	var found *Voucher
	for _, v := range s.st.Vouchers {
		if v.Code != code {
			continue
		}
		s.resetIfDue(v)
		if found == nil || (s.refusal(v, "") == "" && s.refusal(found, "") != "") {
			found = v
		}
	}
	if found == nil {
		return nil, errf(http.StatusNotFound, "voucher %q not found", code)
	}
	return found, nil
}

// refusal says why v cannot be used by device now, or "".
func (s *Server) refusal(v *Voucher, device string) string {
	now := s.o.Now()
	c, _ := s.campaignLocked(v.Campaign)
	switch {
	case v.Status != "active" || (c != nil && c.Status != "active"):
		return "voucher is not active"
	case v.ExpiresOn != "" && !now.Before(mustExpiry(v.ExpiresOn, v.TimeZone)):
		return "voucher expired"
	case c != nil && c.ExpiresOn != "" && !now.Before(mustExpiry(c.ExpiresOn, c.TimeZone)):
		return "campaign expired"
	case v.RedemptionLimit > 0 && v.RedemptionCount >= v.RedemptionLimit:
		return "redemption limit reached"
	case v.Type == "gift" && v.Balance <= 0:
		return "no balance left"
	case device != "" && v.LockOwner != "" && v.LockOwner != device && s.lockedNow(v):
		return "voucher is locked by another device"
	}
	if device != "" {
		return s.locationRefusal(v, device)
	}
	return ""
}

func mustExpiry(expiresOn, zone string) time.Time {
	t, err := expiry(expiresOn, zone)
	if err != nil {
		return time.Time{} // checked at creation; an unreadable one is expired
	}
	return t
}

func (s *Server) lockedNow(v *Voucher) bool {
	till, err := time.Parse(time.RFC3339Nano, v.LockedTill)
	return err == nil && s.o.Now().Before(till)
}

// locationRefusal applies the location rules to the device, which is
// known by its machine's hostname or id.
func (s *Server) locationRefusal(v *Voucher, device string) string {
	var want []string
	for _, r := range v.Rules {
		if r.Field == "location" || r.Field == "locationExternalRef" {
			want = append(want, r.Value)
		}
	}
	if len(want) == 0 {
		return ""
	}
	m, err := s.machineByHostname(device)
	if err != nil {
		if id, perr := strconv.ParseInt(device, 10, 64); perr == nil {
			m, err = s.machineLocked(id)
		}
	}
	if err != nil || !slices.Contains(want, strconv.FormatInt(m.Location, 10)) {
		return "voucher is not valid at this location"
	}
	return ""
}

func (v *Voucher) validFor() validFor {
	vf := validFor{Products: map[string]bool{}}
	for _, r := range v.Rules {
		switch r.Field {
		case "product":
			vf.Products[r.Value] = true
		case "productsRegExp":
			vf.ProductsRegExp = r.Value
		}
	}
	return vf
}

// allows reports whether the product rules admit productID: no rules
// admit every product; a PLU list or a regular expression admit what
// they match.
func (vf validFor) allows(productID string) bool {
	if len(vf.Products) == 0 && vf.ProductsRegExp == "" {
		return true
	}
	if vf.Products[productID] {
		return true
	}
	if vf.ProductsRegExp != "" {
		re, err := regexp.Compile(vf.ProductsRegExp)
		return err == nil && re.MatchString(productID)
	}
	return false
}

func (s *Server) campaignType(v *Voucher) string {
	if c, err := s.campaignLocked(v.Campaign); err == nil {
		return c.Type
	}
	return v.Type
}

func (s *Server) validate(r *http.Request) (int, any, error) {
	var req ValidateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.DeviceID == "" {
		return 0, nil, errf(http.StatusBadRequest, "deviceId is required")
	}
	if req.LockDuration != nil && (*req.LockDuration < 0 || *req.LockDuration > maxLock.Seconds()) {
		return 0, nil, errf(http.StatusBadRequest, "lockDuration must be 0 to %.0f seconds", maxLock.Seconds())
	}
	if req.Demand != nil && (req.Demand.Amount == nil || *req.Demand.Amount < 0) {
		return 0, nil, errf(http.StatusBadRequest, "demand.amount is required and not negative")
	}
	v, err := s.findByCode(r.PathValue("code"))
	if err != nil {
		return 0, nil, err
	}
	rep := validateReply{Code: v.Code, CampaignType: s.campaignType(v), VoucherID: v.ID, VoucherValue: v.Value,
		Discount: discountBody{Type: "cents", AmountOff: v.Value}, ValidFor: v.validFor()}
	if v.Type == "gift" {
		rep.VoucherValue, rep.Discount.AmountOff = v.Balance, v.Balance
		if req.Demand != nil {
			rep.Discount.AmountOff = min(*req.Demand.Amount, v.Balance)
		}
	}
	rep.Reason = s.refusal(v, req.DeviceID)
	rep.Valid = rep.Reason == ""
	if rep.Valid && req.LockDuration != nil && *req.LockDuration > 0 {
		v.LockOwner = req.DeviceID
		v.LockedTill = s.o.Now().Add(time.Duration(*req.LockDuration * float64(time.Second))).UTC().Format(time.RFC3339Nano)
		v.UpdatedAt = s.stamp()
	}
	s.logAction(v, req.DeviceID, "validate", rep.Valid, &req, &rep)
	if !rep.Valid && s.o.RefusalsAsErrors {
		return 0, nil, errf(http.StatusBadRequest, "%s", rep.Reason)
	}
	return http.StatusOK, rep, nil
}

type orderItem struct {
	ProductID string `json:"productId"`
	Quantity  int64  `json:"quantity"`
	Price     int64  `json:"price"`
}

type order struct {
	ID     string      `json:"id"`
	Amount *int64      `json:"amount"`
	Items  []orderItem `json:"items"`
}

// RedeemRequest is the body of POST /voucher/{code}/redeem.
type RedeemRequest struct {
	DeviceID string  `json:"deviceId"`
	Order    *order  `json:"order"`
	Demand   *demand `json:"demand"`
}

type redeemReply struct {
	Code         string       `json:"code"`
	CampaignType string       `json:"campaignType"`
	VoucherID    string       `json:"voucherId"`
	Redeemed     bool         `json:"redeemed"`
	Reason       string       `json:"reason"`
	Discount     discountBody `json:"discount"`
	VoucherValue int64        `json:"voucherValue"`
}

func (req *RedeemRequest) check() error {
	o := req.Order
	switch {
	case req.DeviceID == "":
		return errf(http.StatusBadRequest, "deviceId is required")
	case o == nil:
		return errf(http.StatusBadRequest, "order is required")
	case o.ID == "":
		return errf(http.StatusBadRequest, "order.id is required")
	case o.Amount == nil || *o.Amount < 0:
		return errf(http.StatusBadRequest, "order.amount is required and not negative")
	case len(o.Items) == 0 || len(o.Items) > maxItems:
		return errf(http.StatusBadRequest, "order.items: 1 to %d are required", maxItems)
	case req.Demand != nil && (req.Demand.Amount == nil || *req.Demand.Amount <= 0):
		return errf(http.StatusBadRequest, "demand.amount must be positive")
	}
	for i, it := range o.Items {
		if it.ProductID == "" || it.Quantity <= 0 || it.Price < 0 {
			return errf(http.StatusBadRequest, "order.items[%d]: productId, a positive quantity and a price not negative are required", i)
		}
	}
	return nil
}

func (s *Server) redeem(r *http.Request) (int, any, error) {
	var req RedeemRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := req.check(); err != nil {
		return 0, nil, err
	}
	v, err := s.findByCode(r.PathValue("code"))
	if err != nil {
		return 0, nil, err
	}
	if !s.o.NoRedeemDedup {
		for _, red := range s.st.Redemptions {
			if red.Voucher == v.ID && red.Device == req.DeviceID && red.Order == req.Order.ID {
				return http.StatusOK, red.Reply, nil
			}
		}
	}
	if v.Type == "gift" && req.Demand == nil {
		return 0, nil, errf(http.StatusBadRequest, "demand is mandatory for a gift voucher")
	}
	rep := redeemReply{Code: v.Code, CampaignType: s.campaignType(v), VoucherID: v.ID,
		Discount: discountBody{Type: "cents"}, VoucherValue: v.Value}
	rep.Reason = s.refusal(v, req.DeviceID)
	vf := v.validFor()
	for _, it := range req.Order.Items {
		if rep.Reason == "" && !vf.allows(it.ProductID) {
			rep.Reason = fmt.Sprintf("voucher is not valid for product %s", it.ProductID)
		}
	}
	if rep.Reason == "" && v.Type == "gift" && *req.Demand.Amount > v.Balance {
		rep.Reason = fmt.Sprintf("demand %d exceeds the balance %d", *req.Demand.Amount, v.Balance)
	}
	if rep.Reason == "" {
		s.apply(v, &req, &rep)
	}
	if v.Type == "gift" {
		rep.VoucherValue = v.Balance
	}
	s.logAction(v, req.DeviceID, "redeem", rep.Redeemed, &req, &rep)
	if !rep.Redeemed && s.o.RefusalsAsErrors {
		return 0, nil, errf(http.StatusBadRequest, "%s", rep.Reason)
	}
	return http.StatusOK, rep, nil
}

// apply books a redemption on the voucher and releases its lock.
func (s *Server) apply(v *Voucher, req *RedeemRequest, rep *redeemReply) {
	off := min(v.Value, *req.Order.Amount)
	if v.Type == "gift" {
		off = *req.Demand.Amount
		v.Balance -= off
		v.Value = v.Balance
	}
	rep.Redeemed, rep.Discount.AmountOff = true, off
	v.RedemptionCount++
	v.TotalRedemptionCount++
	v.AmountRedeemed += off
	v.TotalAmountRedeemed += off
	v.LastRedemptionAt = s.stamp()
	v.LastRedemptionLocation = req.DeviceID
	v.LockOwner, v.LockedTill, v.UpdatedAt = "", "", s.stamp()
	s.st.Redemptions = append(s.st.Redemptions, redemption{Voucher: v.ID, Device: req.DeviceID, Order: req.Order.ID, Reply: *rep})
}

// maxActions bounds the kept voucher actions; the oldest go first.
const maxActions = 10000

func (s *Server) logAction(v *Voucher, device, action string, ok bool, req, rep any) {
	reqText, _ := json.Marshal(req)
	repText, _ := json.Marshal(rep)
	now := s.stamp()
	s.st.Actions = append(s.st.Actions, &VoucherAction{ID: s.st.id(), Voucher: v.ID, Requester: device, Action: action,
		Success: b2i(ok), Request: string(reqText), Response: string(repText), Currency: v.Currency, CreatedAt: now, UpdatedAt: now})
	if n := len(s.st.Actions); n > maxActions {
		s.st.Actions = slices.Delete(s.st.Actions, 0, n-maxActions)
	}
}

// Vouchers returns copies of every voucher, for tests.
func (s *Server) Vouchers() []Voucher { return copies(s, func() []*Voucher { return s.st.Vouchers }) }
