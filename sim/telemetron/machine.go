package telemetron

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/sim/cloudemu"
)

// decode reads a JSON body strictly; a bad body is the reference's 400
// with an errors array naming the body.
func decode(r *http.Request, v any) error {
	if err := cloudemu.DecodeJSON(r, v); err != nil {
		return badField("body", "invalid", "Bad request: %v", err)
	}
	return nil
}

func (s *Server) machine(r *http.Request) (*machineData, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, errf(http.StatusNotFound, "Vending machine not found")
	}
	md, ok := s.st.Machines[id]
	if !ok {
		return nil, errf(http.StatusNotFound, "Vending machine not found")
	}
	s.prune(md)
	return md, nil
}

func (s *Server) sortedMachines() []*machineData {
	out := make([]*machineData, 0, len(s.st.Machines))
	for _, md := range s.st.Machines {
		out = append(out, md)
	}
	slices.SortFunc(out, func(a, b *machineData) int { return cmp.Compare(a.Machine.ID, b.Machine.ID) })
	return out
}

func (s *Server) listMachines(*http.Request) (reply, error) {
	out := []listed{}
	for _, md := range s.sortedMachines() {
		m := md.Machine
		l := listed{ID: m.ID, SerialNumber: m.SerialNumber, Name: m.Name, PlanogramID: m.PlanogramID, State: m.State,
			Service: m.Service, Location: m.Location, Type: m.Type, IsCRTActive: m.IsCRTActive, InventoryNumber: m.InventoryNumber}
		if m.Modem != nil {
			l.IMEI = &m.Modem.IMEI
		}
		out = append(out, l)
	}
	return ok(out), nil
}

func (s *Server) getMachine(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	return ok(md.Machine), nil
}

type machinePut struct {
	Name            *string `json:"name"`
	MMID            *int64  `json:"mm_id"`
	SerialNumber    *string `json:"serial_number"`
	PlanogramID     *int64  `json:"planogram_id"`
	LocationID      *int64  `json:"location_id"`
	ModemID         *int64  `json:"modem_id"`
	IMEI            *int64  `json:"imei"`
	IsCRTActive     *bool   `json:"is_crt_active"`
	InventoryNumber *string `json:"inventory_number"`
}

// putMachine changes a machine's settings. The reference marks mm_id
// required but its own "name only" example omits it, so both are taken.
func (s *Server) putMachine(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var req machinePut
	if err := decode(r, &req); err != nil {
		return reply{}, err
	}
	if req.Name != nil && len([]rune(*req.Name)) > 255 {
		return reply{}, invalid("name", "The name may not be greater than 255 characters.")
	}
	m := &md.Machine
	if req.Name != nil {
		m.Name = *req.Name
	}
	if req.SerialNumber != nil {
		m.SerialNumber = *req.SerialNumber
	}
	if req.PlanogramID != nil {
		m.PlanogramID = req.PlanogramID
	}
	if req.IsCRTActive != nil {
		m.IsCRTActive = *req.IsCRTActive
	}
	if req.InventoryNumber != nil {
		m.InventoryNumber = req.InventoryNumber
	}
	return ok(map[string]bool{"res": true}), nil
}

type eventCode struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Desc string `json:"desc"`
}

// eventCodes is a sample of the directory; events with other codes of
// the EVA-DTS form are stored as well.
func (s *Server) eventCodes(*http.Request) (reply, error) {
	return ok([]eventCode{
		{"EA", "Coin Mechanism", "COIN MECHANISM: General non-specific Coin Mechanism fault."},
		{"EA1A", "Cassette Removed", "COIN MECHANISM: The coin storage cassette has been removed unexpectedly."},
		{"EB", "Bill Validator", "BILL VALIDATOR: General non-specific Bill Validator fault."},
		{"EG", "Door", "DOOR: Door open or door switch fault."},
		{"EK", "Cashless", "CASHLESS: General non-specific cashless device fault."},
	}), nil
}

func (s *Server) vmModels(*http.Request) (reply, error) {
	return ok([]map[string]any{{"id": 52, "name": "model not specified"}}), nil
}

