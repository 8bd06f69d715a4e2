package smartnow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// capped is the reference's "limit <= 100", which it gives for most
// lists; uncapped lists (payment transactions) take any limit.
const (
	capped   = 100
	uncapped = 0
)

// listQuery is a list endpoint's parsed query: where[<col>][<op>]=value
// filters (all must hold), sort=<col> [asc|desc], skip and limit.
type listQuery struct {
	where []cond
	sort  string
	desc  bool
	skip  int
	limit int // -1: no limit (the reference's default "∞")
}

type cond struct {
	col, op string
	vals    []string
}

var whereKey = regexp.MustCompile(`^where\[([A-Za-z0-9_]+)\](?:\[([a-z]+)\])?$`)

var ops = []string{"eq", "ne", "gt", "gte", "lt", "lte", "like", "in"}

// parseQuery reads a list query; every key it does not know is an error,
// so a misspelt filter does not silently return everything.
func parseQuery(q url.Values, maxLimit int) (listQuery, error) {
	lq := listQuery{limit: -1}
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch key {
		case "limit", "skip":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return lq, fmt.Errorf("%s must be a non-negative integer, not %q", key, v)
			}
			if key == "skip" {
				lq.skip = n
				continue
			}
			if maxLimit > 0 && n > maxLimit {
				return lq, fmt.Errorf("limit must be at most %d", maxLimit)
			}
			lq.limit = n
		case "useArchive":
			// The reference's archive switch; the emulator keeps everything
			// in one store, so both answers are the same.
			if _, err := strconv.ParseBool(v); err != nil {
				return lq, fmt.Errorf("useArchive must be true or false, not %q", v)
			}
		case "sort":
			col, dir, _ := strings.Cut(strings.TrimSpace(v), " ")
			switch strings.ToLower(strings.TrimSpace(dir)) {
			case "", "asc":
			case "desc":
				lq.desc = true
			default:
				return lq, fmt.Errorf("sort direction must be asc or desc, not %q", dir)
			}
			lq.sort = col
		default:
			m := whereKey.FindStringSubmatch(key)
			if m == nil {
				return lq, fmt.Errorf("unknown query parameter %q", key)
			}
			op := m[2]
			if op == "" {
				op = "eq"
			}
			if !slices.Contains(ops, op) {
				return lq, fmt.Errorf("unknown where operator %q (one of %s)", op, strings.Join(ops, " "))
			}
			c := cond{col: m[1], op: op, vals: vals}
			if op == "in" {
				c.vals = strings.Split(v, ",")
			}
			lq.where = append(lq.where, c)
		}
	}
	slices.SortFunc(lq.where, func(a, b cond) int { return strings.Compare(a.col+a.op, b.col+b.op) })
	return lq, nil
}

// list answers a list endpoint over items, which are the reference's
// objects; the filter works on their JSON fields. maxLimit is the
// largest limit the list takes (uncapped: any).
func list[T any](r *http.Request, items []T, maxLimit int) (int, any, error) {
	lq, err := parseQuery(r.URL.Query(), maxLimit)
	if err != nil {
		return 0, nil, errf(http.StatusBadRequest, "%v", err)
	}
	rows := make([]map[string]any, 0, len(items))
	for _, it := range items {
		row, err := asRow(it)
		if err != nil {
			return 0, nil, errf(http.StatusInternalServerError, "%v", err)
		}
		rows = append(rows, row)
	}
	out, err := lq.apply(rows)
	if err != nil {
		return 0, nil, errf(http.StatusBadRequest, "%v", err)
	}
	return http.StatusOK, out, nil
}

func asRow(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var row map[string]any
	return row, dec.Decode(&row)
}

func (lq listQuery) apply(rows []map[string]any) ([]map[string]any, error) {
	out := rows[:0:0]
	for _, row := range rows {
		keep := true
		for _, c := range lq.where {
			v, has := row[c.col]
			if !has {
				return nil, fmt.Errorf("unknown column %q in where", c.col)
			}
			if !c.holds(v) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, row)
		}
	}
	if lq.sort != "" {
		if len(rows) > 0 {
			if _, has := rows[0][lq.sort]; !has {
				return nil, fmt.Errorf("unknown sort column %q", lq.sort)
			}
		}
		slices.SortStableFunc(out, func(a, b map[string]any) int {
			c := compare(a[lq.sort], b[lq.sort])
			if lq.desc {
				return -c
			}
			return c
		})
	}
	out = out[min(lq.skip, len(out)):]
	if lq.limit >= 0 && lq.limit < len(out) {
		out = out[:lq.limit]
	}
	return out, nil
}

func (c cond) holds(v any) bool {
	switch c.op {
	case "in":
		for _, want := range c.vals {
			if compare(v, want) == 0 {
				return true
			}
		}
		return false
	case "like":
		return like(text(v), c.vals[len(c.vals)-1])
	}
	d := compare(v, c.vals[len(c.vals)-1])
	switch c.op {
	case "ne":
		return d != 0
	case "gt":
		return d > 0
	case "gte":
		return d >= 0
	case "lt":
		return d < 0
	case "lte":
		return d <= 0
	}
	return d == 0
}

// compare orders two values numerically when both are integers, else as
// text (ISO 8601 UTC stamps order correctly as text).
func compare(a, b any) int {
	sa, sb := text(a), text(b)
	na, errA := strconv.ParseInt(sa, 10, 64)
	nb, errB := strconv.ParseInt(sb, 10, 64)
	if errA == nil && errB == nil {
		switch {
		case na < nb:
			return -1
		case na > nb:
			return 1
		}
		return 0
	}
	return strings.Compare(sa, sb)
}

func text(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// like is SQL LIKE with % for any run and _ for one character, without
// letter case.
func like(s, pattern string) bool {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(s)
}
