package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tapagent/tapagent/internal/sysinfo"
)

// minDiskFree is the free space below which the data disk is unhealthy.
const minDiskFree = 64 << 20

// Sources are where the health page and /metrics read each part from;
// a nil source is a part this device does not have.
type Sources struct {
	// Reader, Terminal and Machine return the card reader's, the MDB
	// terminal's and the EXE machine's health (nil while not running).
	Reader, Terminal, Machine func() any
	// Link is the server link: 1 up, 0 down, and the server's URL.
	Link func() (int, string)
	// Broker is the MQTT link's last connection error (nil: connected).
	Broker    func() error
	BrokerURL string
	// Sys reads the data disk's free space.
	Sys *sysinfo.Reader
	// ClockSynced reports whether wall time is trustworthy.
	ClockSynced func() bool
}

// Components reads every part now.
func (s Sources) Components() []Component {
	var out []Component
	for _, p := range []struct {
		name string
		f    func() any
	}{{"reader", s.Reader}, {"terminal", s.Terminal}, {"machine", s.Machine}} {
		if p.f != nil {
			out = append(out, peer(p.name, p.f()))
		}
	}
	if s.Link != nil {
		up, url := s.Link()
		out = append(out, Component{Name: "server_link", OK: up == 1, Detail: url})
	}
	if s.Broker != nil {
		c := Component{Name: "broker", OK: true, Detail: s.BrokerURL + " connected"}
		if err := s.Broker(); err != nil {
			c.OK, c.Detail = false, s.BrokerURL+": "+err.Error()
		}
		out = append(out, c)
	}
	if s.Sys != nil {
		snap, err := s.Sys.Read()
		c := Component{Name: "disk", OK: snap.DataFree >= minDiskFree,
			Detail: fmt.Sprintf("%d MiB free, %d MiB used", snap.DataFree>>20, snap.DataUsed>>20)}
		if err != nil {
			c.Detail += " (" + err.Error() + ")"
		}
		out = append(out, c)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	switch {
	case s.ClockSynced == nil:
		out = append(out, Component{Name: "clock", OK: true, Detail: now + " (synchronisation not checked)"})
	case s.ClockSynced():
		out = append(out, Component{Name: "clock", OK: true, Detail: now + " synchronised"})
	default:
		out = append(out, Component{Name: "clock", Detail: now + " not synchronised (NTP)"})
	}
	return out
}

// peer judges a peer's health report by its own ready/answering flag and
// shows its counters.
func peer(name string, h any) Component {
	if h == nil {
		return Component{Name: name, Detail: "not running"}
	}
	b, err := json.Marshal(h)
	if err != nil {
		return Component{Name: name, Detail: err.Error()}
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	c := Component{Name: name, OK: true}
	for _, k := range []string{"ready", "answering"} {
		if v, ok := m[k].(bool); ok {
			c.OK = v
		}
	}
	if e, ok := m["last_error"].(string); ok && e != "" && !c.OK {
		c.Detail = e + "; "
	}
	c.Detail += strings.Trim(string(b), "{}")
	return c
}