// Service flags the reference lists.
var serviceFlags = []string{"low_change", "need_loading", "no_recent_sales", "no_bills_in", "no_coins_in"}

type stateReq struct {
	State   *int            `json:"state"`
	Service map[string]bool `json:"service"`
}

// postState is the machine's state document (assumed): the operating
// state (0 unknown, 1 operating, 2 out of service, 3 no GSM) and the
// service flags, set when true.
func (s *Server) postState(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var req stateReq
	if err := decode(r, &req); err != nil {
		return reply{}, err
	}
	if req.State == nil || *req.State < 0 || *req.State > 3 {
		return reply{}, invalid("state", "The state must be 0, 1, 2 or 3.")
	}
	service := map[string]bool{}
	for k, v := range req.Service {
		if !slices.Contains(serviceFlags, k) {
			return reply{}, invalid("service."+k, "Unknown service flag.")
		}
		if v {
			service[k] = true
		}
	}
	md.Machine.State = *req.State
	md.Machine.Service = nil
	if len(service) > 0 {
		md.Machine.Service = service
	}
	return ok(map[string]bool{"res": true}), nil
}

type timestamps struct {
	LastSale           *string `json:"last_sale"`
	LastService        *string `json:"last_service"`
	LastCollection     *string `json:"last_collection"`
	LastLoading        *string `json:"last_loading"`
	LastReport         *string `json:"last_report"`
	LastAcquiredReport *string `json:"last_acquired_report"`
}

func (s *Server) stampPtr(at *int64) *string {
	if at == nil {
		return nil
	}
	v := s.stamp(time.Unix(*at, 0))
	return &v
}

func latest(at *int64, t int64) *int64 {
	if at == nil || t > *at {
		return &t
	}
	return at
}

func (s *Server) getTimestamp(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var sale, loading, valid, acquired *int64
	for _, v := range md.Sales {
		sale = latest(sale, v.At)
	}
	for _, op := range md.Operations {
		loading = latest(loading, op.At)
	}
	for _, rep := range md.Reports {
		acquired = latest(acquired, rep.At)
		if rep.Valid {
			valid = latest(valid, rep.At)
		}
	}
	return ok(timestamps{LastSale: s.stampPtr(sale), LastService: s.stampPtr(md.LastService),
		LastCollection: s.stampPtr(md.LastCollection), LastLoading: s.stampPtr(loading),
		LastReport: s.stampPtr(valid), LastAcquiredReport: s.stampPtr(acquired)}), nil
}

type timestampReq struct {
	LastService    *string `json:"last_service"`
	LastCollection *string `json:"last_collection"`
}

// postTimestamp takes the times the emulator cannot derive from the
// machine's other documents (assumed): last service and cash collection.
func (s *Server) postTimestamp(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var req timestampReq
	if err := decode(r, &req); err != nil {
		return reply{}, err
	}
	for _, f := range []struct {
		name string
		v    *string
		dst  **int64
	}{{"last_service", req.LastService, &md.LastService}, {"last_collection", req.LastCollection, &md.LastCollection}} {
		if f.v == nil {
			continue
		}
		t, err := parseTime(*f.v)
		if err != nil {
			return reply{}, invalid(f.name, err.Error())
		}
		*f.dst = latest(*f.dst, t.Unix())
	}
	return ok(map[string]bool{"res": true}), nil
}

type requestReply struct {
	RequestID int64 `json:"request_id"`
	Progress  bool  `json:"progress,omitempty"`
}

