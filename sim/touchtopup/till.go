package touchtopup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Till plays the point of sale that books customer-account sales on
// TouchTopUp: it collects the debits a tap wall offers on its Dirmeier
// cash-register interface (GET /debits), books each that names a
// CustomerID on that account (RecordSale, the debit's ID as the till's
// consecutive number), and deletes what it booked (DELETE /debits with the
// list). Debits without a CustomerID are waiter pours: not its business.
type Till struct {
	// CashURL is the interface's root, e.g. http://127.0.0.1:8081/cash/1.0.
	CashURL string
	// Key is the interface's pos.api_key, sent as X-API-Key when set.
	Key    string
	Server *Server
	// Company books debits that carry no CompanyID.
	Company int64
	// KeepDebits leaves collected debits in place, as a till whose DELETE
	// was lost: the next collection offers them again.
	KeepDebits bool
	Client     *http.Client
}

// Collected is what one collection did.
type Collected struct {
	Booked int   // sales booked on accounts
	Amount int64 // their total, minor units
	// Replayed are debits whose consecutive number the account had booked
	// already (a collection repeated): not booked again, deleted.
	Replayed int
	// Refused are debits the account refused (over the balance, unknown
	// account): left for staff, not deleted.
	Refused []string
}

// tillDebit is the part of a debit the till reads.
type tillDebit struct {
	ID          json.Number `json:"ID"`
	PLU         json.Number `json:"PLU"`
	Amount      json.Number `json:"Amount"`
	Articlename string      `json:"Articlename"`
	CustomerID  json.Number `json:"CustomerID"`
	CompanyID   json.Number `json:"CompanyID"`
}

// Collect runs one collection.
func (t *Till) Collect(ctx context.Context) (Collected, error) {
	var list struct {
		Debits []json.RawMessage `json:"Debits"`
	}
	if err := t.call(ctx, http.MethodGet, "/debits", nil, &list); err != nil {
		return Collected{}, err
	}
	var c Collected
	var done []json.RawMessage
	for _, raw := range list.Debits {
		var d tillDebit
		if err := json.Unmarshal(raw, &d); err != nil {
			return c, fmt.Errorf("till: debit %s: %w", raw, err)
		}
		cust, _ := d.CustomerID.Int64()
		if cust <= 0 {
			continue
		}
		co, _ := d.CompanyID.Int64()
		if co <= 0 {
			co = t.Company
		}
		id, _ := d.ID.Int64()
		amt, _ := d.Amount.Int64()
		_, err := t.Server.RecordSale(co, cust, Sale{Total: amt, ConsecNumber: id, Items: []Item{{Qty: 1, Text: d.Articlename}}})
		switch {
		case err == nil:
			c.Booked++
			c.Amount += amt
		case errors.Is(err, ErrSaleBooked):
			c.Replayed++
		default:
			c.Refused = append(c.Refused, fmt.Sprintf("debit %d: %v", id, err))
			continue
		}
		done = append(done, raw)
	}
	if len(done) == 0 || t.KeepDebits {
		return c, nil
	}
	return c, t.call(ctx, http.MethodDelete, "/debits", map[string]any{"Debits": done}, nil)
}

func (t *Till) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(t.CashURL, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("till: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if t.Key != "" {
		req.Header.Set("X-API-Key", t.Key)
	}
	hc := t.Client
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("till: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("till: %s %s: %w", method, path, err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("till: %s %s: %s %s", method, path, res.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("till: %s %s: %w", method, path, err)
		}
	}
	return nil
}
