package touchtopup

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// Company is a TouchTopUp company (a site or an operator) with its
// customer accounts.
type Company struct {
	ID        int64               `json:"id"`
	Name      string              `json:"name"`
	DB        string              `json:"db"`
	Customers map[int64]*Customer `json:"customers"`
}

// Customer is a customer account: who it is, its balance in minor units
// and its history.
type Customer struct {
	ID            int64         `json:"id"`
	Title         string        `json:"title"`
	FirstName     string        `json:"firstName"`
	LastName      string        `json:"lastName"`
	AccountNumber string        `json:"accountNumber"`
	Balance       int64         `json:"balance"`
	LastUpdate    int64         `json:"lastUpdate"` // epoch seconds
	LinkCode      string        `json:"linkCode"`   // the third part of the link key
	Payments      []Payment     `json:"payments"`
	Transactions  []Transaction `json:"transactions"`
}

// Payment is a top-up of an account.
type Payment struct {
	ID            int64  `json:"id"`
	Adjustment    int64  `json:"adjustment"`
	SentToPOS     int64  `json:"sentToPos"`
	Received      int64  `json:"received"`
	PaymentSource int    `json:"paymentSource"`
	TransactionID string `json:"transactionId"`
}

// Item is one line of a till sale.
type Item struct {
	Qty  int64  `json:"qty"`
	Text string `json:"text"`
}

// Transaction is a till sale (or adjustment) booked on an account.
type Transaction struct {
	HeaderID     int64  `json:"headerId"`
	Site         int64  `json:"site"`
	At           int64  `json:"at"`
	SaleTotal    int64  `json:"saleTotal"`
	AccountAdj   int64  `json:"accountAdj"`
	ConsecNumber int64  `json:"consecNumber"`
	SaleID       int64  `json:"saleId"`
	Balance      int64  `json:"balance"`
	Items        []Item `json:"items"`
}

// User is a TouchTopUp user (a parent, an employee) linked to accounts.
type User struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	FirstName string    `json:"firstname"`
	Surname   string    `json:"surname"`
	Address   [4]string `json:"address"`
	Postcode  string    `json:"postcode"`
	Tel       string    `json:"tel"`
	Email     string    `json:"email"`
	Password  string    `json:"password"`
	ResetCode string    `json:"resetCode"`
	Links     []link    `json:"links"`
}

type link struct {
	Company  int64 `json:"coid"`
	Customer int64 `json:"custid"`
}

type pending struct {
	Company  int64 `json:"coid"`
	Customer int64 `json:"custid"`
	Amount   int64 `json:"amount"`
	Type     int   `json:"pmtType"`
	Recorded int64 `json:"recorded"` // payment id once recorded
}

type state struct {
	Companies map[int64]*Company `json:"companies"`
	Users     map[int64]*User    `json:"users"`
	Pending   map[string]pending `json:"pending"`
	NextID    int64              `json:"nextId"`
}

func (st *state) id() int64 {
	st.NextID++
	return st.NextID
}

// bounds of the emulator: history lengths and amounts.
const (
	maxHistory = 10000
	maxPending = 10000
	maxAmount  = int64(1e11) // minor units
)

func (s *Server) addCompanyLocked(c Company) error {
	if c.ID <= 0 || c.ID > 999999 {
		return fmt.Errorf("company id %d: 1 to 999999 (six digits in a link key)", c.ID)
	}
	if _, dup := s.st.Companies[c.ID]; dup {
		return fmt.Errorf("company %d exists", c.ID)
	}
	cc := c
	cc.Customers = map[int64]*Customer{}
	s.st.Companies[c.ID] = &cc
	for _, cu := range c.Customers {
		if err := s.addCustomerLocked(c.ID, *cu); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) addCustomerLocked(coid int64, cu Customer) error {
	co, ok := s.st.Companies[coid]
	if !ok {
		return fmt.Errorf("no company %d", coid)
	}
	if cu.ID <= 0 || cu.ID > 999999 {
		return fmt.Errorf("customer id %d: 1 to 999999", cu.ID)
	}
	if cu.LinkCode == "" {
		n, _ := rand.Int(rand.Reader, big.NewInt(1e9))
		cu.LinkCode = fmt.Sprintf("%09d", n.Int64())
	}
	if cu.LastUpdate == 0 {
		cu.LastUpdate = s.o.Now().Unix()
	}
	c := cu
	co.Customers[cu.ID] = &c
	return nil
}

// AddCompany adds a company (and its customers), for tests.
func (s *Server) AddCompany(c Company) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.core.Changed()
	return s.addCompanyLocked(c)
}

