package localapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/history"
)

// maxParam bounds each query parameter's length.
const maxParam = 256

// ParseQuery reads a history query from URL parameters: from and to
// (as history.ParseFrom and history.ParseTo read them: a date alone
// as to includes that whole day), line,
// product, card, payment, kind (a comma list), limit, totals (day, line
// or product) and tz (an IANA zone, UTC when absent).
func ParseQuery(v url.Values) (q history.Query, totals string, err error) {
	for k, vs := range v {
		for _, s := range vs {
			if len(s) > maxParam {
				return q, "", fmt.Errorf("parameter %s is longer than %d bytes", k, maxParam)
			}
		}
	}
	q.Loc = time.UTC
	if tz := v.Get("tz"); tz != "" {
		if q.Loc, err = time.LoadLocation(tz); err != nil {
			return q, "", fmt.Errorf("tz: %w", err)
		}
	}
	if q.From, err = history.ParseFrom(v.Get("from"), q.Loc); err != nil {
		return q, "", fmt.Errorf("from: %w", err)
	}
	if q.To, err = history.ParseTo(v.Get("to"), q.Loc); err != nil {
		return q, "", fmt.Errorf("to: %w", err)
	}
	for name, dst := range map[string]*int{"line": &q.Line, "limit": &q.Limit} {
		if s := v.Get(name); s != "" {
			if *dst, err = strconv.Atoi(s); err != nil {
				return q, "", fmt.Errorf("%s %q is not a number", name, s)
			}
		}
	}
	q.Product, q.Card, q.Payment = v.Get("product"), v.Get("card"), v.Get("payment")
	if k := v.Get("kind"); k != "" {
		q.Kinds = strings.Split(k, ",")
	}
	totals = v.Get("totals")
	switch totals {
	case "", history.ByDay, history.ByLine, history.ByProduct:
	default:
		return q, "", fmt.Errorf("totals %q: want day, line or product", totals)
	}
	return q, totals, q.Validate()
}

// EncodeQuery is ParseQuery's inverse, for the client.
func EncodeQuery(q history.Query, totals string) url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339Nano))
	}
	if q.Line != 0 {
		v.Set("line", strconv.Itoa(q.Line))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Loc != nil && q.Loc != time.UTC {
		set("tz", q.Loc.String())
	}
	set("product", q.Product)
	set("card", q.Card)
	set("payment", q.Payment)
	set("kind", strings.Join(q.Kinds, ","))
	set("totals", totals)
	return v
}

// ParseReportsQuery reads the query of GET /v1/dex/reports: since and
// until (RFC 3339, either may be absent: open) and port (1 own audit, 2
// DEX, absent: both, 0).
func ParseReportsQuery(v url.Values) (since, until time.Time, port int, err error) {
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"since", &since}, {"until", &until}} {
		if t := v.Get(p.key); t != "" {
			if *p.dst, err = time.Parse(time.RFC3339Nano, t); err != nil {
				return since, until, 0, fmt.Errorf("%s: %w", p.key, err)
			}
		}
	}
	if p := v.Get("port"); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 2 {
			return since, until, 0, fmt.Errorf("port %q is not 1 (own audit) or 2 (DEX)", p)
		}
	}
	return since, until, port, nil
}
