package evadts

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/storage"
)

// Pair is a count and a value (minor units).
type Pair struct {
	Count int64 `json:"n"`
	Value int64 `json:"v"`
}

// Split is a counter since initialisation and since the last reset.
type Split struct {
	Init  Pair `json:"init"`
	Reset Pair `json:"reset"`
}

func (s *Split) add(value int64) {
	s.Init.Count++
	s.Init.Value += value
	s.Reset.Count++
	s.Reset.Value += value
}

// ProductCounters are one product's counters.
type ProductCounters struct {
	Name  string `json:"name"`
	Price int64  `json:"price"` // last unit price seen, for PA102
	Paid  Split  `json:"paid"`
	Test  Split  `json:"test"`
	Free  Split  `json:"free"`
	// Volume in mL×10 since init and since reset (manufacturer segment).
	VolInit  int64 `json:"vol_init"`
	VolReset int64 `json:"vol_reset"`
}

// EventCounters are one event's counters.
type EventCounters struct {
	Init   int64   `json:"init"`
	Reset  int64   `json:"reset"`
	Active bool    `json:"active"`
	Recent []int64 `json:"recent,omitempty"` // epoch ms of the latest occurrences
}

// ReadInfo is one read-out of the audit.
type ReadInfo struct {
	At       int64  `json:"at"`
	Terminal string `json:"terminal"`
}

// State is the whole audit, one document in the "audit" bucket.
type State struct {
	InitAt     int64                     `json:"init_at"`
	Products   map[int]*ProductCounters  `json:"products"`
	Pay        map[string]*Split         `json:"pay"` // CA cash, DA cashless 1 (MDB), DB cashless 2 (cards)
	Sales      Split                     `json:"sales"`
	Test       Split                     `json:"test"`
	Free       Split                     `json:"free"`
	Events     map[string]*EventCounters `json:"events"`
	Reads      int64                     `json:"reads"`
	ReadResets int64                     `json:"read_resets"`
	LastRead   ReadInfo                  `json:"last_read"`
	PrevRead   ReadInfo                  `json:"prev_read"`
	PowerInit  int64                     `json:"power_init"`
	PowerReset int64                     `json:"power_reset"`
	LeakInit   int64                     `json:"leak_ml10_init"`
	LeakReset  int64                     `json:"leak_ml10_reset"`
}

// AuditBucket is the storage bucket of the counters and kept reports.
const AuditBucket = "audit"

var stateKey = []byte("state")

func loadState(b storage.Bucket, now time.Time) (*State, error) {
	st := &State{Products: map[int]*ProductCounters{}, Pay: map[string]*Split{}, Events: map[string]*EventCounters{}}
	if raw := b.Get(stateKey); raw != nil {
		if err := json.Unmarshal(raw, st); err != nil {
			return nil, fmt.Errorf("audit state: %w", err)
		}
	}
	if st.InitAt == 0 {
		st.InitAt = now.UnixMilli()
	}
	return st, nil
}

func saveState(b storage.Bucket, st *State) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return b.Put(stateKey, raw)
}

// Audit keeps the counters. It is safe for concurrent use: all changes
// run on the storage writer.
type Audit struct {
	st  *storage.Store
	now func() time.Time
}

// NewAudit opens the audit counters in the agent's store.
func NewAudit(st *storage.Store, now func() time.Time) *Audit {
	if now == nil {
		now = time.Now
	}
	return &Audit{st: st, now: now}
}

// Payment device of a record, by how it was paid.
func payDevice(r storage.Record) string {
	if r.Ref.Reservation != "" {
		return "CA" // a cash-register credit: the register takes the money
	}
	switch r.Ref.CardType {
	case "", "33":
		return "CA" // open pour, paid at the bar
	case "61", "62":
		return "DA" // MDB cashless device 1
	}
	return "DB" // cards and online accounts
}