// AddCustomer adds a customer account and returns its link key.
func (s *Server) AddCustomer(coid int64, c Customer) (linkKey string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.core.Changed()
	if err := s.addCustomerLocked(coid, c); err != nil {
		return "", err
	}
	return linkKeyOf(coid, s.st.Companies[coid].Customers[c.ID]), nil
}

func linkKeyOf(coid int64, c *Customer) string {
	return fmt.Sprintf("%06d-%06d-%s", coid, c.ID, c.LinkCode)
}

// LinkKey returns a customer's link key.
func (s *Server) LinkKey(coid, custid int64) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.customer(coid, custid)
	if err != nil {
		return "", false
	}
	return linkKeyOf(coid, c), true
}

// SetBalance sets an account's balance (minor units) as the operator's
// back office would, and stamps LAST_UPDATE.
func (s *Server) SetBalance(coid, custid, balance int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.core.Changed()
	c, err := s.customer(coid, custid)
	if err != nil {
		return err
	}
	c.Balance, c.LastUpdate = balance, s.o.Now().Unix()
	return nil
}

// Balance returns an account's balance in minor units.
func (s *Server) Balance(coid, custid int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.customer(coid, custid)
	if err != nil {
		return 0, err
	}
	return c.Balance, nil
}

// ErrSaleBooked is RecordSale's refusal of a consecutive number the
// account has booked: a till resending a sale.
var ErrSaleBooked = errors.New("sale booked already")

// Sale is a till sale on an account, as the POS sends it.
type Sale struct {
	Total        int64 // minor units, debited
	ConsecNumber int64 // the till's consecutive number
	Site         int64
	Items        []Item
	At           time.Time
}

// RecordSale books a till sale on an account, as the POS (the Dirmeier
// cash-register side, with the account's customer id) does: the API has
// no debit call. A sale over the balance is refused; so is a consecutive
// number already booked on that account, which a resending till would
// otherwise book twice.
func (s *Server) RecordSale(coid, custid int64, sale Sale) (headerID int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.customer(coid, custid)
	if err != nil {
		return 0, err
	}
	switch {
	case sale.Total <= 0 || sale.Total > maxAmount:
		return 0, fmt.Errorf("sale total %d out of range", sale.Total)
	case sale.Total > c.Balance:
		return 0, fmt.Errorf("sale total %d exceeds the balance %d", sale.Total, c.Balance)
	case sale.ConsecNumber > 0 && slices.ContainsFunc(c.Transactions, func(t Transaction) bool { return t.ConsecNumber == sale.ConsecNumber }):
		return 0, fmt.Errorf("%w: consecutive number %d is booked already", ErrSaleBooked, sale.ConsecNumber)
	}
	at := sale.At
	if at.IsZero() {
		at = s.o.Now()
	}
	c.Balance -= sale.Total
	c.LastUpdate = at.Unix()
	t := Transaction{HeaderID: s.st.id(), Site: sale.Site, At: at.Unix(), SaleTotal: sale.Total, AccountAdj: -sale.Total,
		ConsecNumber: sale.ConsecNumber, SaleID: 1000000 + sale.ConsecNumber, Balance: c.Balance, Items: sale.Items}
	c.Transactions = keepLast(append(c.Transactions, t))
	s.core.Changed()
	return t.HeaderID, nil
}

func keepLast[T any](v []T) []T {
	if len(v) > maxHistory {
		return slices.Delete(v, 0, len(v)-maxHistory)
	}
	return v
}

func (s *Server) customer(coid, custid int64) (*Customer, error) {
	co, ok := s.st.Companies[coid]
	if !ok {
		return nil, noData()
	}
	c, ok := co.Customers[custid]
	if !ok {
		return nil, noData()
	}
	return c, nil
}

func (s *Server) pathCustomer(p params) (*Customer, error) {
	coid, err := p.id("coid")
	if err != nil {
		return nil, err
	}
	custid, err := p.id("custid")
	if err != nil {
		return nil, err
	}
	return s.customer(coid, custid)
}

