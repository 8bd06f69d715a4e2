package evadts

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tapagent/tapagent/storage"
)

// KeepFor is how long reports stay available (telemetry clouds ask for
// at most 14 days back).
const KeepFor = 14 * 24 * time.Hour

// Report ports, as telemetry clouds number them.
const (
	PortOwn = 1 // the agent's own audit
	PortDEX = 2 // read from a vending machine's DEX port
)

// Kept is a stored report.
type Kept struct {
	Date time.Time `json:"date"`
	Data string    `json:"data"`
	Port int       `json:"evadts_port"`
}

func keptKey(at time.Time, port int) []byte {
	k := binary.BigEndian.AppendUint64([]byte("r/"), uint64(at.UnixNano()))
	return append(k, byte(port))
}

// Read takes a read-out of the audit: the report as of now, with this read
// counted in EA3. A full read then resets the interval counters (the "since
// reset" halves); an interim read leaves them. Counters, reset and the kept
// copy of the report are one commit.
func (a *Audit) Read(id Identity, full bool, terminal string) ([]byte, error) {
	now := a.now()
	var out []byte
	err := a.st.Update(AuditBucket, func(b storage.Bucket) error {
		st, err := loadState(b, now)
		if err != nil {
			return err
		}
		st.PrevRead, st.LastRead = st.LastRead, ReadInfo{At: now.UnixMilli(), Terminal: terminal}
		st.Reads++
		if full {
			st.ReadResets++
		}
		out = Render(st, id, now)
		if full {
			resetInterval(st)
		}
		if err := saveState(b, st); err != nil {
			return err
		}
		return keep(b, now, PortOwn, out)
	})
	return out, err
}

// Keep stores a report read from elsewhere (a vending machine's DEX port).
func (a *Audit) Keep(port int, data []byte) error {
	now := a.now()
	return a.st.Update(AuditBucket, func(b storage.Bucket) error { return keep(b, now, port, data) })
}

