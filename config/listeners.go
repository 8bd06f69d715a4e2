package config

import (
	"net"
	"net/netip"
	"strings"
)

// listener is one configured listen address and the key that sets it.
type listener struct{ key, addr string }

// listeners lists every listen address the agent opens; a new listener
// setting adds one line here so that validateAddressClash sees it.
func (c *Config) listeners() []listener {
	return []listener{
		{"pos.listen", c.POS.Listen},
		{"control.listen", c.Control.Listen},
		{"web.listen", c.Web.Listen},
		{"telemetron.listen", c.Telemetron.Listen},
	}
}

// validateAddressClash refuses two listeners that cannot both bind: the
// same port on the same host, or on hosts of which one is the wildcard
// (Linux refuses 0.0.0.0:P beside 127.0.0.1:P). Port 0 picks a free port
// and never clashes. Malformed addresses are reported by the listener's
// own validation.
func (c *Config) validateAddressClash(bad badFunc) {
	ls := c.listeners()
	for i, a := range ls {
		for _, b := range ls[i+1:] {
			if clash(a.addr, b.addr) {
				bad(b.key, "%q is also %s (%q): two listeners cannot share an address; give one of them another port", b.addr, a.key, a.addr)
			}
		}
	}
}

// clash reports whether listen addresses a and b would fight over one
// socket.
func clash(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if a == "" || b == "" || errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	ka, kb := hostKey(ha), hostKey(hb)
	return ka == kb || ka == "*" || kb == "*"
}

// hostKey is host in one spelling: "*" for the wildcard (empty, 0.0.0.0,
// ::), the canonical IP for an address, lower case for a name;
// "localhost" is taken as 127.0.0.1, which it resolves to on the board.
func hostKey(host string) string {
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if host == "localhost" {
		return "127.0.0.1"
	}
	if host == "" {
		return "*"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.IsUnspecified() {
		return "*"
	}
	return ip.String()
}