// local renders a time as the reference does: "YYYY-MM-DD HH:MM:SS" in
// the company's zone.
func (s *Server) local(epoch int64) string {
	if epoch == 0 {
		return "0000-00-00 00:00:00"
	}
	return time.Unix(epoch, 0).In(s.o.Zone).Format(time.DateTime)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) authUser(p params) (map[string]any, error) {
	for _, u := range s.sortedUsers() {
		if strings.EqualFold(u.Email, p["username"]) && u.Password == p["password"] {
			companies := map[string]any{}
			for _, l := range u.Links {
				key := itoa(l.Company)
				entry, _ := companies[key].(map[string]any)
				if entry == nil {
					entry = map[string]any{"company_id": key, "customers": []string{}}
				}
				entry["customers"] = append(entry["customers"].([]string), itoa(l.Customer))
				companies[key] = entry
			}
			return map[string]any{"auth": "true", "userid": itoa(u.ID), "companies": companies}, nil
		}
	}
	return nil, &refusal{msg: fmt.Sprintf("Could not login user with username %s using password supplied", p["username"]),
		http: 401, extras: map[string]any{"auth": "false"}}
}

func (s *Server) sortedUsers() []*User {
	out := make([]*User, 0, len(s.st.Users))
	for _, u := range s.st.Users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *User) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (s *Server) companyDetails(p params) (map[string]any, error) {
	id, err := p.id("cid")
	if err != nil {
		return nil, err
	}
	co, ok := s.st.Companies[id]
	if !ok {
		return nil, noData()
	}
	return map[string]any{"name": co.Name, "db": co.DB}, nil
}

func (s *Server) customerDetails(p params) (map[string]any, error) {
	c, err := s.pathCustomer(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"customer": map[string]string{"TITLE": c.Title, "FIRSTNAME": c.FirstName,
		"LASTNAME": c.LastName, "ACCOUNTNUMBER": c.AccountNumber}}, nil
}

func (s *Server) customerBalance(p params) (map[string]any, error) {
	c, err := s.pathCustomer(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"balance": map[string]string{"BALANCE": itoa(c.Balance), "LAST_UPDATE": s.local(c.LastUpdate)}}, nil
}

// paymentHistory lists top-ups, newest first as the reference's sample.
func (s *Server) paymentHistory(p params) (map[string]any, error) {
	c, err := s.pathCustomer(p)
	if err != nil {
		return nil, err
	}
	if len(c.Payments) == 0 {
		return nil, noData()
	}
	out := []map[string]string{}
	for i := len(c.Payments) - 1; i >= 0; i-- {
		pm := c.Payments[i]
		out = append(out, map[string]string{"ADJUSTMENT": itoa(pm.Adjustment), "SENTTOPOS": s.local(pm.SentToPOS),
			"RECIEVED": s.local(pm.Received), "PAYMENTSOURCE": strconv.Itoa(pm.PaymentSource), "TRANSACTIONID": pm.TransactionID})
	}
	return map[string]any{"payments": out}, nil
}

// transactionHistory lists till transactions, newest first.
func (s *Server) transactionHistory(p params) (map[string]any, error) {
	c, err := s.pathCustomer(p)
	if err != nil {
		return nil, err
	}
	if len(c.Transactions) == 0 {
		return nil, noData()
	}
	out := []map[string]string{}
	for i := len(c.Transactions) - 1; i >= 0; i-- {
		t := c.Transactions[i]
		local := time.Unix(t.At, 0).In(s.o.Zone)
		out = append(out, map[string]string{"HEADERID": itoa(t.HeaderID), "SITE": itoa(t.Site),
			"DATE": local.Format(time.DateOnly), "TIME": local.Format(time.TimeOnly), "SALETOTAL": itoa(t.SaleTotal),
			"ACCOUNTADJ": itoa(t.AccountAdj), "CONSECNUMBER": itoa(t.ConsecNumber), "SALEID": itoa(t.SaleID),
			"BALANCE": itoa(t.Balance)})
	}
	return map[string]any{"transactions": out}, nil
}

// transactionDetail shows one transaction with its items; DATE and TIME
// are DDMMYYYY and HHMM here, as the reference's sample shows.
func (s *Server) transactionDetail(p params) (map[string]any, error) {
	tid, err := p.id("tid")
	if err != nil {
		return nil, err
	}
	coid, err := p.id("coid")
	if err != nil {
		return nil, err
	}
	co, ok := s.st.Companies[coid]
	if !ok {
		return nil, noData()
	}
	for _, c := range co.Customers {
		for _, t := range c.Transactions {
			if t.HeaderID != tid {
				continue
			}
			local := time.Unix(t.At, 0).In(s.o.Zone)
			items := []map[string]string{}
			for i := len(t.Items) - 1; i >= 0; i-- {
				items = append(items, map[string]string{"ITEMRECORD": strconv.Itoa(i + 1), "QTY": itoa(t.Items[i].Qty), "TEXT": t.Items[i].Text})
			}
			return map[string]any{"transaction": map[string]any{"HEADERID": itoa(t.HeaderID), "SITE": itoa(t.Site),
				"DATE": local.Format("02012006"), "TIME": local.Format("1504"), "SALETOTAL": itoa(t.SaleTotal),
				"CONSECNUMBER": itoa(t.ConsecNumber), "SALEID": itoa(t.SaleID), "BALANCE": itoa(t.Balance), "items": items}}, nil
		}
	}
	return nil, noData()
}

