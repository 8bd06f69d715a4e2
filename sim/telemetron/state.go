package telemetron

import "encoding/json"

// Location is a machine's location site.
type Location struct {
	ID      int64  `json:"id"`
	GroupID *int64 `json:"group_id,omitempty"`
	Name    string `json:"name"`
	Address string `json:"address"`
}

// VMType is a vending machine type from the reference's table
// (1 coffee, 2 snack, 3 combo, 4 other, 5 paired, 6 can).
type VMType struct {
	ID    int64  `json:"id"`
	Label string `json:"label"`
	Name  string `json:"name"`
}

// Modem is the Telemetron modem (for a tapagent machine: the agent)
// installed in a machine; a machine without one cannot be sent data
// requests.
type Modem struct {
	ID        int64  `json:"id"`
	IMEI      string `json:"imei"`
	Bus       string `json:"bus"`
	SWVersion string `json:"sw_version"`
	HWVersion string `json:"hw_version"`
}

// Machine is a vending machine as GET /v2/vending_machines/{id} shows it.
type Machine struct {
	ID              int64           `json:"id"`
	SerialNumber    string          `json:"serial_number"`
	Name            string          `json:"name"`
	PlanogramID     *int64          `json:"planogram_id"`
	State           int             `json:"state"`
	Service         map[string]bool `json:"service"`
	Location        *Location       `json:"location"`
	Type            *VMType         `json:"type"`
	Modem           *Modem          `json:"modem"`
	IsCRTActive     bool            `json:"is_crt_active"`
	InventoryNumber *string         `json:"inventory_number"`
}

// listed is a machine as the list shows it: the modem's IMEI instead of the modem.
type listed struct {
	ID              int64           `json:"id"`
	SerialNumber    string          `json:"serial_number"`
	Name            string          `json:"name"`
	PlanogramID     *int64          `json:"planogram_id"`
	State           int             `json:"state"`
	Service         map[string]bool `json:"service"`
	Location        *Location       `json:"location"`
	Type            *VMType         `json:"type"`
	IMEI            *string         `json:"imei"`
	IsCRTActive     bool            `json:"is_crt_active"`
	InventoryNumber *string         `json:"inventory_number"`
}

// Event is a stored machine event.
type Event struct {
	At      int64           `json:"at"` // epoch seconds
	Code    string          `json:"code"`
	Payload json.RawMessage `json:"payload"`
}

// Report is a stored EVA-DTS report: the raw bytes as the machine made
// them (Windows-1251, CRLF).
type Report struct {
	ID    int64  `json:"id"`
	At    int64  `json:"at"`
	Data  []byte `json:"data"`
	Port  int    `json:"port"`
	Valid bool   `json:"valid"`
}

// Level is one load level: a component, on a spiral for a product.
type Level struct {
	ComponentID  int64   `json:"component_id"`
	Value        int64   `json:"value"`
	LayoutNumber *string `json:"layout_number,omitempty"`
}

// operation is a stored refill or inventory, known by its device time.
type operation struct {
	Kind   string `json:"kind"` // loading or inventory
	At     int64  `json:"at"`
	Digest string `json:"digest"`
	Note   string `json:"note"`
	Data   []Line `json:"data"`
}

// Sale is a stored vend statistics row.
type Sale struct {
	At           int64  `json:"at"`
	LayoutNumber string `json:"layout_number"`
	Name         string `json:"name"`
	VendType     int    `json:"vend_type"`
	PaymentType  int    `json:"payment_type"`
	Price        int64  `json:"price"`
	Number       int64  `json:"number"`
	Value        int64  `json:"value"`
}

type request struct {
	ID     int64 `json:"id"`
	Report bool  `json:"report"`
	Config bool  `json:"config"`
}

type machineData struct {
	Machine        Machine         `json:"machine"`
	Events         []Event         `json:"events"`
	Reports        []Report        `json:"reports"`
	Loading        []Level         `json:"loading"`
	Operations     []operation     `json:"operations"`
	Sales          []Sale          `json:"sales"`
	Request        *request        `json:"request"`
	Config         json.RawMessage `json:"config"`
	LastService    *int64          `json:"lastService"`
	LastCollection *int64          `json:"lastCollection"`
}

func (md *machineData) init() {
	if md.Loading == nil {
		md.Loading = []Level{}
	}
}

type refreshTok struct {
	User    string `json:"user"`
	Expires int64  `json:"expires"`
}

// state is everything the emulator keeps; it is the state file's shape.
type state struct {
	Secret   []byte                 `json:"secret"`
	Refresh  map[string]refreshTok  `json:"refresh"`
	Revoked  map[string]int64       `json:"revoked"` // logged-out tokens until they expire
	Machines map[int64]*machineData `json:"machines"`
	NextID   int64                  `json:"nextId"`
}

func (st *state) id() int64 {
	st.NextID++
	return st.NextID
}