// postRequest asks the machine for data. Any value of "report" or
// "config" asks for it; the open request is one per machine and merges
// the flags, keeping its id.
func (s *Server) postRequest(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var req map[string]json.RawMessage
	if err := decode(r, &req); err != nil {
		return reply{}, err
	}
	_, report := req["report"]
	_, config := req["config"]
	for k := range req {
		if k != "report" && k != "config" {
			return reply{}, invalid(k, "Unknown data type; report and config can be requested.")
		}
	}
	if !report && !config {
		return reply{}, badField("report", "missing", "Nothing requested: report or config")
	}
	if md.Machine.Modem == nil {
		return reply{}, errf(http.StatusBadRequest, "Vending machine has no modem")
	}
	if md.Request == nil {
		md.Request = &request{ID: s.st.id()}
	}
	progress := (report && md.Request.Report) || (config && md.Request.Config)
	md.Request.Report = md.Request.Report || report
	md.Request.Config = md.Request.Config || config
	return ok(requestReply{RequestID: md.Request.ID, Progress: progress}), nil
}

// getRequest: 200 {progress: true} while the request is open, 404 once
// the machine has fulfilled it (or for an id never issued).
func (s *Server) getRequest(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	id, err := strconv.ParseInt(r.PathValue("request"), 10, 64)
	if err != nil || md.Request == nil || md.Request.ID != id {
		return reply{}, errf(http.StatusNotFound, "Not found")
	}
	return ok(map[string]bool{"progress": true}), nil
}

type openReply struct {
	RequestID int64 `json:"request_id"`
	Report    bool  `json:"report"`
	Config    bool  `json:"config"`
}

// openRequest is the machine's poll (assumed): its open request, or 404.
func (s *Server) openRequest(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	if md.Request == nil {
		return reply{}, errf(http.StatusNotFound, "Not found")
	}
	return ok(openReply{RequestID: md.Request.ID, Report: md.Request.Report, Config: md.Request.Config}), nil
}

// fulfil clears a flag of the open request; a request with no flag left is done.
func (md *machineData) fulfil(report, config bool) {
	if md.Request == nil {
		return
	}
	md.Request.Report = md.Request.Report && !report
	md.Request.Config = md.Request.Config && !config
	if !md.Request.Report && !md.Request.Config {
		md.Request = nil
	}
}

func (s *Server) getConfig(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	if md.Config == nil {
		return reply{}, errf(http.StatusNotFound, "Not found")
	}
	return ok(md.Config), nil
}

// postConfig stores the machine's configuration snapshot (assumed) and
// fulfils a config request.
func (s *Server) postConfig(r *http.Request) (reply, error) {
	md, err := s.machine(r)
	if err != nil {
		return reply{}, err
	}
	var req map[string]json.RawMessage
	if err := decode(r, &req); err != nil {
		return reply{}, err
	}
	raw, _ := json.Marshal(req)
	md.Config = raw
	md.fulfil(false, true)
	return created(map[string]bool{"res": true}), nil
}

// Machine returns a copy of a machine as stored, for tests.
func (s *Server) Machine(id int64) (Machine, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.st.Machines[id]
	if !ok {
		return Machine{}, false
	}
	return md.Machine, true
}

// modemDoc is a modem as /v2/modems shows it.
type modemDoc struct {
	ID          int64   `json:"id"`
	IMEI        string  `json:"imei"`
	HWVersion   *string `json:"hw_version"`
	BootVersion *string `json:"boot_version"`
	Firmware    *string `json:"firmware"`
	Phone       *string `json:"phone"`
}

func asModemDoc(m *Modem) modemDoc {
	return modemDoc{ID: m.ID, IMEI: m.IMEI, HWVersion: nonEmpty(m.HWVersion), Firmware: nonEmpty(m.SWVersion)}
}

func nonEmpty(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// listModems lists the machines' modems (a tapagent machine's modem is
// the agent itself: it has no boot version or phone number).
func (s *Server) listModems(*http.Request) (reply, error) {
	out := []modemDoc{}
	for _, md := range s.sortedMachines() {
		if md.Machine.Modem != nil {
			out = append(out, asModemDoc(md.Machine.Modem))
		}
	}
	return ok(out), nil
}

func (s *Server) getModem(r *http.Request) (reply, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, md := range s.sortedMachines() {
		if m := md.Machine.Modem; err == nil && m != nil && m.ID == id {
			return ok(asModemDoc(m)), nil
		}
	}
	return reply{}, errf(http.StatusNotFound, "Modem not found")
}
