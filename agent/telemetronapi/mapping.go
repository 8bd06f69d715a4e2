package telemetronapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/history"
)

// Mapping builds Telemetron's documents from the agent's records. The
// uplink to Telemetron sends the same documents; both must use one
// mapping.
type Mapping interface {
	// HistoryEvent is the event of a history entry (an alarm), if any.
	HistoryEvent(e history.Entry) (Event, bool)
	// LogEvent is the event of a durable-log event that the history does
	// not hold (a power-up, a keg low or empty by the registry), if any.
	LogEvent(ev device.Event) (Event, bool)
	// Vend is the vend statistics row of a history entry, if it is a vend.
	Vend(e history.Entry) (Vend, bool)
	// Loading is the load level of each keg.
	Loading(kegs []device.KegInfo) []Level
	// State is the operating state and the service flags that are set.
	State(kegs []device.KegInfo, lastSale, now time.Time) (int, map[string]bool)
}

// Event is a machine event: an EVA-DTS style code and its metadata.
type Event struct {
	At      time.Time
	Code    string
	Payload []any
}

// Vend is one vend statistics row.
type Vend struct {
	At           time.Time
	LayoutNumber string
	Name         string
	VendType     int
	// PaymentType is 0 for a vend nobody paid for (test, free).
	PaymentType int
	Price       int64
	Number      int64
	Value       int64
}

// Level is one load level: a keg is a component in mL on its line.
type Level struct {
	ComponentID  int64   `json:"component_id"`
	Value        int64   `json:"value"`
	LayoutNumber *string `json:"layout_number,omitempty"`
}

// Vend types and payment types, as the reference numbers them where it
// shows them (vend_type 3 paid, payment_type 1 cash) and in the order of
// its enums elsewhere (assumed).
const (
	VendTest = 1
	VendFree = 2
	VendPaid = 3

	PayCash     = 1
	PayCashless = 2
	PayToken    = 3
)

// Operating states.
const (
	StateOperating    = 1
	StateOutOfService = 2
)

// noRecentSales is how long without a paid sale sets no_recent_sales
// (assumed: the reference names the flag, not its period).
const noRecentSales = 24 * time.Hour

// agentMapping is the agent's own mapping, used until the uplink's
// package provides one.
type agentMapping struct{}

func (agentMapping) HistoryEvent(e history.Entry) (Event, bool) {
	if e.Kind != history.KindAlarm {
		return Event{}, false
	}
	code := evadts.EventID(e.Reason, e.Line)
	if code == "" {
		return Event{}, false
	}
	cleared := strings.HasPrefix(e.Detail, "cleared: ")
	return Event{At: e.Time, Code: code, Payload: []any{map[string]any{"line": e.Line, "alarm": e.Reason,
		"active": !cleared, "detail": strings.TrimPrefix(e.Detail, "cleared: ")}}}, true
}

func (agentMapping) LogEvent(ev device.Event) (Event, bool) {
	var code string
	switch ev.Type {
	case device.EventAgentStarted:
		code = evadts.EventID("power_up", 0)
	case device.EventKegLow, device.EventKegEmpty:
		code = evadts.EventID(string(ev.Type), ev.Line)
	default:
		return Event{}, false
	}
	return Event{At: ev.Time, Code: code, Payload: []any{map[string]any{"line": ev.Line, "event": string(ev.Type), "detail": ev.Detail}}}, true
}

func (agentMapping) Vend(e history.Entry) (Vend, bool) {
	v := Vend{At: e.Time, LayoutNumber: strconv.Itoa(e.Line), Name: e.Product, Number: 1, Price: e.Amount, Value: e.Amount}
	switch e.Kind {
	case history.KindCleaning, history.KindCalibration:
		v.VendType = VendTest
	case history.KindPour, history.KindVend:
		v.VendType = VendPaid
		if e.Amount == 0 {
			v.VendType = VendFree
		}
	default:
		return Vend{}, false
	}
	if e.Kind != history.KindVend && e.Volume <= 0 {
		return Vend{}, false // a pour of nothing is not a vend
	}
	if v.Name == "" {
		v.Name = "line " + v.LayoutNumber
	}
	if v.VendType == VendPaid {
		switch e.Payment {
		case history.PayRegister:
			v.PaymentType = PayCash
		default:
			v.PaymentType = PayCashless
		}
	}
	return v, true
}

func (agentMapping) Loading(kegs []device.KegInfo) []Level {
	out := make([]Level, 0, len(kegs))
	for _, k := range kegs {
		id := int64(k.PLU)
		if id == 0 {
			id = int64(k.Line)
		}
		layout := strconv.Itoa(k.Line)
		out = append(out, Level{ComponentID: id, Value: int64(max(k.Keg.Remaining, 0)) / 10, LayoutNumber: &layout})
	}
	return out
}

func (agentMapping) State(kegs []device.KegInfo, lastSale, now time.Time) (int, map[string]bool) {
	state := StateOutOfService
	service := map[string]bool{}
	for _, k := range kegs {
		if !k.Locked && k.Disabled == "" {
			state = StateOperating
		}
		if k.Keg.Low || k.Keg.Empty || k.Keg.Kicked {
			service["need_loading"] = true
		}
	}
	if lastSale.IsZero() || now.Sub(lastSale) > noRecentSales {
		service["no_recent_sales"] = true
	}
	return state, service
}
