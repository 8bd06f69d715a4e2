package flow

import (
	"testing"
	"time"

	"github.com/tapagent/tapagent/board"
)

// FuzzLine drives a line with arbitrary edge gaps, sequence numbers and
// commands and checks the accounting invariants hold whatever the meter does.
func FuzzLine(f *testing.F) {
	f.Add([]byte{0x10, 0x20, 0x03, 0xff, 0x00, 0x81, 0x42, 0x07}, int64(500), int64(300))
	f.Add([]byte{0xf0, 0xf1, 0xf2, 0xf3, 0x01, 0x01, 0x01, 0x01, 0x01}, int64(0), int64(0))
	f.Add(make([]byte, 64), int64(1), int64(1))
	f.Fuzz(func(t *testing.T, script []byte, capMoney, capML int64) {
		if capMoney < 0 || capMoney > 1e6 || capML < 0 || capML > 1e5 {
			return
		}
		v := &recValve{}
		cfg := testConfig()
		cfg.RefillWindow, cfg.RefillMax, cfg.Predictive = 200*time.Millisecond, ML(3), true
		l := NewLine(cfg, v)
		now, seq := time.Second, uint32(0)
		auth := Auth{Mode: ModeFree, CapMoney: capMoney, CapVol: ML(capML), Price: price650}
		check := func(r *Result) {
			if r == nil {
				return
			}
			if r.Volume < 0 || r.Charged < 0 || r.Charged > r.Volume || r.Amount < 0 {
				t.Fatalf("bad result %+v", r)
			}
			if !r.Unattributed && capMoney > 0 && r.Amount > capMoney {
				t.Fatalf("amount %d over cap %d", r.Amount, capMoney)
			}
		}
		for _, b := range script {
			switch b >> 6 {
			case 0, 1: // edge after a gap of up to 8 ms
				now += time.Duration(b&0x7f) * 64 * time.Microsecond
				seq += 1 + uint32(b&1)
				l.OnEdge(board.Edge{Line: 1, Time: now, Seq: seq})
			case 2: // timers
				now += time.Duration(b&0x3f) * 50 * time.Millisecond
				check(l.Tick(now))
			case 3: // commands
				switch b & 3 {
				case 0:
					r, _ := l.Open(now, auth)
					check(r)
				case 1:
					l.Stop(now, ReasonStopped)
				case 2:
					check(l.Abort(now, ReasonShutdown))
				case 3:
					l.SetDisabled("")
				}
			}
			if p, ok := l.Progress(); ok && (p.Charged > p.Volume || p.Charged < 0) {
				t.Fatalf("bad progress %+v", p)
			}
		}
		check(l.Abort(now, ReasonShutdown))
		if v.open {
			t.Fatal("valve left open after abort")
		}
	})
}
