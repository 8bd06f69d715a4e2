package ttg

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// Reference keys of a card-purchase record.
const (
	RefPurchaseType  = "purchase_type"
	RefPurchaseAmt   = "amount"
	RefServingsLimit = "servings_limit"
	RefStaffName     = "staff_name"
	RefDeposit       = "deposit"
	RefAlcohol       = "alcohol_allowed"
	RefExpires       = "expires" // UTC epoch ms, empty for none
)

// CardPurchaseErase is the card-purchase type that erases an online card (3.39).
const CardPurchaseErase = 199

// PurchaseTypesAPI are the card-purchase types the API accepts (online cards).
var PurchaseTypesAPI = map[int]bool{111: true, 112: true, 113: true, 119: true, 121: true, 122: true, 129: true, 199: true}

// CardPurchaseFromRecord converts a charger's booked card action.
func CardPurchaseFromRecord(r storage.Record, loc *time.Location) (CardPurchase, error) {
	if loc == nil {
		loc = time.Local
	}
	num := func(key string) (int64, error) {
		v := r.Ref[key]
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("record %s: %s %q is not a number", r.ID, key, v)
		}
		return n, nil
	}
	cp := CardPurchase{CardName: r.Ref[RefCardName], StaffName: r.Ref[RefStaffName],
		Created: time.UnixMilli(r.EndedAt).In(loc).Format(TimeLayout)}
	var err error
	fields := []struct {
		key string
		dst *int64
	}{{RefCardID, &cp.CardID}, {RefPurchaseAmt, &cp.Amount}, {RefServingsLimit, &cp.ServingsLimit}, {RefDeposit, &cp.Deposit}}
	for _, f := range fields {
		if *f.dst, err = num(f.key); err != nil {
			return CardPurchase{}, err
		}
	}
	t, err := num(RefPurchaseType)
	if err != nil {
		return CardPurchase{}, err
	}
	cp.Type = int(t)
	if !PurchaseTypesAPI[cp.Type] {
		return CardPurchase{}, fmt.Errorf("record %s: card purchase type %d cannot be sent through the API", r.ID, cp.Type)
	}
	if a, _ := num(RefAlcohol); a != 0 {
		cp.AlcoholAllowed = 1
	}
	if exp, err := num(RefExpires); err != nil {
		return CardPurchase{}, err
	} else if exp > 0 {
		cp.Expires = time.UnixMilli(exp).In(loc).Format(TimeLayout)
	}
	if cp.CardID <= 0 {
		return CardPurchase{}, fmt.Errorf("record %s: card purchase without a card", r.ID)
	}
	return cp, nil
}
