package smartnow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Voucher campaign types.
const (
	CampaignDiscount = "discount"
	CampaignGift     = "gift"
)

// Voucher is SmartNow's answer to a validation.
type Voucher struct {
	Code         string `json:"code"`
	CampaignType string `json:"campaignType"`
	VoucherID    string `json:"voucherId"`
	Valid        bool   `json:"valid"`
	VoucherValue int64  `json:"voucherValue"`
	Discount     struct {
		Type      string `json:"type"`
		AmountOff int64  `json:"amountOff"`
	} `json:"discount"`
	ValidFor struct {
		Products       json.RawMessage `json:"products"`
		ProductsRegExp string          `json:"productsRegExp"`
	} `json:"validFor"`
	// Reason is SmartNow's explanation when the voucher is not valid (the
	// validate reply shows none; redeem's does).
	Reason string `json:"reason"`
}

// Redemption is SmartNow's answer to a redeem.
type Redemption struct {
	Code         string `json:"code"`
	CampaignType string `json:"campaignType"`
	VoucherID    string `json:"voucherId"`
	Redeemed     bool   `json:"redeemed"`
	Reason       string `json:"reason"`
	VoucherValue int64  `json:"voucherValue"`
}

// DecodeVoucher parses a validate reply.
func DecodeVoucher(b []byte) (Voucher, error) {
	var v Voucher
	if err := json.Unmarshal(b, &v); err != nil {
		return Voucher{}, fmt.Errorf("%w: voucher: %w", ErrMalformed, err)
	}
	switch {
	case v.Discount.AmountOff < 0 || v.VoucherValue < 0:
		return Voucher{}, fmt.Errorf("%w: voucher: negative amount", ErrMalformed)
	case v.Discount.Type != "" && v.Discount.Type != "cents":
		return Voucher{}, fmt.Errorf("%w: voucher: discount type %q", ErrMalformed, v.Discount.Type)
	}
	if v.ValidFor.ProductsRegExp != "" {
		if _, err := regexp.Compile(v.ValidFor.ProductsRegExp); err != nil {
			return Voucher{}, fmt.Errorf("%w: voucher: productsRegExp: %w", ErrMalformed, err)
		}
	}
	return v, nil
}

// DecodeRedemption parses a redeem reply.
func DecodeRedemption(b []byte) (Redemption, error) {
	var r Redemption
	if err := json.Unmarshal(b, &r); err != nil {
		return Redemption{}, fmt.Errorf("%w: redemption: %w", ErrMalformed, err)
	}
	return r, nil
}

// Refusal is why a voucher cannot pay for a pour, for the display and the
// voucher_refused event.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "voucher refused: " + r.Reason }

// Validate asks SmartNow whether code may pay here, locking it to deviceID
// for lock (covering the pour). For a gift voucher demand is the amount
// wanted (0: SmartNow answers with the balance).
func (c *Client) Validate(ctx context.Context, code, deviceID string, lock time.Duration, demand int64) (Voucher, error) {
	body := map[string]any{"deviceId": deviceID, "lockDuration": int64(math.Ceil(lock.Seconds()))}
	if demand > 0 {
		body["demand"] = map[string]int64{"amount": demand}
	}
	path := Expand(c.cfg.Paths.Validate, map[string]string{"code": code})
	status, raw, err := c.Call(ctx, http.MethodPost, path, body)
	if err != nil {
		return Voucher{}, hideCode(err, code)
	}
	path = Expand(c.cfg.Paths.Validate, map[string]string{"code": MaskCode(code)})
	switch {
	case status == http.StatusNotFound:
		return Voucher{}, &Refusal{Reason: "unknown voucher"}
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity || status == http.StatusConflict:
		return Voucher{}, &Refusal{Reason: DecodeMessage(raw)}
	case status != http.StatusOK && status != http.StatusCreated:
		return Voucher{}, &HTTPError{Status: status, Path: path, Message: DecodeMessage(raw)}
	}
	v, err := DecodeVoucher(raw)
	if err != nil {
		return Voucher{}, err
	}
	if err := sameCode(v.Code, code); err != nil {
		return Voucher{}, err
	}
	if !v.Valid {
		return v, &Refusal{Reason: firstOf(v.Reason, "not valid")}
	}
	return v, nil
}

// Order is what a redeem reports was sold: id = the pour id.
type Order struct {
	ID     string      `json:"id"`
	Amount int64       `json:"amount"`
	Items  []OrderItem `json:"items"`
}

// OrderItem is one product of an order (productId = the PLU).
type OrderItem struct {
	ProductID string `json:"productId"`
	Quantity  int64  `json:"quantity"`
	Price     int64  `json:"price"`
}

