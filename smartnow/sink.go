package smartnow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/agent/delivery"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// SinkName is SmartNow's name in the outbox.
const SinkName = "smartnow"

// Sink delivers sales as revenue transactions and service records as
// logs, one record per request (the reference shows no batch resource).
// A resend is idempotent on SmartNow's terms: the device sequence is the
// record's "remote", and a 409 for a remote SmartNow already holds counts
// as delivered.
type Sink struct {
	c       *Client
	machine Machine
}

var _ delivery.Sink = (*Sink)(nil)

// NewSink builds the sink for machine over client c.
func NewSink(c *Client, m Machine) *Sink { return &Sink{c: c, machine: m} }

// Name is the sink's name in the outbox.
func (s *Sink) Name() string { return SinkName }

// Deliver sends each record in turn, stopping at the first failure that
// is not the record's own fault (network, 5xx, 429, 403, 404: the
// records stay for later).
func (s *Sink) Deliver(ctx context.Context, recs []storage.Record) ([]delivery.Outcome, error) {
	out := make([]delivery.Outcome, 0, len(recs))
	for _, r := range recs {
		var path string
		var body any
		if rt, ok := Revenue(r, s.machine); ok {
			if err := s.redeem(ctx, r); err != nil {
				return out, fmt.Errorf("record %s: %w", r.ID, err)
			}
			path, body = s.c.cfg.Paths.Revenue, rt
		} else if lg, ok := ServiceLog(r, s.machine); ok {
			path, body = s.c.cfg.Paths.Log, lg
		} else {
			out = append(out, delivery.Outcome{Seq: r.Seq}) // nothing SmartNow keeps
			continue
		}
		refused, err := s.post(ctx, path, body)
		if err != nil {
			return out, fmt.Errorf("record %s: %w", r.ID, err)
		}
		out = append(out, delivery.Outcome{Seq: r.Seq, Refused: refused})
	}
	return out, nil
}

// post creates one resource; refused is SmartNow's reason when it refused
// the document itself (400, 422).
func (s *Sink) post(ctx context.Context, path string, body any) (refused string, err error) {
	status, raw, err := s.c.Call(ctx, http.MethodPost, path, body)
	if err != nil {
		return "", err
	}
	switch status {
	case http.StatusOK, http.StatusCreated:
		if _, err := DecodeCreated(raw); err != nil && len(raw) > 0 {
			return "", err
		}
		return "", nil
	case http.StatusNoContent, http.StatusConflict:
		return "", nil // 409: this remote is already there
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return fmt.Sprintf("smartnow %s: HTTP %d: %s", path, status, DecodeMessage(raw)), nil
	}
	return "", &HTTPError{Status: status, Path: path, Message: DecodeMessage(raw)}
}

// redeem redeems the voucher a sale was paid with, from the outbox: a
// redeem that failed (network, 5xx) is retried with the record, durably.
// The order is what was poured: id = the pour id, amount and item price =
// the line's price of the poured volume (PouredOriginal: pro rata for a
// portion that ended short); a gift voucher's demand is the part it paid,
// never more than was validated (GiftDemand). A voucher poured offline was
// never validated: it is validated now, to learn its type and value. A
// refusal after the pour (the voucher was validated and locked to this
// device before it) does not undo the sale: it is logged and the sale is
// sent.
func (s *Sink) redeem(ctx context.Context, r storage.Record) error {
	code := r.Ref.Voucher
	if code == "" || r.Pour.Charged <= 0 {
		return nil // no voucher, or nothing poured (a terminal's payment record): nothing to redeem
	}
	orig := PouredOriginal(r)
	o := Order{ID: r.ID, Amount: orig, Items: []OrderItem{{ProductID: strconv.Itoa(r.PLU), Quantity: 1, Price: orig}}}
	typ, demand := r.Ref.VoucherType, GiftDemand(r)
	if r.Ref.VoucherOffline != "" {
		v, err := s.c.Validate(ctx, code, s.machine.Hostname, offlineLock, orig)
		if err == nil {
			var offer Offer
			offer, err = Apply(v, r.PLU, orig)
			typ, demand = v.CampaignType, offer.Demand
		}
		if s.refused(r, err) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if typ != CampaignGift {
		demand = 0
	} else if demand <= 0 {
		return nil // nothing poured: nothing to take off the gift
	}
	_, err := s.c.Redeem(ctx, code, s.machine.Hostname, o, demand)
	if s.refused(r, err) {
		return nil
	}
	return err
}

// offlineLock is the lock a voucher poured offline is validated with when
// the sink redeems it: long enough for the redeem that follows.
const offlineLock = time.Minute

// refused logs a refusal after the pour and says whether err was one.
func (s *Sink) refused(r storage.Record, err error) bool {
	var ref *Refusal
	if !errors.As(err, &ref) {
		return false
	}
	s.c.cfg.Log.Warn("smartnow refused a voucher after its pour; the sale is sent", "record", r.ID, "reason", ref.Reason,
		"offline", r.Ref.VoucherOffline != "")
	return true
}

// PouredOriginal is the price before the voucher of what a voucher pour
// poured: the portion's original price (the original_price reference),
// pro rata of the charged volume for a portion that ended short, and never
// less than what was paid. Without an original price it is the amount.
func PouredOriginal(r storage.Record) int64 {
	paid := r.Pour.Amount
	orig, err := strconv.ParseInt(r.Ref.OriginalPrice, 10, 64)
	if err != nil || orig < 0 {
		return paid
	}
	a := r.Pour.Auth
	if a.Mode == flow.ModePortion && !r.Pour.Complete && a.PortionVol > 0 && r.Pour.Charged < a.PortionVol {
		orig = flow.MulDiv(orig, int64(max(r.Pour.Charged, 0)), int64(a.PortionVol))
	}
	return max(orig, paid)
}

// GiftDemand is what a gift voucher paid of a pour: the poured original
// less what the customer paid, at most what was validated (the portion's
// original price less its price).
func GiftDemand(r storage.Record) int64 {
	orig, err := strconv.ParseInt(r.Ref.OriginalPrice, 10, 64)
	if err != nil {
		return 0
	}
	validated := max(orig-r.Pour.Auth.PortionPrice, 0)
	return max(min(validated, PouredOriginal(r)-r.Pour.Amount), 0)
}
