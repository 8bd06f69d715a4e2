package evadts

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Segment is one data segment ("block") of a file. Elements are found in
// the raw text on demand, so parsing a file splits nothing it never reads.
type Segment struct {
	ID   string `json:"id"`
	Raw  string `json:"raw"`  // the whole segment text, without its line end
	Line int    `json:"line"` // 1-based line in the input
}

// El returns element n (1-based) unescaped, or "".
func (s Segment) El(n int) string {
	if n < 1 {
		return ""
	}
	r := s.Raw
	for i := 0; i < n; i++ {
		j := strings.IndexByte(r, '*')
		if j < 0 {
			return ""
		}
		r = r[j+1:]
	}
	if j := strings.IndexByte(r, '*'); j >= 0 {
		r = r[:j]
	}
	return Unescape(r)
}

// Elements are all elements as sent (escapes kept).
func (s Segment) Elements() []string {
	_, rest, found := strings.Cut(s.Raw, "*")
	if !found {
		return nil
	}
	return strings.Split(rest, "*")
}

// Int returns element n as an integer, 0 if empty or not a number.
func (s Segment) Int(n int) int64 {
	v, _ := strconv.ParseInt(strings.TrimSpace(s.El(n)), 10, 64)
	return v
}

// Warning is a deviation from the standard that the parser tolerated.
type Warning struct {
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// G85 verdicts.
const (
	G85OK            = "ok"
	G85OKLowerCase   = "ok (lower-case hex)"
	G85OKNoFinalCRLF = "ok (without the final CR LF)"
	G85OKByteSwapped = "ok (bytes swapped, pre-6.0 style)"
	G85Mismatch      = "mismatch"
	G85Missing       = "missing"
)

// Check is the G85 verdict.
type Check struct {
	Stated   string `json:"stated"`
	Computed string `json:"computed"`
	Verdict  string `json:"verdict"`
}

// File is a parsed audit file.
type File struct {
	CommID   string    `json:"comm_id"`
	Version  string    `json:"version"` // DXS03, e.g. V0/6
	Segments []Segment `json:"-"`
	G85      Check     `json:"g85"`
	SEStated int64     `json:"se_stated"`
	SEActual int       `json:"se_actual"`
	LineEnds string    `json:"line_ends"` // CRLF, LF, CR, mixed
	Warnings []Warning `json:"warnings"`
	Wrapper  int       `json:"wrapper_bytes,omitempty"`
	Trailer  int       `json:"trailer_bytes,omitempty"`
	Report   Report    `json:"report"`
}

func (f *File) warn(line int, format string, a ...any) {
	f.Warnings = append(f.Warnings, Warning{Line: line, Message: fmt.Sprintf(format, a...)})
}

// Parse reads an audit file, tolerating what real machines and handhelds
// produce; it fails only when there is no transaction set to read.
func Parse(b []byte) (*File, error) {
	f := &File{}
	start := bytes.Index(b, []byte("DXS*"))
	if start < 0 {
		start = bytes.Index(b, []byte("ST*"))
		if start < 0 {
			return nil, fmt.Errorf("evadts: no DXS or ST segment: not an EVA-DTS file")
		}
		f.warn(0, "no DXS header")
	}
	if start > 0 {
		f.Wrapper = start
		f.warn(1, "%d bytes before DXS (handheld wrapper), ignored", start)
	}
	body := b[start:]
	lines, ends := splitLines(body)
	f.LineEnds = ends
	if ends == "LF" {
		f.warn(0, "LF-only line ends; G85 is checked as if each were CR LF")
	} else if ends == "mixed" {
		f.warn(0, "mixed line ends")
	}
	f.segments(lines)
	if len(f.Segments) == 0 {
		return nil, fmt.Errorf("evadts: no segments")
	}
	f.checkEnvelope(lines)
	f.Report = buildReport(f)
	return f, nil
}

// rawLine is one line: its bytes (for the CRC) and the same bytes as a
// string sharing one conversion of the whole input (for the elements).
type rawLine struct {
	text []byte
	str  string
	n    int
}

// splitLines splits on CR LF or LF (CR alone when a file has no LF at
// all) and names the style used.
func splitLines(b []byte) ([]rawLine, string) {
	all := string(b)
	sep := byte('\n')
	if bytes.IndexByte(b, '\n') < 0 && bytes.IndexByte(b, '\r') >= 0 {
		sep = '\r'
	}
	out := make([]rawLine, 0, bytes.Count(b, []byte{sep})+1)
	crlf, lf := 0, 0
	for n, off := 1, 0; off < len(b); n++ {
		i := bytes.IndexByte(b[off:], sep)
		if i < 0 {
			out = append(out, rawLine{b[off:], all[off:], n})
			break
		}
		end := off + i
		if sep == '\n' && i > 0 && b[end-1] == '\r' {
			crlf++
			end--
		} else {
			lf++
		}
		out = append(out, rawLine{b[off:end], all[off:end], n})
		off += i + 1
	}
	switch {
	case sep == '\r':
		return out, "CR"
	case lf == 0:
		return out, "CRLF"
	case crlf == 0:
		return out, "LF"
	}
	return out, "mixed"
}

// validID: a block id is a capital letter followed by capitals or digits,
// two to four in all (ST, G85, ID1, CA10, DXS).
func validID(id string) bool {
	if len(id) < 2 || len(id) > 4 || id[0] < 'A' || id[0] > 'Z' {
		return false
	}
	for _, c := range id[1:] {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (f *File) segments(lines []rawLine) {
	afterDXE := false
	f.Segments = make([]Segment, 0, len(lines))
	for _, l := range lines {
		t := l.text
		if afterDXE {
			f.Trailer += len(t)
			continue
		}
		if len(bytes.TrimSpace(t)) == 0 {
			continue
		}
		if bytes.HasPrefix(t, []byte("DXE*")) {
			// Handhelds glue their own trailer to DXE ("DXE*1*1<AAAA|BBBB>").
			if i := bytes.IndexByte(t, '<'); i > 0 {
				f.Trailer += len(t) - i
				t, l.str = t[:i], l.str[:i]
			}
			afterDXE = true
		}
		for _, c := range t {
			if c < 0x20 || c > 0x7e {
				f.warn(l.n, "byte 0x%02X outside printable ASCII", c)
				break
			}
		}
		id, _, _ := strings.Cut(l.str, "*")
		seg := Segment{ID: id, Raw: l.str, Line: l.n}
		if strings.Contains(l.str, "*4294967295") {
			for i, e := range seg.Elements() {
				if e == "4294967295" {
					f.warn(l.n, "%s%02d is %s, a \"not available\" sentinel", id, i+1, e)
				}
			}
		}
		if !validID(id) {
			f.warn(l.n, "odd segment id %q", clip(id, 20))
		}
		f.Segments = append(f.Segments, seg)
	}
	if f.Trailer > 0 {
		f.warn(0, "%d bytes after DXE (handheld trailer), ignored", f.Trailer)
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// checkEnvelope verifies DXS, ST/SE, G85 and DXE.
func (f *File) checkEnvelope(lines []rawLine) {
	st, g85, se := -1, -1, -1
	for i, s := range f.Segments {
		switch s.ID {
		case "DXS":
			f.CommID, f.Version = s.El(1), s.El(3)
		case "ST":
			if st < 0 {
				st = i
			}
		case "G85":
			g85 = i
		case "SE":
			se = i
		}
	}
	if f.CommID == "" {
		f.warn(0, "no DXS comm id")
	}
	if st < 0 {
		f.warn(0, "no ST segment")
		st = 0
	}
	if se < 0 {
		f.warn(0, "no SE segment")
	} else {
		f.SEActual = se - st + 1
		f.SEStated = f.Segments[se].Int(1)
		if f.SEStated != int64(f.SEActual) {
			f.warn(f.Segments[se].Line, "SE says %d segments, ST..SE holds %d", f.SEStated, f.SEActual)
		}
	}
	if g85 < 0 {
		f.G85.Verdict = G85Missing
		f.warn(0, "no G85 record check")
		return
	}
	f.G85 = verifyG85(lines, f.Segments[st].Line, f.Segments[g85])
	if f.G85.Verdict != G85OK {
		f.warn(f.Segments[g85].Line, "G85 %s: stated %s, computed %s", f.G85.Verdict, f.G85.Stated, f.G85.Computed)
	}
	if last := f.Segments[len(f.Segments)-1]; last.ID != "DXE" {
		f.warn(last.Line, "file does not end with DXE")
	}
}

// verifyG85 computes CRC-16/ARC from ST through the CR LF before G85,
// normalising line ends to CR LF, and names how the stated value matches.
func verifyG85(lines []rawLine, stLine int, g Segment) Check {
	var crc, last uint16
	for _, l := range lines {
		if l.n < stLine || l.n >= g.Line {
			continue
		}
		crc = CRC16(crc, l.text)
		last = crc
		crc = CRC16(crc, []byte("\r\n"))
	}
	stated := strings.TrimSpace(g.El(1))
	c := Check{Stated: stated, Computed: fmt.Sprintf("%04X", crc)}
	v, err := strconv.ParseUint(stated, 16, 16)
	switch {
	case err != nil || len(stated) != 4:
		c.Verdict = G85Mismatch
	case uint16(v) == crc && stated == strings.ToUpper(stated):
		c.Verdict = G85OK
	case uint16(v) == crc:
		c.Verdict = G85OKLowerCase
	case uint16(v) == last:
		c.Verdict = G85OKNoFinalCRLF
	case uint16(v) == crc<<8|crc>>8:
		c.Verdict = G85OKByteSwapped
	default:
		c.Verdict = G85Mismatch
	}
	return c
}

// Unescape decodes ^HH^ escapes.
func Unescape(s string) string {
	if !strings.Contains(s, "^") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '^' && i+3 < len(s) && s[i+3] == '^' {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
