package web

import (
	"slices"
	"sync"

	"github.com/tapagent/tapagent/device"
)

// recentPours is the dashboard's history where no history store is wired
// in: the pours of the event log, read once at start, then each booking
// as it is observed. It holds at most max rows (the event log's own
// bound), so a query never reads or decodes the whole log again.
type recentPours struct {
	mu      sync.Mutex
	max     int
	rows    []PourRow // oldest first
	product func(line int) string
}

func newRecentPours(log EventLog) (*recentPours, error) {
	r := &recentPours{max: max(log.Max, 1), product: log.Product}
	log.Product = nil
	rows, err := log.Pours(PourQuery{Limit: r.max})
	if err != nil {
		return nil, err
	}
	slices.Reverse(rows)
	for _, row := range rows {
		r.add(row)
	}
	return r, nil
}

func (r *recentPours) add(row PourRow) {
	if r.product != nil && row.Product == "" {
		row.Product = r.product(row.Line)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) >= r.max {
		r.rows = slices.Delete(r.rows, 0, len(r.rows)-r.max+1)
	}
	r.rows = append(r.rows, row)
}

// observe adds a booking.
func (r *recentPours) observe(ev device.Event) {
	if ev.Type != device.EvBooked {
		return
	}
	r.add(PourRow{Seq: ev.Seq, At: ev.Time, Line: ev.Line, Mode: ev.Mode, Payment: "unknown",
		Volume: ev.Volume, Amount: ev.Amount, Reason: ev.Reason, Recovered: ev.Recovered})
}

// Pours implements History.
func (r *recentPours) Pours(q PourQuery) ([]PourRow, error) {
	limit := q.Limit
	if limit <= 0 || limit > MaxRows {
		limit = MaxRows
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PourRow
	for _, row := range slices.Backward(r.rows) {
		if q.match(row) {
			out = append(out, row)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}
