package telemetronapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/evadts"
)

// reportID names a kept report: its time in microseconds ×10 plus its
// port (assumed: the reference shows numeric ids without saying how they
// are made).
func reportID(k evadts.Kept) int64 { return k.Date.UnixMicro()*10 + int64(k.Port) }

func (s *Server) listReports(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := ParseReportFlags(q)
	if err != nil {
		writeErr(w, err)
		return
	}
	now := s.o.Now()
	p, err := ParsePeriod(q, now, lastDay(now), reportsWindow, reportsDepth)
	if err != nil {
		writeErr(w, err)
		return
	}
	var ks []evadts.Kept
	if s.o.Audit != nil {
		if ks, _, err = s.o.Audit.Reports(p.Since, p.Until, f.Port); err != nil {
			writeErr(w, s.internal("reports", err))
			return
		}
	}
	s.writeReports(w, ks, f, false)
}

// oneReport is a report by id, or the last (last_valid: the last that
// parses as EVA-DTS without a warning), on the port if one is given.
func (s *Server) oneReport(w http.ResponseWriter, r *http.Request) {
	f, err := ParseReportFlags(r.URL.Query())
	if err != nil {
		writeErr(w, err)
		return
	}
	if s.o.Audit == nil {
		writeErr(w, notFound())
		return
	}
	which := r.PathValue("report")
	since, until := s.o.Now().Add(-reportsDepth), time.Time{}
	id, idErr := strconv.ParseInt(which, 10, 64)
	switch {
	case idErr == nil && id > 0:
		at := time.UnixMicro(id / 10)
		since, until = at, at.Add(time.Microsecond-1)
		if f.Port != 0 && f.Port != int(id%10) {
			writeErr(w, notFound())
			return
		}
		f.Port = int(id % 10)
	case which != "last" && which != "last_valid":
		writeErr(w, notFound())
		return
	}
	ks, _, err := s.o.Audit.Reports(since, until, f.Port)
	if err != nil {
		writeErr(w, s.internal("reports", err))
		return
	}
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].Date.Before(s.o.Now().Add(-reportsDepth)) {
			break
		}
		if idErr == nil && reportID(ks[i]) != id {
			continue
		}
		if which != "last_valid" || validReport([]byte(ks[i].Data)) {
			s.writeReports(w, ks[i:i+1], f, true)
			return
		}
	}
	writeErr(w, notFound())
}

// validReport: the report parses as EVA-DTS without a warning.
func validReport(b []byte) bool {
	f, err := evadts.Parse(b)
	return err == nil && len(f.Warnings) == 0
}

// EncodeReport renders a kept report's data as the flags ask: as kept
// (ASCII, ^HH^ escapes; raw Windows-1251 bytes turned into UTF-8) by
// default, in Windows-1251 with cp1251, either packed in base64 with base64.
func EncodeReport(data []byte, f ReportFlags) []byte {
	if !f.CP1251 {
		return evadts.Encode(evadts.FromCP1251(data), false, f.Base64)
	}
	return evadts.Encode(data, true, f.Base64)
}

// writeReports writes the report objects by hand: with cp1251 and without
// base64 the data string holds Windows-1251 bytes, which a JSON encoder
// would replace (it writes UTF-8 only); the body is then declared
// charset=windows-1251.
func (s *Server) writeReports(w http.ResponseWriter, ks []evadts.Kept, f ReportFlags, one bool) {
	var b bytes.Buffer
	if !one {
		b.WriteByte('[')
	}
	for i, k := range ks {
		if i > 0 {
			b.WriteByte(',')
		}
		date, _ := json.Marshal(s.stamp(k.Date))
		fmt.Fprintf(&b, `{"date":%s,"data":"`, date)
		jsonBytes(&b, EncodeReport([]byte(k.Data), f))
		fmt.Fprintf(&b, `","evadts_port":%d}`, k.Port)
	}
	if !one {
		b.WriteByte(']')
	}
	ctype := "application/json"
	if f.CP1251 && !f.Base64 {
		ctype = "application/json; charset=windows-1251"
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(b.Bytes())
}

// jsonBytes escapes what JSON requires inside a string and copies every
// other byte as it is.
func jsonBytes(b *bytes.Buffer, data []byte) {
	for _, c := range data {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
}
