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
			s.Line, clip(s.Product, 10), s.State, mlps(s.FlowRate), s.Poured.String(),
			cfg.Device.Money(s.Amount), s.KegLeft.Litres(), s.KegPermille/10, note)
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

func mlps(v flow.Vol) string { return fmt.Sprintf("%d.%d mL/s", v/10, abs(v%10)) }

func abs(v flow.Vol) flow.Vol {
	if v < 0 {
		return -v
	}
	return v
}

// describe is the one-line human form of an event.
func describe(ev device.Event, cfg *config.Config) string {
	ts := ev.Time.Format("15:04:05.000")
	where := ""
	if ev.Line > 0 {
		where = fmt.Sprintf(" line %d", ev.Line)
	}
	money := cfg.Device.Money(ev.Amount)
	var what string
	switch ev.Type {
	case device.EvBooked:
		what = fmt.Sprintf("%s %s booked: %s (charged %s) %s, ended by %s", ev.Kind, ev.PourID, ev.Volume.String(), ev.Charged.String(), money, ev.Reason)
	case device.EvVend, device.EvPayment:
		what = fmt.Sprintf("%s %s: %s", strings.ReplaceAll(ev.Type, "_", " "), ev.PourID, strings.TrimSpace(ev.Detail+" "+money))
	case device.EvRecovered:
		what = fmt.Sprintf("pour %s recovered after a crash: %s %s", ev.PourID, ev.Volume.String(), money)
	case device.EvUnattributed:
		what = fmt.Sprintf("unattributed flow booked: %s", ev.Volume.String())
	case device.EvValveClosed:
		what = fmt.Sprintf("valve closed (%s) at %s", ev.Reason, ev.Volume.String())
	case device.EvAuthorised:
		what = fmt.Sprintf("%s pour %s authorised", ev.Mode, ev.PourID)
	case device.EvCheckpoint:
		what = fmt.Sprintf("checkpoint %s %s", ev.Volume.String(), money)
	case device.EvKegChanged, device.EvKegLow, device.EvKegEmpty:
		what = strings.ReplaceAll(ev.Type, "_", " ")
		if ev.Keg != nil {
			what += fmt.Sprintf(": %s left (%d%%)", ev.Keg.Remaining.Litres(), ev.Keg.FillPermille()/10)
		}
	case device.EvAlarm, device.EvAlarmCleared:
		kind := ""
		if ev.Alarm != nil {
			kind = ev.Alarm.Kind
		}
		what = fmt.Sprintf("%s %s: %s", strings.ReplaceAll(ev.Type, "_", " "), kind, ev.Detail)
	default:
		what = strings.ReplaceAll(ev.Type, "_", " ")
		if ev.Detail != "" {
			what += ": " + ev.Detail
		}
	}
	return ts + where + " " + what
}
