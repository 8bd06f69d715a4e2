package evadts

import "strings"

// Totals are a counter pair since initialisation and since the last reset.
// Values are in the file's minor units (ID401 decimals).
type Totals struct {
	ValueInit  int64 `json:"value_init"`
	CountInit  int64 `json:"count_init"`
	ValueReset int64 `json:"value_reset"`
	CountReset int64 `json:"count_reset"`
}

// Machine is ID1 (and CB1's software revision).
type Machine struct {
	Serial   string `json:"serial"`
	Model    string `json:"model"`
	Build    string `json:"build,omitempty"`
	Location string `json:"location,omitempty"`
	Asset    string `json:"asset,omitempty"`
	Software string `json:"software,omitempty"`
}

// Product is a selection: PA1 with its PA2 (paid), PA3 (test) and PA4
// (free) counters, and PA7 summed per payment device.
type Product struct {
	ID    string         `json:"id"`
	Price int64          `json:"price"`
	Name  string         `json:"name,omitempty"`
	Paid  Totals         `json:"paid"`
	Test  Totals         `json:"test"`
	Free  Totals         `json:"free"`
	By    []DeviceTotals `json:"by_device,omitempty"`
}

// DeviceTotals are PA7 counters for one payment device (CA, DA, DB, TA...).
type DeviceTotals struct {
	Device string `json:"device"`
	Totals
}

// Event is an EA2 counter, with the EA1 occurrences of the same id.
type Event struct {
	ID          string   `json:"id"`
	CountReset  int64    `json:"count_reset"`
	CountInit   int64    `json:"count_init"`
	Active      bool     `json:"active"`
	Occurrences []string `json:"occurrences,omitempty"` // "YYYYMMDD HHMM"
}

// Report is the structured content of an audit file.
type Report struct {
	Machine      Machine   `json:"machine"`
	Decimals     int64     `json:"decimals"`
	Currency     string    `json:"currency,omitempty"`
	Clock        string    `json:"clock,omitempty"`
	Sales        Totals    `json:"sales"`      // VA1
	TestVends    Totals    `json:"test_vends"` // VA2
	FreeVends    Totals    `json:"free_vends"` // VA3
	Cash         Totals    `json:"cash"`       // CA2
	Cashless1    Totals    `json:"cashless_1"` // DA2
	Cashless2    Totals    `json:"cashless_2"` // DB2
	Products     []Product `json:"products"`
	Events       []Event   `json:"events"`
	Reads        int64     `json:"reads"`  // EA309
	Resets       int64     `json:"resets"` // EA310
	PowerOutages int64     `json:"power_outages_init"`
	Manufacturer []string  `json:"manufacturer,omitempty"` // MA5 as received
}

// ints reads the first elements as integers in one pass over the raw
// segment, allocating nothing: this is the parser's hot path (a snack
// machine sends hundreds of PA lines). Spaces are ignored; an element with
// any other non-digit reads as 0.
func ints(s Segment) (v [10]int64) {
	i := strings.IndexByte(s.Raw, '*')
	if i < 0 {
		return v
	}
	k, neg, bad := 0, false, false
	end := func() {
		if bad {
			v[k] = 0
		} else if neg {
			v[k] = -v[k]
		}
		k++
		neg, bad = false, false
	}
	for _, c := range []byte(s.Raw[i+1:]) {
		if k >= len(v) {
			return v
		}
		switch {
		case c == '*':
			end()
		case c >= '0' && c <= '9':
			v[k] = v[k]*10 + int64(c-'0')
		case c == '-':
			neg = true
		case c != ' ':
			bad = true
		}
	}
	if k < len(v) {
		end()
	}
	return v
}

func vt(s Segment) Totals { // value, count order (VA1, CA2, DA2)
	v := ints(s)
	return Totals{ValueInit: v[0], CountInit: v[1], ValueReset: v[2], CountReset: v[3]}
}

