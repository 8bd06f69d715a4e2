package touchtopup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxBalance bounds a balance's magnitude (minor units): far beyond any
// account, small enough that sums of a few of them cannot overflow.
const MaxBalance = 1e15

// Balance is customer_balance's answer.
type Balance struct {
	// Amount is BALANCE in minor units (negative for an overdrawn account).
	Amount int64
	// LastUpdate is LAST_UPDATE read in the companies' zone; zero for
	// "0000-00-00 00:00:00".
	LastUpdate time.Time
}

// Customer is customer_details' answer.
type Customer struct {
	Title, FirstName, LastName, AccountNumber string
}

// Name is the customer's name as a display shows it: TITLE FIRSTNAME LASTNAME.
func (c Customer) Name() string {
	return strings.Join(strings.Fields(c.Title+" "+c.FirstName+" "+c.LastName), " ")
}

// Company is company_details' answer.
type Company struct {
	Name, DB string
}

// flexString is a JSON string that may also come as a number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("%s is neither a string nor a number", clip(string(b)))
	}
	*f = flexString(n.String())
	return nil
}

// DecodeStatus reads an answer's status (1 or 0, as a number or a
// string) and, for 0, its msg.
func DecodeStatus(b []byte) (ok bool, msg string, err error) {
	var v struct {
		Status *flexString `json:"status"`
		Msg    flexString  `json:"msg"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return false, "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if v.Status == nil {
		return false, "", fmt.Errorf("%w: no status", ErrMalformed)
	}
	switch *v.Status {
	case "1":
		return true, "", nil
	case "0":
		m := clip(strings.TrimSpace(string(v.Msg)))
		if m == "" {
			m = "no reason given"
		}
		return false, m, nil
	}
	return false, "", fmt.Errorf("%w: status %q", ErrMalformed, clip(string(*v.Status)))
}

// DecodeBalance parses customer_balance: BALANCE is minor units in a
// string ("610"), LAST_UPDATE "YYYY-MM-DD HH:MM:SS" in zone.
func DecodeBalance(b []byte, zone *time.Location) (Balance, error) {
	var v struct {
		Balance *struct {
			Amount     flexString `json:"BALANCE"`
			LastUpdate flexString `json:"LAST_UPDATE"`
		} `json:"balance"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Balance{}, fmt.Errorf("%w: balance: %w", ErrMalformed, err)
	}
	if v.Balance == nil {
		return Balance{}, fmt.Errorf("%w: no balance", ErrMalformed)
	}
	amt, err := ParseAmount(string(v.Balance.Amount))
	if err != nil {
		return Balance{}, fmt.Errorf("%w: BALANCE: %w", ErrMalformed, err)
	}
	at, err := ParseLocal(string(v.Balance.LastUpdate), zone)
	if err != nil {
		return Balance{}, fmt.Errorf("%w: LAST_UPDATE: %w", ErrMalformed, err)
	}
	return Balance{Amount: amt, LastUpdate: at}, nil
}

// ParseAmount reads integer minor units ("610", "-25"), refusing
// fractions, signs doubled, and anything beyond ±MaxBalance.
func ParseAmount(s string) (int64, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of minor units", clip(s))
	}
	if n > MaxBalance || n < -MaxBalance {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return n, nil
}

// ParseLocal reads "YYYY-MM-DD HH:MM:SS" in zone; the reference's
// "0000-00-00 00:00:00" (never) and "" are the zero time.
func ParseLocal(s string, zone *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0000-00-00 00:00:00" {
		return time.Time{}, nil
	}
	if zone == nil {
		zone = time.UTC
	}
	t, err := time.ParseInLocation(time.DateTime, s, zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not YYYY-MM-DD HH:MM:SS", clip(s))
	}
	return t, nil
}

// DecodeCustomer parses customer_details.
func DecodeCustomer(b []byte) (Customer, error) {
	var v struct {
		Customer *struct {
			Title     flexString `json:"TITLE"`
			FirstName flexString `json:"FIRSTNAME"`
			LastName  flexString `json:"LASTNAME"`
			Account   flexString `json:"ACCOUNTNUMBER"`
		} `json:"customer"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Customer{}, fmt.Errorf("%w: customer: %w", ErrMalformed, err)
	}
	if v.Customer == nil {
		return Customer{}, fmt.Errorf("%w: no customer", ErrMalformed)
	}
	c := v.Customer
	return Customer{Title: clip(string(c.Title)), FirstName: clip(string(c.FirstName)), LastName: clip(string(c.LastName)),
		AccountNumber: clip(string(c.Account))}, nil
}

// DecodeCompany parses company_details.
func DecodeCompany(b []byte) (Company, error) {
	var v struct {
		Name *flexString `json:"name"`
		DB   flexString  `json:"db"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Company{}, fmt.Errorf("%w: company: %w", ErrMalformed, err)
	}
	if v.Name == nil {
		return Company{}, fmt.Errorf("%w: no company name", ErrMalformed)
	}
	return Company{Name: clip(string(*v.Name)), DB: clip(string(v.DB))}, nil
}

// linkKeyRE is a link key: company id and customer id in six digits each,
// then the customer's link code (docs/clouds.md).
var linkKeyRE = regexp.MustCompile(`^([0-9]{6})-([0-9]{6})-([0-9]{1,32})$`)

// ParseLinkKey reads the company and customer ids out of a link key
// "CCCCCC-UUUUUU-NNNNNNNNN"; only validate_accountkey says it is valid.
func ParseLinkKey(key string) (coid, custid int64, err error) {
	m := linkKeyRE.FindStringSubmatch(key)
	if m == nil {
		// Never the key itself: its link code links the account.
		return 0, 0, fmt.Errorf("link key of %d characters is not CCCCCC-UUUUUU-NNNNNNNNN (company, customer, link code)", len(key))
	}
	coid, _ = strconv.ParseInt(m[1], 10, 64)
	custid, _ = strconv.ParseInt(m[2], 10, 64)
	if coid <= 0 || custid <= 0 {
		return 0, 0, fmt.Errorf("link key names company %d, customer %d: both must be > 0", coid, custid)
	}
	return coid, custid, nil
}

// clip bounds text from the peer that ends up in events and errors.
func clip(s string) string {
	if r := []rune(s); len(r) > 120 {
		return string(r[:120]) + "…"
	}
	return s
}
