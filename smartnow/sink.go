package smartnow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tapagent/tapagent/agent/delivery"
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
// the line's price of the poured volume, so a short pour redeems what was
// poured; a gift voucher's demand is the part it paid. A refusal after the
// pour (the voucher was validated and locked to this device before it)
// does not undo the sale: it is logged and the sale is sent.
func (s *Sink) redeem(ctx context.Context, r storage.Record) error {
	code := r.Ref.Voucher
	if code == "" {
		return nil
	}
	rt, _ := Revenue(r, s.machine)
	o := Order{ID: r.ID, Amount: rt.OriginalPrice, Items: []OrderItem{{ProductID: strconv.Itoa(r.PLU), Quantity: 1, Price: rt.OriginalPrice}}}
	var demand int64
	if r.Ref.VoucherType == CampaignGift {
		demand = rt.OriginalPrice - rt.Price
	}
	_, err := s.c.Redeem(ctx, code, s.machine.Hostname, o, demand)
	var ref *Refusal
	if errors.As(err, &ref) {
		s.c.cfg.Log.Warn("smartnow refused to redeem a voucher after its pour; the sale is sent", "record", r.ID, "reason", ref.Reason)
		return nil
	}
	return err
}