func keep(b storage.Bucket, now time.Time, port int, data []byte) error {
	if err := b.Put(keptKey(now, port), data); err != nil {
		return err
	}
	old := keptKey(now.Add(-KeepFor), 0)
	var drop [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		if bytes.HasPrefix(k, []byte("r/")) && bytes.Compare(k, old) < 0 {
			drop = append(drop, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range drop {
		if err == nil {
			err = b.Delete(k)
		}
	}
	return err
}

// ResetInterval clears the "since reset" counters and counts a reset (a
// full read whose data the reader confirmed).
func (a *Audit) ResetInterval() error {
	now := a.now()
	return a.st.Update(AuditBucket, func(b storage.Bucket) error {
		st, err := loadState(b, now)
		if err != nil {
			return err
		}
		st.ReadResets++
		resetInterval(st)
		return saveState(b, st)
	})
}

func resetInterval(st *State) {
	st.Sales.Reset, st.Test.Reset, st.Free.Reset = Pair{}, Pair{}, Pair{}
	for _, p := range st.Pay {
		p.Reset = Pair{}
	}
	for _, p := range st.Products {
		p.Paid.Reset, p.Test.Reset, p.Free.Reset, p.VolReset = Pair{}, Pair{}, Pair{}, 0
	}
	for _, e := range st.Events {
		e.Reset = 0
	}
	st.PowerReset, st.LeakReset = 0, 0
}

// Bounds on what one Reports call returns: a listing travels as one MQTT
// answer or one screen, and 14 days of hourly DEX reads would not fit.
const (
	// MaxReports is the most reports one call returns.
	MaxReports = 64
	// MaxReportBytes is the most report data one call returns; the
	// newest report is returned even when it alone is larger.
	MaxReportBytes = 256 << 10
)

// Reports lists kept reports in [since, until] (zero times are open ends)
// from port (0 for every port), oldest first: the newest MaxReports of
// them within MaxReportBytes of data. more says older matching reports
// were left out; ask again with until before the first one returned.
func (a *Audit) Reports(since, until time.Time, port int) (ks []Kept, more bool, err error) {
	err = a.st.View(AuditBucket, func(b storage.Bucket) error {
		var match []Kept // keys only: the data of reports left out is never copied
		err := b.ForEach(func(k, _ []byte) error {
			if !bytes.HasPrefix(k, []byte("r/")) || len(k) != 11 {
				return nil
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(k[2:10])))
			p := int(k[10])
			if (!since.IsZero() && at.Before(since)) || (!until.IsZero() && at.After(until)) || (port != 0 && p != port) {
				return nil
			}
			match = append(match, Kept{Date: at, Port: p})
			return nil
		})
		if err != nil {
			return err
		}
		first, size := len(match), 0
		for first > 0 && len(match)-first < MaxReports {
			data := b.Get(keptKey(match[first-1].Date, match[first-1].Port))
			if size+len(data) > MaxReportBytes && first < len(match) {
				break
			}
			size += len(data)
			first--
			match[first].Data = string(data)
		}
		ks, more = match[first:], first > 0
		return nil
	})
	return ks, more, err
}

// State returns the counters without counting a read.
func (a *Audit) State() (*State, error) {
	var st *State
	err := a.st.View(AuditBucket, func(b storage.Bucket) error {
		var err error
		st, err = loadState(b, a.now())
		return err
	})
	return st, err
}

// Encode applies the delivery options telemetry clouds ask for: cp1251
// turns escaped Cyrillic (^D0^^9F^ = "П" in UTF-8) into Windows-1251 bytes;
// base64 packs the result.
func Encode(data []byte, cp1251Flag, base64Flag bool) []byte {
	if cp1251Flag {
		data = toCP1251(data)
	}
	if base64Flag {
		return []byte(base64.StdEncoding.EncodeToString(data))
	}
	return data
}

// toCP1251 decodes runs of ^HH^ escapes that spell UTF-8 Cyrillic.
func toCP1251(b []byte) []byte {
	var out bytes.Buffer
	for i := 0; i < len(b); {
		run, n := escapedRun(b[i:])
		if n == 0 {
			out.WriteByte(b[i])
			i++
			continue
		}
		for len(run) > 0 {
			r, size := utf8.DecodeRune(run)
			if c := cp1251(r); r != utf8.RuneError && c != 0 {
				out.WriteByte(c)
			} else {
				for _, x := range run[:size] {
					fmt.Fprintf(&out, "^%02X^", x)
				}
			}
			run = run[size:]
		}
		i += n
	}
	return out.Bytes()
}

// escapedRun decodes consecutive ^HH^ escapes at the start of b.
func escapedRun(b []byte) ([]byte, int) {
	var run []byte
	n := 0
	for len(b)-n >= 4 && b[n] == '^' && b[n+3] == '^' {
		v, err := strconv.ParseUint(string(b[n+1:n+3]), 16, 8)
		if err != nil {
			break
		}
		run = append(run, byte(v))
		n += 4
	}
	return run, n
}

// MarshalKept writes reports in the telemetry clouds' JSON shape. Windows-1251
// bytes are not valid JSON text, so cp1251 needs base64 here.
func MarshalKept(ks []Kept, cp1251Flag, base64Flag bool) ([]byte, error) {
	if cp1251Flag && !base64Flag {
		return nil, fmt.Errorf("cp1251 reports in JSON must be base64-packed")
	}
	out := make([]Kept, len(ks))
	for i, k := range ks {
		out[i] = Kept{Date: k.Date, Port: k.Port, Data: string(Encode([]byte(k.Data), cp1251Flag, base64Flag))}
	}
	return json.Marshal(out)
}

// FromCP1251 turns the Windows-1251 bytes a report written with
// audit.charset = "cp1251" holds (Cyrillic letters, Ё, ё) into UTF-8
// text; any other byte outside ASCII is written as its ^HH^ escape, so the
// result is always valid UTF-8 (JSON text).
func FromCP1251(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch {
		case c < 0x80:
			out = append(out, c)
		case c >= 0xC0:
			out = utf8.AppendRune(out, 'А'+rune(c-0xC0))
		case c == 0xA8:
			out = utf8.AppendRune(out, 'Ё')
		case c == 0xB8:
			out = utf8.AppendRune(out, 'ё')
		default:
			out = fmt.Appendf(out, "^%02X^", c)
		}
	}
	return out
}
