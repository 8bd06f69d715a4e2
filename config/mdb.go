package config

import "time"

// validate checks [mdb]; lines are the configured line ids.
func (m MDB) validate(bad badFunc, lines map[int]bool) {
	if m.Transport != "qibixx" && m.Transport != "uart" {
		bad("mdb.transport", "%q is not qibixx or uart", m.Transport)
	}
	if m.Device != 1 && m.Device != 2 {
		bad("mdb.device", "must be 1 (address 10H) or 2 (60H)")
	}
	if m.Billing != "pre" && m.Billing != "bill" {
		bad("mdb.billing", "%q is not pre or bill", m.Billing)
	}
	if m.Level < 1 || m.Level > 3 {
		bad("mdb.level", "must be 1, 2 or 3")
	}
	if m.PortionML <= 0 || m.PortionML > 5000 {
		bad("mdb.portion_ml", "must be between 0 and 5000")
	}
	if m.Poll.Duration < 25*time.Millisecond || m.Poll.Duration > time.Second {
		bad("mdb.poll", "must be between 25ms and 1s")
	}
	if m.VendTimeout.Duration <= 0 || m.SelectTimeout.Duration <= 0 {
		bad("mdb.vend_timeout", "vend_timeout and select_timeout must be > 0")
	}
	for _, n := range m.Lines {
		if !lines[n] {
			bad("mdb.lines", "line %d is not configured", n)
		}
	}
}