// Settle is the counter update committed with a booking.
func (a *Audit) Settle(r storage.Record) []storage.Change {
	now := a.now()
	return []storage.Change{{Bucket: AuditBucket, Apply: func(b storage.Bucket) error {
		st, err := loadState(b, now)
		if err != nil {
			return err
		}
		count(st, r)
		return saveState(b, st)
	}}}
}

// count applies one booked record to the counters.
func count(st *State, r storage.Record) {
	p := r.Pour
	if r.Kind == storage.KindUnattributed {
		st.LeakInit += int64(p.Volume)
		st.LeakReset += int64(p.Volume)
		return
	}
	if r.Kind == storage.KindCardPurchase || p.Volume <= 0 && p.Amount <= 0 {
		return // not a vend; a payment a terminal kept without beer still is one
	}
	pc := st.Products[r.PLU]
	if pc == nil {
		pc = &ProductCounters{}
		st.Products[r.PLU] = pc
	}
	pc.Name = r.Product
	pc.VolInit += int64(p.Volume)
	pc.VolReset += int64(p.Volume)
	switch {
	case r.Kind == storage.KindCleaning || r.Kind == storage.KindCalibration:
		pc.Test.add(0)
		st.Test.add(0)
	case p.Amount == 0:
		pc.Free.add(0)
		st.Free.add(0)
	default:
		if p.Auth.Mode.String() == "portion" {
			pc.Price = p.Auth.PortionPrice
		} else {
			pc.Price = p.Auth.Price.Amount(5000) // per 0.5 L, the usual glass
		}
		pc.Paid.add(p.Amount)
		st.Sales.add(p.Amount)
		dev := payDevice(r)
		if st.Pay[dev] == nil {
			st.Pay[dev] = &Split{}
		}
		st.Pay[dev].add(p.Amount)
	}
}

// Event records an alarm raised (active) or cleared, or a power-up.
func (a *Audit) Event(id string, active bool, done func(error)) {
	now := a.now()
	a.st.UpdateAsync(AuditBucket, func(b storage.Bucket) error {
		st, err := loadState(b, now)
		if err != nil {
			return err
		}
		if id == "OCF" {
			st.PowerInit++
			st.PowerReset++
		}
		e := st.Events[id]
		if e == nil {
			e = &EventCounters{}
			st.Events[id] = e
		}
		if active {
			e.Init++
			e.Reset++
			e.Recent = append(e.Recent, now.UnixMilli())
			if len(e.Recent) > 5 {
				e.Recent = e.Recent[len(e.Recent)-5:]
			}
		}
		e.Active = active && id != "OCF"
		return saveState(b, st)
	}, done)
}

// EventID maps an agent alarm (kind, line) to an EVA-DTS event id
// (Appendix C; beer and cold drinks, table 8).
func EventID(kind string, line int) string {
	suffix := "_" + strconv.Itoa(line)
	switch kind {
	case "leak":
		return "EHM" + suffix // CO2/water leak
	case "keg_empty":
		return "ELB" + suffix // sold out
	case "keg_low":
		return "ELE" + suffix // product at low level
	case "no_flow", "valve_fault":
		return "ELA" + suffix // delivery failure
	case "door_open":
		return "EGS"
	case "power_up":
		return "OCF"
	case "reader_fault":
		return "EKA"
	case "mdb_fault":
		return "EAU"
	case "co2_low":
		return "EHK"
	}
	return ""
}

// IdentityFrom builds the report identity from the configuration.
func IdentityFrom(cfg *config.Config, software string) Identity {
	a := cfg.Audit
	comm := a.CommID
	if comm == "" {
		comm = fmt.Sprintf("TAP%07d", cfg.Device.ID%10_000_000)
	}
	serial := a.Serial
	if serial == "" {
		serial = comm
	}
	loc := a.Location
	if loc == "" {
		loc = cfg.Device.Name
	}
	return Identity{CommID: comm, Serial: serial, Model: a.Model, Build: "1", Location: loc, Asset: a.Asset,
		Software: software, Decimals: cfg.Device.Decimals, CurrencyNum: a.CurrencyNum, Currency: cfg.Device.Currency,
		Charset: a.Charset}
}
