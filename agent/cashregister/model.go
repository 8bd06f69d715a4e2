// Package cashregister is the cash-register interface (Dirmeier REST API for Cash
// Interface 1.0): a register posts credits that let a waiter pour given
// PLUs and counts, and collects a debit for every waiter pour. State lives
// in the agent's bbolt file; a waiter's pour reserves one count from a
// credit before the valve opens, and the debit (or the count given back)
// is committed in the same transaction as the pour's record.
package cashregister

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tapagent/tapagent/flow"
)

// Num is a JSON number that registers also send as a numeric string
// (the spec's own example has "CustomerID": "5").
type Num int64

// UnmarshalJSON accepts 5, 5.0 and "5".
func (n *Num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Num(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) {
		return fmt.Errorf("%s is not a whole number", b)
	}
	if math.Abs(f) > 1<<53 { // beyond it a float names no single integer
		return fmt.Errorf("%s is out of range", b)
	}
	*n = Num(int64(f))
	return nil
}

// Credit authorises a waiter to pour Count portions of PLU.
type Credit struct {
	ID          Num    `json:"ID"`
	Waiter      Num    `json:"Waiter"`
	PLU         Num    `json:"PLU"`
	Count       Num    `json:"Count"`
	Table       Num    `json:"Table,omitempty"`
	Place       Num    `json:"Place,omitempty"`
	ArticleName string `json:"ArticleName,omitempty"`
	StationID   Num    `json:"StationID,omitempty"`
	CustomerID  Num    `json:"CustomerID,omitempty"`
}

// CreditList is the list form of credits.
type CreditList struct {
	Credits []Credit `json:"Credits"`
}

// Debit is one waiter pour for the register to collect. Price is the
// article's price and Amount the money of this pour, both in minor units.
// A pour paid from a TouchTopUp account is a debit too, with no waiter:
// CustomerID (the Credit schema's field, carried over to the debit) names
// the account the till books it on, CompanyID (tapagent's extension; the
// Dirmeier schema has no company) its company.
type Debit struct {
	ID          Num    `json:"ID"`
	Waiter      Num    `json:"Waiter"`
	PLU         Num    `json:"PLU"`
	Place       Num    `json:"Place"`
	Table       Num    `json:"Table"`
	Price       Num    `json:"Price"`
	Articlename string `json:"Articlename"`
	Amount      Num    `json:"Amount"`
	Count       Num    `json:"Count"`
	CustomerID  Num    `json:"CustomerID,omitempty"`
	CompanyID   Num    `json:"CompanyID,omitempty"`
}

// DebitList is the list form of debits.
type DebitList struct {
	Debits []Debit `json:"Debits"`
}

// Article is what one PLU pours: which line, how much, at what price.
type Article struct {
	PLU     int
	Line    int
	Name    string
	Portion flow.Vol
	Price   int64
}

// Reservation is one count taken from a credit for a pour under way.
type Reservation struct {
	ID       string   `json:"id"`
	CreditID int64    `json:"credit_id"`
	Waiter   int64    `json:"waiter"`
	PLU      int      `json:"plu"`
	Table    int64    `json:"table"`
	Place    int64    `json:"place"`
	Article  string   `json:"article"`
	Portion  flow.Vol `json:"portion_ml10"`
	Price    int64    `json:"price"`
}

// stored is a credit with its bookkeeping.
type stored struct {
	Credit
	Filled bool `json:"filled"`
	// Granted is the count as filled; Count is what is left of it.
	Granted Num `json:"granted,omitempty"`
	// Last is the last body applied, so that a repeated PUT is a no-op.
	Last *Credit `json:"last,omitempty"`
}

// Key layout in the one "pos" bucket: one bucket keeps every change a
// single transaction.
func key(kind string, id int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(kind), uint64(id))
}

const (
	kCredit   = "c/"
	kDebit    = "d/"
	kGoneC    = "gc/" // tombstones: deleted ids answer 200 to a repeated DELETE
	kGoneD    = "gd/"
	kReserved = "r/"
	kLastID   = "m/last"
)

func decode[T any](b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}
