package evadts

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Identity is how the machine names itself in its report.
type Identity struct {
	CommID      string // DXS01: 3-letter manufacturer code + 7 digits
	Serial      string // ID101
	Model       string // ID102
	Build       string // ID103
	Location    string // ID104
	Asset       string // ID106
	Software    string // CB103
	Decimals    int    // ID401
	CurrencyNum string // ID402, ISO 4217 with a leading 1 (1978 = EUR)
	Currency    string // ID403
	// Charset of text elements: "ascii" (others as ^HH^, the standard) or
	// "cp1251" (Cyrillic product names as raw bytes, as some clouds want).
	Charset string
}

// writer accumulates segments and the G85 CRC over ST..the line before G85.
type writer struct {
	buf     bytes.Buffer
	crc     uint16
	inSet   bool
	count   int
	charset string
}

func (w *writer) seg(id string, els ...string) {
	var line bytes.Buffer
	line.WriteString(id)
	for _, e := range els {
		line.WriteByte('*')
		line.WriteString(w.escape(e))
	}
	b := bytes.TrimRight(line.Bytes(), "*") // trailing empty elements are dropped
	b = append(b, '\r', '\n')
	if id == "ST" {
		w.inSet = true
	}
	if w.inSet {
		w.count++
		if id != "G85" && id != "SE" {
			w.crc = CRC16(w.crc, b)
		}
	}
	w.buf.Write(b)
}

// escape keeps printable ASCII and writes everything else as ^HH^.
func (w *writer) escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '*' || r == '^':
			fmt.Fprintf(&b, "^%02X^", r)
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case w.charset == "cp1251" && cp1251(r) != 0:
			b.WriteByte(cp1251(r))
		default:
			for _, c := range []byte(s[i : i+size]) {
				fmt.Fprintf(&b, "^%02X^", c)
			}
		}
		i += size
	}
	return b.String()
}

// cp1251 maps Cyrillic letters to Windows-1251; 0 if there is no mapping.
func cp1251(r rune) byte {
	switch {
	case r >= 'А' && r <= 'я':
		return byte(r - 'А' + 0xC0)
	case r == 'Ё':
		return 0xA8
	case r == 'ё':
		return 0xB8
	}
	return 0
}

func n(v int64) string { return strconv.FormatInt(v, 10) }

// Render writes the audit report of st: DXS..DXE with a correct G85 and SE.
func Render(st *State, id Identity, now time.Time) []byte {
	w := &writer{charset: id.Charset}
	w.seg("DXS", id.CommID, "VA", "V0/6", "1")
	w.seg("ST", "001", "0001")
	w.seg("ID1", id.Serial, id.Model, id.Build, id.Location, "", id.Asset, "6", "1")
	w.seg("ID4", strconv.Itoa(id.Decimals), id.CurrencyNum, id.Currency)
	w.seg("ID5", now.Format("20060102"), now.Format("150405"))
	w.seg("CB1", id.Serial, "tapagent", id.Software)
	vt := func(blk string, s Split) {
		w.seg(blk, n(s.Init.Value), n(s.Init.Count), n(s.Reset.Value), n(s.Reset.Count))
	}
	vt("VA1", st.Sales)
	vt("VA2", st.Test)
	vt("VA3", st.Free)
	for _, dev := range []string{"CA", "DA", "DB"} {
		s := Split{}
		if p := st.Pay[dev]; p != nil {
			s = *p
		}
		vt(dev+"2", s)
	}
	plus := make([]int, 0, len(st.Products))
	for plu := range st.Products {
		plus = append(plus, plu)
	}
	sort.Ints(plus)
	nv := func(blk string, s Split) {
		w.seg(blk, n(s.Init.Count), n(s.Init.Value), n(s.Reset.Count), n(s.Reset.Value))
	}
	for _, plu := range plus {
		p := st.Products[plu]
		w.seg("PA1", strconv.Itoa(plu), n(p.Price), p.Name)
		nv("PA2", p.Paid)
		nv("PA3", p.Test)
		nv("PA4", p.Free)
		// Manufacturer segment: poured volume per product in mL×10.
		w.seg("MA5", "TAPVOL", strconv.Itoa(plu), n(p.VolInit), n(p.VolReset))
	}
	w.seg("MA5", "TAPLEAK", n(st.LeakInit), n(st.LeakReset))
	ids := make([]string, 0, len(st.Events))
	for e := range st.Events {
		ids = append(ids, e)
	}
	sort.Strings(ids)
	for _, e := range ids {
		for _, at := range st.Events[e].Recent {
			t := time.UnixMilli(at).In(now.Location())
			w.seg("EA1", e, t.Format("20060102"), t.Format("1504"))
		}
	}
	for _, e := range ids {
		ev := st.Events[e]
		active := "0"
		if ev.Active {
			active = "1"
		}
		w.seg("EA2", e, n(ev.Reset), n(ev.Init), "", active)
	}
	date := func(ms int64, f string) string {
		if ms == 0 {
			return ""
		}
		return time.UnixMilli(ms).In(now.Location()).Format(f)
	}
	w.seg("EA3", n(st.ReadResets), date(st.LastRead.At, "20060102"), date(st.LastRead.At, "150405"), st.LastRead.Terminal,
		date(st.PrevRead.At, "20060102"), date(st.PrevRead.At, "150405"), st.PrevRead.Terminal, "", n(st.Reads), n(st.ReadResets))
	w.seg("EA4", date(st.InitAt, "20060102"), date(st.InitAt, "150405"))
	w.seg("EA7", n(st.PowerReset), n(st.PowerInit))
	w.seg("G85", fmt.Sprintf("%04X", w.crc))
	w.seg("SE", strconv.Itoa(w.count+1), "0001")
	w.inSet = false
	w.seg("DXE", "1", "1")
	return w.buf.Bytes()
}
