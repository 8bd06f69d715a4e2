package web

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
)

// tapView is one line of the tap list, as the page and the live stream
// carry it: already formatted, so the browser only places text.
type tapView struct {
	Line     int    `json:"line"`
	Product  string `json:"product"`
	State    string `json:"state"`
	Flow     string `json:"flow"`
	Poured   string `json:"poured"`
	Price    string `json:"price"`
	KegL     string `json:"keg_l"`
	KegPct   string `json:"keg_pct"`
	KegFrac  string `json:"keg_frac"` // 0..1 for the <meter>
	Empty    string `json:"empty_in"`
	Alarms   string `json:"alarms"`
	Pouring  bool   `json:"pouring"`
	Disabled bool   `json:"disabled"`
}

// millilitres formats tenths of mL as whole mL.
func millilitres(v flow.Vol) string { return strconv.FormatInt(int64(v)/10, 10) + " mL" }

// emptyIn is the time to empty at today's rate: drawn today since
// midnight (or since the keg was tapped, if later).
func emptyIn(left, today flow.Vol, since time.Duration) string {
	if today <= 0 || since <= 0 || left <= 0 {
		return "–"
	}
	// left / (today/since), in seconds, without floats or overflow: both
	// volumes are well under 2^40 and since under a day.
	secs := int64(left) * int64(since/time.Second) / int64(today)
	d := time.Duration(secs) * time.Second
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%dh %02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// tapViews builds the tap list from the agent's status, the day's volume
// per line and the active alarms.
func (s *Server) tapViews(st []device.LineStatus, today map[int]flow.Vol, since time.Duration, alarms map[int][]string) []tapView {
	dev := s.d.Config.Device
	out := make([]tapView, 0, len(st))
	for _, l := range st {
		v := tapView{Line: l.Line, Product: l.Product, State: l.State, Pouring: l.PourID != "",
			Flow: fmt.Sprintf("%d.%d mL/s", l.FlowRate/10, l.FlowRate%10), Poured: millilitres(l.Poured),
			Price: flow.Money(l.Amount, dev.Decimals, dev.Currency), KegL: l.KegLeft.Litres(),
			KegPct: fmt.Sprintf("%d%%", l.KegPermille/10), KegFrac: fmt.Sprintf("%d.%03d", l.KegPermille/1000, l.KegPermille%1000),
			Empty: emptyIn(l.KegLeft, today[l.Line], since)}
		var a []string
		if l.Disabled != "" {
			a = append(a, "disabled: "+l.Disabled)
			v.Disabled = true
		}
		if l.Locked {
			a = append(a, "locked")
		}
		if l.Closed != "" {
			a = append(a, "closed: "+l.Closed)
		}
		for _, k := range alarms[l.Line] {
			if k != l.Disabled { // already said
				a = append(a, k)
			}
		}
		if l.Unbooked > 0 {
			a = append(a, fmt.Sprintf("%d booking(s) pending", l.Unbooked))
		}
		for i, x := range a {
			if i > 0 {
				v.Alarms += ", "
			}
			v.Alarms += x
		}
		out = append(out, v)
	}
	return out
}

// litresOf is flow.Vol.Litres for the templates: one formatter everywhere.
func litresOf(v flow.Vol) string { return v.Litres() }