// Redeem redeems code for an order; for a gift voucher demand is the value
// taken from it.
func (c *Client) Redeem(ctx context.Context, code, deviceID string, o Order, demand int64) (Redemption, error) {
	body := map[string]any{"deviceId": deviceID, "order": o}
	if demand > 0 {
		body["demand"] = map[string]int64{"amount": demand}
	}
	path := Expand(c.cfg.Paths.Redeem, map[string]string{"code": code})
	status, raw, err := c.Call(ctx, http.MethodPost, path, body)
	if err != nil {
		return Redemption{}, hideCode(err, code)
	}
	path = Expand(c.cfg.Paths.Redeem, map[string]string{"code": MaskCode(code)})
	switch {
	case status == http.StatusNotFound || status == http.StatusBadRequest || status == http.StatusUnprocessableEntity || status == http.StatusConflict:
		return Redemption{Reason: DecodeMessage(raw)}, &Refusal{Reason: DecodeMessage(raw)}
	case status != http.StatusOK && status != http.StatusCreated:
		return Redemption{}, &HTTPError{Status: status, Path: path, Message: DecodeMessage(raw)}
	}
	r, err := DecodeRedemption(raw)
	if err == nil {
		err = sameCode(r.Code, code)
	}
	if err != nil {
		return Redemption{}, err
	}
	if !r.Redeemed {
		err = &Refusal{Reason: firstOf(r.Reason, "not redeemed")}
	}
	return r, err
}

// sameCode refuses a reply about another voucher than the one asked
// about (a proxy's cache, a server bug): its value and rules are not this
// code's. Codes compare exactly, as SmartNow looks them up; a reply that
// names no code is taken as about the one asked.
func sameCode(got, asked string) error {
	if got == "" || got == asked {
		return nil
	}
	return fmt.Errorf("%w: the reply is about voucher %s, not %s", ErrMalformed, MaskCode(got), MaskCode(asked))
}

// Offer is what a valid voucher does to a pour's price.
type Offer struct {
	// Price is what the customer pays; Original the line's price.
	Price, Original int64
	// Demand is what a gift voucher gives (redeemed as its demand).
	Demand int64
}

// Apply checks the voucher against the line's PLU (validFor.products,
// productsRegExp) and applies its discount (amountOff, cents) or gift value
// to price. A refusal says why.
func Apply(v Voucher, plu int, price int64) (Offer, error) {
	if err := productAllowed(v, plu); err != nil {
		return Offer{}, err
	}
	if price < 0 {
		return Offer{}, errors.New("voucher: negative price")
	}
	off := v.Discount.AmountOff
	if v.CampaignType == CampaignGift && off == 0 {
		off = v.VoucherValue
	}
	if off <= 0 {
		return Offer{}, &Refusal{Reason: "the voucher has no value left"}
	}
	off = min(off, price)
	o := Offer{Price: price - off, Original: price}
	if v.CampaignType == CampaignGift {
		o.Demand = off
	}
	return o, nil
}

// productAllowed enforces validFor: products is a set of product ids (an
// object keyed by id, or a list), productsRegExp a pattern on the PLU;
// either empty allows every product.
func productAllowed(v Voucher, plu int) error {
	id := strconv.Itoa(plu)
	if re := v.ValidFor.ProductsRegExp; re != "" {
		ok, err := regexp.MatchString(re, id)
		if err != nil || !ok {
			return &Refusal{Reason: fmt.Sprintf("not valid for product %s", id)}
		}
	}
	raw := v.ValidFor.Products
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "{}" || string(raw) == "[]" {
		return nil
	}
	var set map[string]json.RawMessage
	if json.Unmarshal(raw, &set) == nil {
		if _, ok := set[id]; ok {
			return nil
		}
		return &Refusal{Reason: fmt.Sprintf("not valid for product %s", id)}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		for _, e := range list {
			var s string
			var n json.Number
			if (json.Unmarshal(e, &s) == nil && s == id) || (json.Unmarshal(e, &n) == nil && n.String() == id) {
				return nil
			}
		}
	}
	return &Refusal{Reason: fmt.Sprintf("not valid for product %s", id)}
}

// MaskCode hides a voucher code but its last 4 characters, for events,
// logs and errors: a code is worth beer to whoever reads it. The mask is
// always four dots, so it does not tell the code's length either.
func MaskCode(code string) string {
	r := []rune(code)
	if len(r) <= 4 {
		return "••••"
	}
	return "••••" + string(r[len(r)-4:])
}

// codeHidden is an error whose text has a voucher code masked (a path
// names it); it unwraps to the error as it was.
type codeHidden struct {
	err  error
	code string
}

func (e codeHidden) Error() string {
	msg := e.err.Error()
	for _, c := range []string{e.code, url.PathEscape(e.code)} {
		if c != "" {
			msg = strings.ReplaceAll(msg, c, MaskCode(e.code))
		}
	}
	return msg
}

func (e codeHidden) Unwrap() error { return e.err }

func hideCode(err error, code string) error {
	if err == nil || code == "" {
		return err
	}
	return codeHidden{err: err, code: code}
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
