package smartnow

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
)

func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, errf(http.StatusBadRequest, "%s must be a positive integer, not %q", name, v)
	}
	return n, nil
}

// machineLocked finds a machine by id; mu held.
func (s *Server) machineLocked(id int64) (*Machine, error) {
	for _, m := range s.st.Machines {
		if m.ID == id {
			return m, nil
		}
	}
	return nil, errf(http.StatusNotFound, "machine %d not found", id)
}

func (s *Server) machineByHostname(h string) (*Machine, error) {
	for _, m := range s.st.Machines {
		if m.Hostname == h {
			return m, nil
		}
	}
	return nil, errf(http.StatusNotFound, "no machine with hostname %q", h)
}

func (s *Server) pathMachine(r *http.Request) (*Machine, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.machineLocked(id)
}

func (s *Server) listMachines(r *http.Request) (int, any, error) {
	return list(r, s.st.Machines, capped)
}

func (s *Server) getMachine(r *http.Request) (int, any, error) {
	m, err := s.pathMachine(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, m, nil
}

type machineReq struct {
	Name          *string `json:"name"`
	Hostname      *string `json:"hostname"`
	Location      *int64  `json:"location"`
	MachineModel  *int64  `json:"machineModel"`
	MachineType   *int64  `json:"machineType"`
	Manufacturer  *int64  `json:"manufacturer"`
	Currency      *int64  `json:"currency"`
	Debtor        int64   `json:"debtor"`
	Tag           string  `json:"tag"`
	VirtualPrices bool    `json:"virtualPrices"`
	Active        *bool   `json:"active"`
	MachineGroups []int64 `json:"machineGroups"`
}

// hostnameRE is an RFC 1123 host name label or dotted name.
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

func (s *Server) createMachine(r *http.Request) (int, any, error) {
	var req machineReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{{"name", req.Name == nil}, {"hostname", req.Hostname == nil}, {"location", req.Location == nil},
		{"machineModel", req.MachineModel == nil}, {"machineType", req.MachineType == nil},
		{"manufacturer", req.Manufacturer == nil}, {"currency", req.Currency == nil}} {
		if f.missing {
			return 0, nil, errf(http.StatusBadRequest, "%s is required", f.name)
		}
	}
	if !hostnameRE.MatchString(*req.Hostname) {
		return 0, nil, errf(http.StatusBadRequest, "hostname %q is not a host name", *req.Hostname)
	}
	if _, err := s.machineByHostname(*req.Hostname); err == nil {
		return 0, nil, errf(http.StatusConflict, "hostname %q is taken", *req.Hostname)
	}
	now := s.stamp()
	m := &Machine{ID: s.st.id(), Name: *req.Name, Hostname: *req.Hostname, Location: *req.Location,
		MachineModel: *req.MachineModel, MachineType: *req.MachineType, Manufacturer: *req.Manufacturer,
		Currency: *req.Currency, Debtor: req.Debtor, Tag: req.Tag, VirtualPrices: b2i(req.VirtualPrices),
		Active: b2i(req.Active == nil || *req.Active), CreatedAt: now, UpdatedAt: now, ConfigState: "applied"}
	s.st.Machines = append(s.st.Machines, m)
	return http.StatusCreated, map[string]int64{"id": m.ID}, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// configBody is the reference's machine configuration update: the
// configuration text and the connection settings beside it.
type configBody struct {
	Config        *string `json:"config"`
	Mode          *string `json:"mode"`
	SSID          *string `json:"ssid"`
	Encryption    *string `json:"encryption"`
	EncryptionKey *string `json:"encryptionKey"`
	APN           *string `json:"apn"`
	Sharing       *string `json:"sharing"`
	Machine       *int64  `json:"machine"`
}

// ConfigFields are the settings the reference keeps beside a machine's
// configuration text.
type ConfigFields struct {
	Name          string `json:"name"`
	APN           string `json:"apn"`
	Sharing       string `json:"sharing"`
	Mode          string `json:"mode"`
	Encryption    string `json:"encryption"`
	EncryptionKey string `json:"encryptionKey"`
	SSID          string `json:"ssid"`
}

// configReply is GET /machine/hostname/{hostname}/config as the reference
// shows it.
type configReply struct {
	ID     int64  `json:"id"`
	Config string `json:"config"`
	ConfigFields
}

func (s *Server) getConfig(r *http.Request) (int, any, error) {
	m, err := s.machineByHostname(r.PathValue("hostname"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, configReply{ID: m.ID, Config: s.st.Configs[m.ID], ConfigFields: s.st.ConfigFields[m.ID]}, nil
}

// putConfig stores a machine's configuration (the fields given; the
// others keep their values); the machine's configState then reads
// "scheduled" (the reference's only documented value; the emulator does
// not move it: the agent reports an applied configuration as a log).
func (s *Server) putConfig(r *http.Request) (int, any, error) {
	m, err := s.machineByHostname(r.PathValue("hostname"))
	if err != nil {
		return 0, nil, err
	}
	var req configBody
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Machine != nil && *req.Machine != m.ID {
		return 0, nil, errf(http.StatusBadRequest, "machine %d is not the machine with hostname %q", *req.Machine, m.Hostname)
	}
	f := s.st.ConfigFields[m.ID]
	for _, set := range []struct {
		from *string
		to   *string
	}{{req.Mode, &f.Mode}, {req.SSID, &f.SSID}, {req.Encryption, &f.Encryption}, {req.EncryptionKey, &f.EncryptionKey},
		{req.APN, &f.APN}, {req.Sharing, &f.Sharing}} {
		if set.from != nil {
			*set.to = *set.from
		}
	}
	s.st.ConfigFields[m.ID] = f
	if req.Config != nil {
		s.st.Configs[m.ID] = *req.Config
	}
	m.ConfigState, m.UpdatedAt = "scheduled", s.stamp()
	return http.StatusOK, message("configuration stored"), nil
}

func message(m string) map[string]string { return map[string]string{"message": m} }

func (s *Server) machineProducts(id int64) []*Product {
	var out []*Product
	for _, p := range s.st.Products {
		if p.Machine == id {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) listProducts(r *http.Request) (int, any, error) {
	m, err := s.pathMachine(r)
	if err != nil {
		return 0, nil, err
	}
	return list(r, s.machineProducts(m.ID), capped)
}

type productReq struct {
	Name       *string `json:"name"`
	PLU        *int64  `json:"plu"`
	Price      *int64  `json:"price"`
	ReportName string  `json:"reportName"`
	Barcode    string  `json:"barcode"`
}

func (p productReq) check() error {
	switch {
	case p.Name == nil || *p.Name == "":
		return errf(http.StatusBadRequest, "name is required")
	case p.PLU == nil:
		return errf(http.StatusBadRequest, "plu is required")
	case p.Price == nil:
		return errf(http.StatusBadRequest, "price is required")
	case *p.Price < 0:
		return errf(http.StatusBadRequest, "price must not be negative")
	}
	return nil
}

func (s *Server) createProduct(r *http.Request) (int, any, error) {
	m, err := s.pathMachine(r)
	if err != nil {
		return 0, nil, err
	}
	var req productReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := req.check(); err != nil {
		return 0, nil, err
	}
	for _, p := range s.machineProducts(m.ID) {
		if p.PLU == *req.PLU {
			return 0, nil, errf(http.StatusConflict, "PLU %d exists on machine %d", p.PLU, m.ID)
		}
	}
	p := s.newProduct(m.ID, req)
	s.st.Products = append(s.st.Products, p)
	m.ConfigState = "scheduled"
	return http.StatusCreated, map[string]int64{"id": p.ID}, nil
}

func (s *Server) newProduct(machine int64, req productReq) *Product {
	now := s.stamp()
	return &Product{ID: s.st.id(), PLU: *req.PLU, Name: *req.Name, Price: *req.Price, Barcode: req.Barcode,
		Machine: machine, ReportName: req.ReportName, CreatedAt: now, UpdatedAt: now}
}

// putAssortment replaces the machine's products ("override assortment
// with given products"); the whole list is checked before any is stored.
func (s *Server) putAssortment(r *http.Request) (int, any, error) {
	m, err := s.pathMachine(r)
	if err != nil {
		return 0, nil, err
	}
	var req []productReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	seen := map[int64]bool{}
	for i, p := range req {
		if err := p.check(); err != nil {
			return 0, nil, errf(http.StatusBadRequest, "product %d: %v", i, err)
		}
		if seen[*p.PLU] {
			return 0, nil, errf(http.StatusBadRequest, "PLU %d twice", *p.PLU)
		}
		seen[*p.PLU] = true
	}
	s.st.Products = slices.DeleteFunc(s.st.Products, func(p *Product) bool { return p.Machine == m.ID })
	for _, p := range req {
		s.st.Products = append(s.st.Products, s.newProduct(m.ID, p))
	}
	m.ConfigState = "scheduled"
	return http.StatusOK, message(fmt.Sprintf("%d products stored", len(req))), nil
}

func (s *Server) getOpeningHours(r *http.Request) (int, any, error) {
	m, err := s.pathMachine(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, orNone(s.st.OpeningHours[m.ID]), nil
}

func orNone[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$`)

func (s *Server) putOpeningHours(r *http.Request) (int, any, error) {
	m, err := s.pathMachine(r)
	if err != nil {
		return 0, nil, err
	}
	var req []OpeningHour
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	for i, h := range req {
		if h.Day < 0 || h.Day > 6 || !clockRE.MatchString(h.StartTime) || !clockRE.MatchString(h.EndTime) || h.StartTime >= h.EndTime {
			return 0, nil, errf(http.StatusBadRequest, "opening hour %d: day 0-6 and startTime < endTime as HH:MM:SS", i)
		}
	}
	s.st.OpeningHours[m.ID] = req
	m.ConfigState = "scheduled"
	return http.StatusOK, message("opening hours stored"), nil
}

type commandReq struct {
	Params []int64 `json:"params"`
}

// maxPending bounds the commands queued for one machine.
const maxPending = 100

func (s *Server) queueCommand(r *http.Request) (int, any, error) {
	m, err := s.machineByHostname(r.PathValue("hostname"))
	if err != nil {
		return 0, nil, err
	}
	var req commandReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if len(s.pending(m.ID)) >= maxPending {
		return 0, nil, errf(http.StatusTooManyRequests, "machine %d has %d commands pending", m.ID, maxPending)
	}
	now := s.stamp()
	c := &Command{ID: s.st.id(), Machine: m.ID, Command: r.PathValue("command"), Params: orNone(req.Params),
		State: "pending", CreatedAt: now, UpdatedAt: now}
	s.st.Commands = append(s.st.Commands, c)
	return http.StatusOK, message(fmt.Sprintf("command %d queued", c.ID)), nil
}

func (s *Server) pending(machine int64) []*Command {
	out := []*Command{}
	for _, c := range s.st.Commands {
		if c.Machine == machine && c.State == "pending" {
			out = append(out, c)
		}
	}
	return out
}

// pendingCommands is the machine's poll (assumed path): the commands not
// yet answered, oldest first. Fetching one does not consume it; only its
// result does, so a command whose fetch reply is lost is fetched again.
func (s *Server) pendingCommands(r *http.Request) (int, any, error) {
	m, err := s.pathMachine(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.pending(m.ID), nil
}

type resultReq struct {
	Success *bool  `json:"success"`
	Message string `json:"message"`
}

// commandResult records a command's outcome (assumed path and body). A
// second result for the same command is refused with 409, so that a
// resent result is recognised as already delivered.
func (s *Server) commandResult(r *http.Request) (int, any, error) {
	m, err := s.pathMachine(r)
	if err != nil {
		return 0, nil, err
	}
	cid, err := pathID(r, "commandId")
	if err != nil {
		return 0, nil, err
	}
	var req resultReq
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Success == nil {
		return 0, nil, errf(http.StatusBadRequest, "success is required")
	}
	for _, c := range s.st.Commands {
		if c.ID != cid || c.Machine != m.ID {
			continue
		}
		if c.State != "pending" {
			return 0, nil, &apiError{status: http.StatusConflict, msg: fmt.Sprintf("command %d already %s", cid, c.State), extra: map[string]any{"id": cid}}
		}
		c.State, c.Message, c.UpdatedAt = "failed", req.Message, s.stamp()
		if *req.Success {
			c.State = "done"
		}
		return http.StatusOK, message("result stored"), nil
	}
	return 0, nil, errf(http.StatusNotFound, "machine %d has no command %d", m.ID, cid)
}

// Commands returns copies of every command, for tests.
func (s *Server) Commands() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Command, 0, len(s.st.Commands))
	for _, c := range s.st.Commands {
		out = append(out, *c)
	}
	return out
}
