package telemetronapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Windows and depths from the reference.
const (
	day           = 24 * time.Hour
	eventsWindow  = 7 * day
	eventsDepth   = 14 * day
	reportsWindow = 14 * day
	reportsDepth  = 14 * day
	statsWindow   = 31 * day
	statsDepth    = 62 * day // "does not exceed two months"
)

// apiError is answered as the reference's error body.
type apiError struct {
	Status  int          `json:"-"`
	Message string       `json:"message"`
	Subcode string       `json:"subcode,omitempty"`
	Errors  []fieldError `json:"errors,omitempty"`
}

// Error is the message the client is told.
func (e *apiError) Error() string { return e.Message }

// fieldError is one entry of the reference's errors array.
type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func errf(status int, format string, a ...any) *apiError {
	return &apiError{Status: status, Message: fmt.Sprintf(format, a...)}
}

func badField(field, reason, format string, a ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, a...), Errors: []fieldError{{field, reason}}}
}

func notFound() *apiError { return errf(http.StatusNotFound, "Not found") }

func writeErr(w http.ResponseWriter, err error) {
	ae, ok := err.(*apiError)
	if !ok {
		ae = errf(http.StatusInternalServerError, "Server error")
	}
	writeJSON(w, ae.Status, ae)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// timeLayouts are the reference's two forms ("2018-01-01T00:00:00+03:00"
// and "2018-01-01 00:00:00+03"), with or without the minutes of the
// offset, or Z.
var timeLayouts = []string{time.RFC3339, "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05Z07", "2006-01-02T15:04:05Z07"}

// ParseTime reads a query's time. A "+" the client did not escape arrives
// as a space ("…00:00:00 03:00"), the reference's own examples being
// written so; it is read as the plus it was meant to be.
func ParseTime(v string) (time.Time, error) {
	if len(v) > 40 {
		return time.Time{}, fmt.Errorf("%.40q… is not a time", v)
	}
	for _, cand := range []string{v, plusFromSpace(v)} {
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, cand); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time with an offset (2018-01-01T00:00:00+03:00 or 2018-01-01 00:00:00+03)", v)
}

// plusFromSpace turns the last space of v back into "+" when it starts a
// short offset.
func plusFromSpace(v string) string {
	i := strings.LastIndexByte(v, ' ')
	if i <= 0 || len(v)-i > 6 {
		return v
	}
	return v[:i] + "+" + v[i+1:]
}

// Period is a query's since..until, both included.
type Period struct{ Since, Until time.Time }

// ParsePeriod reads since and until, each optional (def gives the
// default range at now), refusing a period longer than window or
// reaching further back than depth.
func ParsePeriod(q url.Values, now time.Time, def Period, window, depth time.Duration) (Period, error) {
	p := def
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &p.Since}, {"until", &p.Until}} {
		if v := q.Get(f.name); v != "" {
			t, err := ParseTime(v)
			if err != nil {
				return p, badField(f.name, "invalid", "%s: %v", f.name, err)
			}
			*f.dst = t
		}
	}
	switch {
	case p.Until.Before(p.Since):
		return p, badField("until", "invalid", "until is before since")
	case p.Until.Sub(p.Since) > window:
		return p, badField("since", "invalid", "the period is longer than %d days", int(window/day))
	case p.Since.Before(now.Add(-depth)):
		return p, badField("since", "invalid", "since is more than %d days back: nothing older is kept", int(depth/day))
	}
	return p, nil
}

// lastDay is the default range of events and reports: the last 24 hours.
func lastDay(now time.Time) Period { return Period{now.Add(-day), now} }

// today is the default range of statistics: the current day in zone.
func today(now time.Time, zone *time.Location) Period {
	y, m, d := now.In(zone).Date()
	return Period{time.Date(y, m, d, 0, 0, 0, 0, zone), now}
}

// ReportFlags are a report call's encoding flags and port.
type ReportFlags struct {
	CP1251, Base64 bool
	// Port is 1 (the agent's own audit) or 2 (DEX); 0: both.
	Port int
}

// ParseReportFlags reads cp1251, base64 (1/0, true/false) and port (1, 2).
func ParseReportFlags(q url.Values) (ReportFlags, error) {
	var f ReportFlags
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"cp1251", &f.CP1251}, {"base64", &f.Base64}} {
		switch q.Get(p.name) {
		case "", "0", "false":
		case "1", "true":
			*p.dst = true
		default:
			return f, badField(p.name, "invalid", "%s must be 1 or 0", p.name)
		}
	}
	if v := q.Get("port"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 2 {
			return f, badField("port", "invalid", "port must be 1 or 2 (2-DEX)")
		}
		f.Port = n
	}
	return f, nil
}
