package simwall

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
)

// Frame is what the live view shows at one moment.
type Frame struct {
	// Listeners are the addresses people connect to (cash interface,
	// control API, dashboard), kept in the header.
	Listeners []string
	Status    []device.LineStatus
	Recent    []ViewEvent
	At        time.Duration
}

// ViewEvent is one line of the recent events; Alarm marks alarms and
// faults, which are coloured on a terminal.
type ViewEvent struct {
	Text  string
	Alarm bool
}

// Colours are for alarms and faults only (red) and lines out of service
// (yellow); NO_COLOR and non-terminals get none.
const (
	colourAlarm = "\x1b[31m"
	colourWarn  = "\x1b[33m"
	colourOff   = "\x1b[0m"
)

// wideView is the width from which the table shows every column.
const wideView = 100

// RenderFrame lays the view out for a terminal of width × height: one
// string per row, none wider than width, at most height-1 rows (the last
// row stays empty so the terminal never scrolls). Below 100 columns the
// table drops the flow and keg columns and narrows the product.
func RenderFrame(cfg *config.Config, f Frame, width, height int, colour bool) []string {
	width, height = max(width, 40), max(height, 10)
	rows := []string{fmt.Sprintf("tapagent sim — %s — device %d — t=%s", cfg.Device.Name, cfg.Device.ID, f.At.Truncate(100*time.Millisecond))}
	for _, l := range f.Listeners {
		rows = append(rows, "  "+l)
	}
	rows = append(rows, "")
	wide := width >= wideView
	if wide {
		rows = append(rows, fmt.Sprintf("%-4s %-12s %-10s %9s %10s %11s %9s %6s  %s",
			"LINE", "PRODUCT", "STATE", "FLOW", "POURED", "PRICE", "KEG", "FILL", "NOTE"))
	} else {
		rows = append(rows, fmt.Sprintf("%-4s %-8s %-10s %9s %11s %5s  %s", "LINE", "PRODUCT", "STATE", "POURED", "PRICE", "FILL", "NOTE"))
	}
	for _, s := range f.Status {
		state, fill, note := lineWords(s)
		var row string
		if wide {
			row = fmt.Sprintf("%-4d %-12s %-10s %9s %10s %11s %9s %6s  %s", s.Line, clip(s.Product, 12), state, mlps(s.FlowRate),
				s.Poured.String(), cfg.Device.Money(s.Amount), s.KegLeft.Litres(), fill, note)
		} else {
			row = fmt.Sprintf("%-4d %-8s %-10s %9s %11s %5s  %s", s.Line, clip(s.Product, 8), state,
				s.Poured.String(), cfg.Device.Money(s.Amount), fill, note)
		}
		row = clip(row, width)
		if colour && (s.Disabled != "" || s.Locked) {
			row = colourWarn + row + colourOff
		}
		rows = append(rows, row)
	}
	rows = append(rows, "", "RECENT EVENTS")
	room := height - 1 - len(rows)
	recent := f.Recent[max(0, len(f.Recent)-max(room, 1)):]
	for _, e := range recent {
		row := clip("  "+e.Text, width)
		if colour && e.Alarm {
			row = colourAlarm + row + colourOff
		}
		rows = append(rows, row)
	}
	for i, r := range rows {
		if !strings.HasPrefix(r, "\x1b") {
			rows[i] = clip(r, width)
		}
	}
	return rows
}

// lineWords are the state, fill and note a bar owner reads for a line:
// a keg that ran dry says so instead of a fill level the meter guessed,
// pour modes by their operators' names.
func lineWords(s device.LineStatus) (state, fill, note string) {
	state, fill = s.State, fmt.Sprintf("%d%%", s.KegPermille/10)
	note = s.Disabled
	if s.Disabled == "keg_empty" {
		state, fill, note = "keg empty", "dry", "change the keg"
	}
	if s.Locked {
		note = strings.TrimSpace("locked " + note)
	}
	if s.Closed != "" {
		note = strings.TrimSpace("closed " + note) // opening hours (SmartNow)
	}
	if s.Unbooked > 0 {
		note = strings.TrimSpace(fmt.Sprintf("%s %d unbooked", note, s.Unbooked))
	}
	if note == "" && s.Mode != "" {
		note = modeName(s.Mode)
	}
	return state, fill, note
}

// modeName names a pour mode as operators do: an open pour is paid by
// volume (or capped by a card's money), not free of charge.
func modeName(mode string) string {
	switch mode {
	case "free":
		return "open pour"
	case "portion":
		return "portion"
	case "cleaning":
		return "cleaning"
	case "calibration":
		return "calibration"
	}
	return mode
}

// clip cuts s to n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
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

// creditLeft is the detail of a card_charged event.
var creditLeft = regexp.MustCompile(`^credit (-?\d{1,18}) left$`)

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
	case device.EventPourBooked:
		if ev.Volume == 0 && (ev.Reason == string(flow.ReasonNoPour) || ev.Reason == string(flow.ReasonStopped)) {
			what = fmt.Sprintf("released without a pour (%s)", ev.PourID)
			break
		}
		what = fmt.Sprintf("%s %s booked: %s (charged %s) %s, ended by %s", ev.Kind, ev.PourID, ev.Volume.String(), ev.Charged.String(), money, ev.Reason)
	case device.EventVendBooked, device.EventPaymentBooked:
		what = fmt.Sprintf("%s %s: %s", ev.Type.Words(), ev.PourID, strings.TrimSpace(ev.Detail+" "+money))
	case device.EventPourRecovered:
		what = fmt.Sprintf("pour %s recovered after a crash: %s %s", ev.PourID, ev.Volume.String(), money)
	case device.EventUnattributedBooked:
		what = fmt.Sprintf("unattributed flow booked: %s", ev.Volume.String())
	case device.EventValveClosed:
		what = fmt.Sprintf("valve closed (%s) at %s", ev.Reason, ev.Volume.String())
	case device.EventPourAuthorised:
		what = fmt.Sprintf("%s %s authorised", modeName(ev.Mode), ev.PourID)
	case device.EventCardCharged:
		// The card tap states the credit left in minor units, as its
		// events do for scripts; a person reads it in the currency.
		what = "card charged " + money
		if m := creditLeft.FindStringSubmatch(ev.Detail); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			what += ": credit " + cfg.Device.Money(n) + " left"
		} else if ev.Detail != "" {
			what += ": " + ev.Detail
		}
	case device.EventMDBCashSale:
		what = fmt.Sprintf("pour %s (%s) reported to the card terminal as a sale paid another way, so its audit counts every sale", ev.PourID, money)
	case device.EventPourCheckpoint:
		what = fmt.Sprintf("checkpoint %s %s", ev.Volume.String(), money)
	case device.EventKegChanged, device.EventKegLow, device.EventKegEmpty:
		what = ev.Type.Words()
		if ev.Keg != nil {
			what += fmt.Sprintf(": %s left (%d%%)", ev.Keg.Remaining.Litres(), ev.Keg.FillPermille()/10)
		}
	case device.EventAlarm, device.EventAlarmCleared:
		kind := ""
		if ev.Alarm != nil {
			kind = ev.Alarm.Kind
		}
		what = fmt.Sprintf("%s %s: %s", ev.Type.Words(), kind, ev.Detail)
	default:
		what = ev.Type.Words()
		if ev.Amount != 0 {
			what += " " + money
		}
		if ev.Detail != "" {
			what += ": " + ev.Detail
		}
	}
	return ts + where + " " + what
}