func nv(s Segment) Totals { // number, value order (PA2, PA3, PA4)
	v := ints(s)
	return Totals{CountInit: v[0], ValueInit: v[1], CountReset: v[2], ValueReset: v[3]}
}

func buildReport(f *File) Report {
	r := Report{Decimals: 2}
	n := 0
	for _, s := range f.Segments {
		if s.ID == "PA1" {
			n++
		}
	}
	r.Products = make([]Product, 0, n)
	var cur *Product
	events := map[string]*Event{}
	var order []string
	event := func(id string) *Event {
		if e, ok := events[id]; ok {
			return e
		}
		e := &Event{ID: id}
		events[id] = e
		order = append(order, id)
		return e
	}
	for _, s := range f.Segments {
		switch s.ID {
		case "ID1":
			r.Machine = Machine{Serial: s.El(1), Model: strings.TrimSpace(s.El(2)), Build: s.El(3), Location: s.El(4), Asset: s.El(6)}
		case "CB1":
			r.Machine.Software = strings.TrimSpace(s.El(3))
		case "ID4":
			if s.El(1) != "" {
				r.Decimals = s.Int(1)
			}
			r.Currency = s.El(3)
			if r.Currency == "" {
				r.Currency = s.El(2)
			}
		case "ID5":
			r.Clock = strings.TrimSpace(s.El(1) + " " + s.El(2))
		case "VA1":
			r.Sales = vt(s)
		case "VA2":
			r.TestVends = vt(s)
		case "VA3":
			r.FreeVends = vt(s)
		case "CA2":
			r.Cash = vt(s)
		case "DA2":
			r.Cashless1 = vt(s)
		case "DB2":
			r.Cashless2 = vt(s)
		case "PA1":
			r.Products = append(r.Products, Product{ID: strings.TrimSpace(s.El(1)), Price: s.Int(2), Name: s.El(3)})
			cur = &r.Products[len(r.Products)-1]
		case "PA2", "PA3", "PA4", "PA7":
			if cur == nil {
				f.warn(s.Line, "%s before any PA1", s.ID)
				continue
			}
			addProduct(cur, s)
		case "EA1":
			e := event(s.El(1))
			e.Occurrences = append(e.Occurrences, strings.TrimSpace(s.El(2)+" "+s.El(3)))
		case "EA2":
			e := event(s.El(1))
			e.CountReset, e.CountInit, e.Active = s.Int(2), s.Int(3), s.El(5) == "1"
		case "EA3":
			r.Reads, r.Resets = s.Int(9), s.Int(10)
		case "EA7":
			r.PowerOutages = s.Int(2)
		case "MA5":
			_, rest, _ := strings.Cut(s.Raw, "*")
			r.Manufacturer = append(r.Manufacturer, rest)
		}
		if s.ID == "EA1" || s.ID == "EA2" {
			if strings.TrimSpace(s.El(1)) == "" {
				f.warn(s.Line, "%s without an event id", s.ID)
			}
		}
	}
	for _, id := range order {
		r.Events = append(r.Events, *events[id])
	}
	return r
}

// addProduct folds PA2/PA3/PA4 and PA7 lines into the product; several PA7
// lines per device (price lists) are summed, never overwritten.
func addProduct(p *Product, s Segment) {
	switch s.ID {
	case "PA2":
		p.Paid = nv(s)
	case "PA3":
		p.Test = nv(s)
	case "PA4":
		p.Free = nv(s)
	case "PA7":
		v := ints(s)
		dev := s.El(2)
		i := 0
		for i < len(p.By) && p.By[i].Device != dev {
			i++
		}
		if i == len(p.By) {
			p.By = append(p.By, DeviceTotals{Device: dev})
		}
		t := &p.By[i].Totals
		t.CountInit += v[4]
		t.ValueInit += v[5]
		t.CountReset += v[6]
		t.ValueReset += v[7]
	}
}
