package simwall

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
)

// RenderView writes the per-line table and the latest events.
func RenderView(w io.Writer, cfg *config.Config, st []device.LineStatus, recent []string, at time.Duration) {
	fmt.Fprintf(w, "tapagent sim — %s — device %d — t=%s\n\n", cfg.Device.Name, cfg.Device.ID, at.Truncate(100*time.Millisecond))
	fmt.Fprintf(w, "%-4s %-10s %-9s %9s %10s %10s %11s %6s  %s\n",
		"LINE", "PRODUCT", "STATE", "FLOW", "POURED", "PRICE", "KEG", "FILL", "NOTE")
	for _, s := range st {
		note := s.Disabled
		if s.Locked {
			note = strings.TrimSpace("locked " + note)
		}
		if s.Unbooked > 0 {
			note = strings.TrimSpace(fmt.Sprintf("%s %d unbooked", note, s.Unbooked))
		}
		if note == "" && s.Mode != "" {
			note = s.Mode
		}
		fmt.Fprintf(w, "%-4d %-10s %-9s %9s %10s %10s %11s %5d%%  %s\n",
			s.Line, clip(s.Product, 10), s.State, mlps(s.FlowRate), ml(s.Poured),
			Money(s.Amount, cfg.Device.Decimals, cfg.Device.Currency), litres(s.KegLeft), s.KegPermille/10, note)
	}
	fmt.Fprintf(w, "\nRECENT EVENTS\n")
	for _, e := range recent {
		fmt.Fprintf(w, "  %s\n", e)
	}
}

func clip(s string, n int) string {
	if len([]rune(s)) > n {
		return string([]rune(s)[:n])
	}
	return s
}

func ml(v flow.Vol) string     { return fmt.Sprintf("%d.%d mL", v/10, abs(v%10)) }
func mlps(v flow.Vol) string   { return fmt.Sprintf("%d.%d mL/s", v/10, abs(v%10)) }
func litres(v flow.Vol) string { return fmt.Sprintf("%d.%02d L", v/10000, abs(v%10000)/100) }

func abs(v flow.Vol) flow.Vol {
	if v < 0 {
		return -v
	}
	return v
}

// Money prints minor units with the currency's decimals: 1234, 2 -> "12.34 EUR".
func Money(minor int64, decimals int, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	if decimals <= 0 {
		return fmt.Sprintf("%s%d %s", sign, minor, currency)
	}
	div := int64(1)
	for i := 0; i < decimals; i++ {
		div *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, minor/div, decimals, minor%div, currency)
}

// describe is the one-line human form of an event.
func describe(ev device.Event, cfg *config.Config) string {
	ts := ev.Time.Format("15:04:05.000")
	where := ""
	if ev.Line > 0 {
		where = fmt.Sprintf(" line %d", ev.Line)
	}
	money := Money(ev.Amount, cfg.Device.Decimals, cfg.Device.Currency)
	var what string
	switch ev.Type {
	case device.EventPourBooked:
		what = fmt.Sprintf("%s %s booked: %s (charged %s) %s, ended by %s", ev.Kind, ev.PourID, ml(ev.Volume), ml(ev.Charged), money, ev.Reason)
	case device.EventVendBooked, device.EventPaymentBooked:
		what = fmt.Sprintf("%s %s: %s", ev.Type.Words(), ev.PourID, strings.TrimSpace(ev.Detail+" "+money))
	case device.EventPourRecovered:
		what = fmt.Sprintf("pour %s recovered after a crash: %s %s", ev.PourID, ml(ev.Volume), money)
	case device.EventUnattributedBooked:
		what = fmt.Sprintf("unattributed flow booked: %s", ml(ev.Volume))
	case device.EventValveClosed:
		what = fmt.Sprintf("valve closed (%s) at %s", ev.Reason, ml(ev.Volume))
	case device.EventPourAuthorised:
		what = fmt.Sprintf("%s pour %s authorised", ev.Mode, ev.PourID)
	case device.EventPourCheckpoint:
		what = fmt.Sprintf("checkpoint %s %s", ml(ev.Volume), money)
	case device.EventKegChanged, device.EventKegLow, device.EventKegEmpty:
		what = ev.Type.Words()
		if ev.Keg != nil {
			what += fmt.Sprintf(": %s left (%d%%)", litres(ev.Keg.Remaining), ev.Keg.FillPermille()/10)
		}
	case device.EventAlarm, device.EventAlarmCleared:
		kind := ""
		if ev.Alarm != nil {
			kind = ev.Alarm.Kind
		}
		what = fmt.Sprintf("%s %s: %s", ev.Type.Words(), kind, ev.Detail)
	default:
		what = ev.Type.Words()
		if ev.Detail != "" {
			what += ": " + ev.Detail
		}
	}
	return ts + where + " " + what
}