var amountRE = regexp.MustCompile(`^([0-9]{1,9})(?:\.([0-9]{2}))?$`)

// majorToMinor reads make_payment's amt ("5.00") into minor units.
func majorToMinor(v string) (int64, error) {
	m := amountRE.FindStringSubmatch(v)
	if m == nil {
		return 0, refuse("amt must be an amount such as 5.00")
	}
	major, _ := strconv.ParseInt(m[1], 10, 64)
	minor := int64(0)
	if m[2] != "" {
		minor, _ = strconv.ParseInt(m[2], 10, 64)
	}
	n := major*100 + minor // at most 10^11: no overflow
	if n <= 0 || n > maxAmount {
		return 0, refuse("amt must be more than 0.00")
	}
	return n, nil
}

// makePayment starts a top-up and answers the processor's token (in
// PayPal's Express Checkout form).
func (s *Server) makePayment(p params) (map[string]any, error) {
	c, err := s.pathCustomer(p)
	if err != nil {
		return nil, err
	}
	typ, err := strconv.Atoi(p["pmtType"])
	if err != nil || typ < 1 || typ > 9 {
		return nil, refuse("pmtType must be a payment processor number (1 PayPal)")
	}
	amount, err := majorToMinor(p["amt"])
	if err != nil {
		return nil, err
	}
	if len(s.st.Pending) >= maxPending {
		return nil, refuse("Too many payments pending")
	}
	coid, _ := p.id("coid")
	tok := "EC-" + strings.ToUpper(cloudemu.RandomHex(9))[:17]
	s.st.Pending[tok] = pending{Company: coid, Customer: c.ID, Amount: amount, Type: typ}
	return map[string]any{"response": tok}, nil
}

// recordPayment finalises a top-up and credits the account. Recording
// the same token twice answers the first payment id and credits nothing.
func (s *Server) recordPayment(p params) (map[string]any, error) {
	pd, ok := s.st.Pending[p["token"]]
	if !ok || strconv.Itoa(pd.Type) != p["pmtType"] {
		return nil, refuse("Unknown payment token")
	}
	if pd.Recorded != 0 {
		return map[string]any{"payment_id": pd.Recorded}, nil
	}
	c, err := s.customer(pd.Company, pd.Customer)
	if err != nil {
		return nil, err
	}
	now := s.o.Now().Unix()
	pm := Payment{ID: s.st.id(), Adjustment: pd.Amount, SentToPOS: now, Received: now, PaymentSource: pd.Type,
		TransactionID: strings.ToUpper(cloudemu.RandomHex(8))}
	c.Payments = keepLast(append(c.Payments, pm))
	c.Balance = min(c.Balance+pd.Amount, maxAmount*10)
	c.LastUpdate = now
	pd.Recorded = pm.ID
	s.st.Pending[p["token"]] = pd
	return map[string]any{"payment_id": pm.ID}, nil
}

var linkKeyRE = regexp.MustCompile(`^([0-9]{6})-([0-9]{6})-([0-9]{1,20})$`)

// keyCustomer resolves a link key to its account.
func (s *Server) keyCustomer(key string) (coid int64, c *Customer, err error) {
	m := linkKeyRE.FindStringSubmatch(key)
	if m == nil {
		return 0, nil, refuse("linkkey is not valid")
	}
	coid, _ = strconv.ParseInt(m[1], 10, 64)
	custid, _ := strconv.ParseInt(m[2], 10, 64)
	c, err = s.customer(coid, custid)
	if err != nil || c.LinkCode != m[3] {
		return 0, nil, refuse("linkkey is not valid")
	}
	return coid, c, nil
}

func (s *Server) validateKey(p params) (map[string]any, error) {
	if _, _, err := s.keyCustomer(p["linkkey"]); err != nil {
		return nil, err
	}
	return map[string]any{"msg": "linkkey is valid"}, nil
}
