package history

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/flow"
)

// Query limits.
const (
	// DefaultLimit is how many entries Find returns when Query.Limit is 0.
	DefaultLimit = 1000
	// MaxLimit bounds Query.Limit.
	MaxLimit = 100_000
)

// Query selects entries; zero fields select everything.
type Query struct {
	// From (inclusive) and To (exclusive) bound the time; ParseFrom and
	// ParseTo read them as a person types them.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	Line int       `json:"line,omitempty"`
	// Product matches the product name or its PLU (decimal).
	Product string `json:"product,omitempty"`
	// Card is the card's hash as history and events show it.
	Card    string `json:"card,omitempty"`
	Payment string `json:"payment,omitempty"`
	// Kinds keeps only entries of these kinds (KindPour, ...).
	Kinds []string `json:"kinds,omitempty"`
	// Limit bounds Find (DefaultLimit when 0, at most MaxLimit); Find
	// returns the newest entries when more match.
	Limit int `json:"limit,omitempty"`
	// Loc is the time zone of Totals by day (UTC when nil).
	Loc *time.Location `json:"-"`
}

// Validate checks a query for what would make it meaningless.
func (q Query) Validate() error {
	switch {
	case q.Limit < 0 || q.Limit > MaxLimit:
		return fmt.Errorf("history: limit %d is not 0..%d", q.Limit, MaxLimit)
	case !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From):
		return fmt.Errorf("history: the range ends (%s, exclusive) at or before its start (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	case q.Line < 0:
		return fmt.Errorf("history: line %d", q.Line)
	}
	return q.validateNames()
}

// Match reports whether e is selected by q.
func (q Query) Match(e Entry) bool {
	switch {
	case !q.From.IsZero() && e.Time.Before(q.From), !q.To.IsZero() && !e.Time.Before(q.To):
		return false
	case q.Line != 0 && e.Line != q.Line:
		return false
	case q.Product != "" && e.Product != q.Product && strconv.Itoa(e.PLU) != q.Product:
		return false
	case q.Card != "" && e.Card != q.Card, q.Payment != "" && e.Payment != q.Payment:
		return false
	}
	if len(q.Kinds) == 0 {
		return true
	}
	for _, k := range q.Kinds {
		if e.Kind == k {
			return true
		}
	}
	return false
}

// Viewer is the store as history reads it (*storage.Store).
type Viewer interface {
	Scan(bucket string, from, to []byte, fn func(k, v []byte) error) error
}

// Log queries the history kept in a store.
type Log struct{ st Viewer }

// New reads the history in st.
func New(st Viewer) *Log { return &Log{st: st} }

// scan calls fn for every entry in q's time range, oldest first. An entry
// that does not decode is an error: the history is written by this agent
// only, so it is damage worth reporting, not input to skip.
func (l *Log) scan(ctx context.Context, q Query, full bool, fn func(Entry) error) error {
	if err := q.Validate(); err != nil {
		return err
	}
	from := Key(q.From, 0)
	var to []byte
	if !q.To.IsZero() {
		to = Key(q.To, 0)
	}
	filtered := q.Line != 0 || q.Product != "" || q.Card != "" || q.Payment != "" || len(q.Kinds) > 0
	n := 0
	return l.st.Scan(Bucket, from, to, func(k, v []byte) error {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("history: %w", err)
			}
		}
		// A light decode first: most entries of a range fail the filter,
		// and most of an entry's cost is in the fields no filter reads.
		if full && !filtered {
			e, err := Decode(k, v)
			if err != nil || !q.Match(e) {
				return err
			}
			return fn(e)
		}
		e, err := decodeLight(k, v)
		if err != nil {
			return err
		}
		if !q.Match(e) {
			return nil
		}
		if full {
			if e, err = Decode(k, v); err != nil {
				return err
			}
		}
		return fn(e)
	})
}

// Find returns the entries q selects, oldest first: the newest Limit of
// them when more match.
func (l *Log) Find(ctx context.Context, q Query) ([]Entry, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	// A ring of the newest limit entries: memory stays bounded by the limit
	// however wide the range.
	ring := make([]Entry, 0, min(limit, 256))
	head := 0
	err := l.scan(ctx, q, true, func(e Entry) error {
		if len(ring) < limit {
			ring = append(ring, e)
			return nil
		}
		ring[head] = e
		head = (head + 1) % limit
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(ring[head:], ring[:head]...), nil
}

// Totals groupings.
const (
	ByDay     = "day"
	ByLine    = "line"
	ByProduct = "product"
)

// Total is the sum over a group of pours.
type Total struct {
	// Key is the group: a date (YYYY-MM-DD in Query.Loc), a line number or a product.
	Key    string   `json:"key"`
	Pours  int64    `json:"pours"`
	Volume flow.Vol `json:"volume_ml10"`
	Amount int64    `json:"amount"`
}

// ErrOverflow is returned when a total would not fit in 64 bits.
var ErrOverflow = errors.New("history: total overflows")

// Totals sums the pours (kinds pour and vend unless q.Kinds says otherwise)
// that q selects, grouped by ByDay, ByLine or ByProduct, in key order. A
// pour or vend with neither volume nor amount (a refused card, a release without
// flow) stays in the history but is not counted: nothing was poured.
func (l *Log) Totals(ctx context.Context, q Query, by string) ([]Total, error) {
	key, err := groupKey(by, q.Loc)
	if err != nil {
		return nil, err
	}
	if len(q.Kinds) == 0 {
		q.Kinds = []string{KindPour, KindVend}
	}
	groups := map[string]*Total{}
	err = l.scan(ctx, q, false, func(e Entry) error {
		if e.Volume == 0 && e.Amount == 0 && (e.Kind == KindPour || e.Kind == KindVend) {
			return nil // a refusal or a release nobody drew on: an audit fact, not a pour
		}
		k := key(e)
		t := groups[k]
		if t == nil {
			if len(groups) >= MaxLimit {
				return fmt.Errorf("history: more than %d groups", MaxLimit)
			}
			t = &Total{Key: k}
			groups[k] = t
		}
		return t.add(e)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Total, 0, len(groups))
	for _, t := range groups {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return lessKey(by, out[i].Key, out[j].Key) })
	return out, nil
}

func (t *Total) add(e Entry) error {
	if int64(t.Volume) > math.MaxInt64-int64(e.Volume) || t.Amount > math.MaxInt64-e.Amount {
		return fmt.Errorf("%w: group %s", ErrOverflow, t.Key)
	}
	t.Pours++
	t.Volume += e.Volume
	t.Amount += e.Amount
	return nil
}

func groupKey(by string, loc *time.Location) (func(Entry) string, error) {
	if loc == nil {
		loc = time.UTC
	}
	switch by {
	case ByDay:
		return func(e Entry) string { return e.Time.In(loc).Format(time.DateOnly) }, nil
	case ByLine:
		return func(e Entry) string { return strconv.Itoa(e.Line) }, nil
	case ByProduct:
		return func(e Entry) string {
			if e.Product == "" {
				return "PLU " + strconv.Itoa(e.PLU)
			}
			return e.Product
		}, nil
	}
	return nil, fmt.Errorf("history: totals by %q: want %s, %s or %s", by, ByDay, ByLine, ByProduct)
}

// lessKey orders lines numerically, days and products as text.
func lessKey(by, a, b string) bool {
	if by == ByLine {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x < y
	}
	return a < b
}
