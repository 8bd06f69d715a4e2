package web

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/storage"
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
	// Sinks reports each outbox sink (the TTG server, the clouds): what
	// waits for it and its last delivery error.
	Sinks func() ([]storage.SinkStatus, error)
	// Now is the wall time the sinks' ages are measured against.
	Now func() time.Time
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
	out = append(out, s.sinks()...)
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

// sinks is a row per outbox sink, named "sink NAME": healthy while its
// last delivery worked; the detail says what waits for it.
func (s Sources) sinks() []Component {
	if s.Sinks == nil {
		return nil
	}
	sts, err := s.Sinks()
	if err != nil {
		return []Component{{Name: "sinks", Detail: err.Error()}}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	out := make([]Component, 0, len(sts))
	for _, st := range sts {
		out = append(out, sinkComponent(st, now()))
	}
	return out
}

// sinkComponent describes one sink for a person: "3 records waiting,
// the oldest 2m0s old; 1 dead letter; last error at 10:04:05: ...".
func sinkComponent(st storage.SinkStatus, now time.Time) Component {
	c := Component{Name: "sink " + st.Name, OK: st.LastError.Msg == ""}
	c.Detail = flow.Count(st.Depth, "record", "records") + " waiting"
	if st.Depth > 0 {
		age := max(0, now.Sub(time.UnixMilli(st.Oldest.EndedAt))).Truncate(time.Second)
		c.Detail += ", the oldest " + age.String() + " old"
	}
	if st.Dead > 0 {
		c.Detail += "; " + flow.Count(st.Dead, "dead letter", "dead letters")
	}
	if !c.OK {
		c.Detail += "; last error at " + time.UnixMilli(st.LastError.At).UTC().Format(time.RFC3339) + ": " + st.LastError.Msg
	}
	return c
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
	c.Detail += readable(m)
	return c
}

// readable prints a peer's health report for a person: "counter 3,
// port /dev/ttyUSB0, ready yes" in key order, words for booleans, a nested
// object's fields under its name ("reader firmware PN532 v1.6"), lists as
// compact JSON.
func readable(m map[string]any) string { return strings.Join(readableParts(m, ""), ", ") }

// words turns a field name into words: "last_error" and "LastError" both
// read "last error".
func words(k string) string {
	var b strings.Builder
	prev := rune(0)
	for _, r := range k {
		switch {
		case r == '_':
			r = ' '
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToLower(r))
		prev = r
	}
	return b.String()
}

func readableParts(m map[string]any, prefix string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "last_error" || m[k] != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		var v string
		name := prefix + words(k)
		switch x := m[k].(type) {
		case map[string]any:
			parts = append(parts, readableParts(x, name+" ")...)
			continue
		case bool:
			v = map[bool]string{true: "yes", false: "no"}[x]
		case string:
			v = x
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64) // counters: JSON numbers, shown as they came
		case nil:
			v = "-"
		default:
			b, _ := json.Marshal(x)
			v = string(b)
		}
		parts = append(parts, name+" "+v)
	}
	return parts
}
