package telemetron

// Received counts what the emulator holds of one machine: what a test
// or the simulator's closing summary reads.
type Received struct {
	Events, Sales, Reports, Refills, Inventories int
	// Config is true when the machine has posted a configuration snapshot.
	Config bool
}

// Received counts what a machine holds (zero for an unknown machine).
func (s *Server) Received(machine int64) Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.st.Machines[machine]
	if !ok {
		return Received{}
	}
	r := Received{Events: len(md.Events), Sales: len(md.Sales), Reports: len(md.Reports), Config: md.Config != nil}
	for _, op := range md.Operations {
		switch op.Kind {
		case "loading":
			r.Refills++
		case "inventory":
			r.Inventories++
		}
	}
	return r
}
