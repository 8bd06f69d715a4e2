package ttg

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/storage"
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
	num := func(key, v string) (int64, error) {
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("record %s: %s %q is not a number", r.ID, key, v)
		}
		return n, nil
	}
	ref := r.Ref
	cp := CardPurchase{CardName: ref.CardName, StaffName: ref.StaffName,
		Created: time.UnixMilli(r.EndedAt).In(loc).Format(TimeLayout)}
	var err error
	fields := []struct {
		key, v string
		dst    *int64
	}{{"card_id", ref.CardID, &cp.CardID}, {"amount", ref.Amount, &cp.Amount}, {"servings_limit", ref.ServingsLimit, &cp.ServingsLimit},
		{"deposit", ref.Deposit, &cp.Deposit}}
	for _, f := range fields {
		if *f.dst, err = num(f.key, f.v); err != nil {
			return CardPurchase{}, err
		}
	}
	t, err := num("purchase_type", ref.PurchaseType)
	if err != nil {
		return CardPurchase{}, err
	}
	cp.Type = int(t)
	if !PurchaseTypesAPI[cp.Type] {
		return CardPurchase{}, fmt.Errorf("record %s: card purchase type %d cannot be sent through the API", r.ID, cp.Type)
	}
	if a, _ := num("alcohol_allowed", ref.Alcohol); a != 0 {
		cp.AlcoholAllowed = 1
	}
	if exp, err := num("expires", ref.Expires); err != nil {
		return CardPurchase{}, err
	} else if exp > 0 {
		cp.Expires = time.UnixMilli(exp).In(loc).Format(TimeLayout)
	}
	if cp.CardID <= 0 {
		return CardPurchase{}, fmt.Errorf("record %s: card purchase without a card", r.ID)
	}
	return cp, nil
}
