package terminalsale_test

import (
	"context"
	"errors"
	"github.com/tapagent/tapagent/device"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim/mdbsim"
)

// onUSBAdapter is the terminal's bus through the simulated adapter on a
// serial port that can vanish, as terminalsale.Open makes it for a real one.
func onUSBAdapter(t testing.TB, a *mdbsim.Adapter) func(*mdbsim.Reader) mdb.Transport {
	return onUSBAdapterCounted(t, a, new(atomic.Int32))
}

// onUSBAdapterCounted counts the host's attempts to open the port.
func onUSBAdapterCounted(t testing.TB, a *mdbsim.Adapter, opens *atomic.Int32) func(*mdbsim.Reader) mdb.Transport {
	return func(r *mdbsim.Reader) mdb.Transport {
		a.R = r
		l, err := terminalsale.NewLink(context.Background(), func(ctx context.Context) (terminalsale.Bus, error) {
			opens.Add(1)
			p, err := a.Open()
			if err != nil {
				return nil, err
			}
			q := mdb.NewQibixx(p)
			q.Timeout = time.Second // the default: no spurious timeout on a loaded machine
			if err := q.Start(ctx); err != nil {
				q.Close()
				return nil, err
			}
			return q, nil
		})
		if err != nil {
			t.Skip(err)
		}
		t.Cleanup(func() { l.Close(); a.Close() })
		return l
	}
}

// TestPortLostAndBack: the adapter's USB port vanishes in the middle of a
// pour and comes back. The terminal goes offline once (one event, health,
// no stream of faults) and lets the paid portion pour to its end; it
// reopens the port with backoff, puts the adapter back into master mode and
// POLLs the reader, which kept its power and still holds the vend: VEND
// SUCCESS makes the poured portion the sale, booked once at its price.
func TestPortLostAndBack(t *testing.T) {
	a := &mdbsim.Adapter{}
	var opens atomic.Int32
	r := newRigOn(t, nil, onUSBAdapterCounted(t, a, &opens), 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.pour(1)
	r.reader.PresentCard(1000)
	r.until("pouring", func() bool {
		in, _ := r.store.Intents()
		return len(in) == 1 && in[0].Progress.Volume > 500
	})
	a.Unplug()
	r.until("offline", r.has(device.EventMDBOffline))
	r.until("portion poured while offline", func() bool { return len(r.records()) == 1 })
	if recs := r.records(); recs[0].Pour.Volume < portion || sum(recs) != price {
		t.Fatalf("the portion was cut short while the port was gone: %+v", recs)
	}
	faults := r.ev.Count(device.EventMDBFault)
	gone := r.clk.Now()
	// Reopen tries at 0.5, 1.5, 3.5 and 7.5 s fail meanwhile.
	r.until("10 s without the port", func() bool { return r.clk.Now().Sub(gone) > 10*time.Second })
	if n := r.ev.Count(device.EventMDBOffline); n != 1 || r.ev.Count(device.EventMDBFault) != faults || opens.Load() < 4 {
		t.Fatalf("%d offline events, %d faults while offline, %d opens: %s", n, r.ev.Count(device.EventMDBFault)-faults, opens.Load(), r.types())
	}
	if h := r.tap.Health(); h.Ready || h.State != "offline" || h.LastError == "" {
		t.Fatalf("health while offline %+v", h)
	}
	a.Plug()
	r.until("ready again", func() bool { return r.ev.Count(device.EventMDBReady) == 2 })
	r.until("sold and settled", func() bool { return r.ev.Count(device.EventMDBVendSuccess) == 1 && r.journalEmpty() })
	recs := r.records()
	if len(recs) != 1 || sum(recs) != price || recs[0].Pour.Volume < portion {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) || len(l.Refunds) != 0 {
		t.Fatalf("reader ledger %+v", l)
	}
	if r.ev.Count(device.EventMDBVendRefunded) != 0 || r.ev.Count(device.EventMDBRefundFailed) != 0 {
		t.Fatalf("refund events: %s", r.types())
	}
	if h := r.tap.Health(); !h.Ready {
		t.Fatalf("health after the port came back %+v", h)
	}
}

// TestPortLostLineStopped: the port vanishes mid-pour and, while it is
// gone, the line is stopped for a reason of its own (the customer's stop
// button, a keg alarm): the short portion books what it poured, nothing
// for an all-or-nothing portion, and the reader refunds it once the port
// is back.
func TestPortLostLineStopped(t *testing.T) {
	a := &mdbsim.Adapter{}
	r := newRigOn(t, nil, onUSBAdapter(t, a), 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.pour(1)
	r.reader.PresentCard(1000)
	r.until("pouring", func() bool {
		in, _ := r.store.Intents()
		return len(in) == 1 && in[0].Progress.Volume > 500
	})
	a.Unplug()
	r.until("offline", r.has(device.EventMDBOffline))
	if err := r.agent.Stop(1); err != nil {
		t.Fatal(err)
	}
	r.until("short pour booked", func() bool { return len(r.records()) == 1 })
	a.Plug()
	r.until("refunded and settled", func() bool { return r.ev.Count(device.EventMDBVendRefunded) == 1 && r.journalEmpty() })
	recs := r.records()
	if len(recs) != 1 || sum(recs) != 0 || recs[0].Pour.Volume >= portion {
		t.Fatalf("records %+v", recs)
	}
	if l := r.reader.Ledger(); len(l.Sales) != 0 || !slices.Equal(l.Refunds, []uint32{price}) {
		t.Fatalf("reader ledger %+v", l)
	}
}

// TestPortLostReaderResetMeanwhile: while the port is gone the reader
// loses its power too, or stays silent: its JUST RESET, or its silence for
// the non-response time, makes the approved vend a sale (§7.4.7), booked
// exactly once at the approved amount.
func TestPortLostReaderResetMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		during func(rd *mdbsim.Reader)
		after  func(rd *mdbsim.Reader)
	}{
		{"just reset", func(rd *mdbsim.Reader) { rd.PowerCycle() }, func(*mdbsim.Reader) {}},
		{"silent", func(rd *mdbsim.Reader) { rd.SetFaults(func(f *mdbsim.Faults) { f.Silent = true }) },
			func(rd *mdbsim.Reader) { rd.SetFaults(func(f *mdbsim.Faults) { f.Silent = false }) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &mdbsim.Adapter{}
			r := newRigOn(t, func(rd *mdbsim.Reader) { rd.MaxResponse = 5 }, onUSBAdapter(t, a), 1)
			r.until("reader ready", r.has(device.EventMDBReady))
			r.reader.PresentCard(1000)
			r.until("approved", r.has(device.EventMDBVendApproved))
			a.Unplug()
			r.until("offline", r.has(device.EventMDBOffline))
			tc.during(r.reader)
			a.Plug()
			r.until("reset warned", func() bool { return strings.Contains(r.types(), "reader reset during the pour") })
			tc.after(r.reader)
			r.until("ready again", func() bool { return r.ev.Count(device.EventMDBReady) >= 2 })
			r.until("sale booked and settled", func() bool { return sum(r.records()) == price && r.journalEmpty() })
			if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) || len(l.Refunds) != 0 {
				t.Fatalf("reader ledger %+v", l)
			}
			if r.ev.Count(device.EventMDBVendRefunded) != 0 {
				t.Fatalf("refunded: %s", r.types())
			}
		})
	}
}

// TestAdapterRebootTerminalComesBack: the adapter restarts where it sits
// (a HAT's power glitch) and is out of master mode, whatever it then does
// with requests; the terminal puts it back by itself and sells again.
func TestAdapterRebootTerminalComesBack(t *testing.T) {
	// The reader's non-response time (Z7): long where the adapter is found
	// at once (the driver's reply timeout passes in real time while the
	// wall's virtual clock runs on), short where only the reader's silence
	// shows it.
	for _, tc := range []struct {
		name string
		out  mdbsim.OutOfMaster
		z7   byte
		warn string // how the terminal found the adapter out of master mode
	}{
		{"ignores", mdbsim.Ignores, 255, "found out of master mode"},
		{"refuses", mdbsim.Refuses, 255, "found out of master mode"},
		{"no peripheral", mdbsim.NoPeripheral, 5, "3 commands unanswered: adapter restarted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &mdbsim.Adapter{Out: tc.out}
			r := newRigOn(t, func(rd *mdbsim.Reader) { rd.MaxResponse = tc.z7 }, onUSBAdapter(t, a), 1)
			r.until("reader ready", r.has(device.EventMDBReady))
			a.Reboot()
			// Found at the next request, or (p,NACK to everything) after
			// three commands unanswered: either way put back into master
			// mode and reported, not merely recovered as a silent reader.
			r.until("adapter back in master mode", func() bool { return strings.Contains(r.types(), tc.warn) })
			r.pour(1)
			r.reader.PresentCard(1000)
			r.until("vend success", r.has(device.EventMDBVendSuccess))
			r.until("booked", func() bool { return len(r.records()) == 1 && r.journalEmpty() })
			if got := sum(r.records()); got != price {
				t.Fatalf("booked %d", got)
			}
			if l := r.reader.Ledger(); !slices.Equal(l.Sales, []uint32{price}) {
				t.Fatalf("reader ledger %+v", l)
			}
		})
	}
}

// TestLinkReopensTheUART: the board UART's device (a USB-serial adapter
// behind a udev name) vanishes: the transport reports the port lost, the
// link fails fast without touching it, a reopen fails while the device is
// gone and succeeds once the name points at a device again.
func TestLinkReopensTheUART(t *testing.T) {
	name := filepath.Join(t.TempDir(), "tapagent-mdb")
	plug := func() *os.File {
		ptm, pts, err := pty.Open()
		if err != nil {
			t.Skip(err)
		}
		t.Cleanup(func() { ptm.Close() })
		defer pts.Close()
		os.Remove(name)
		if err := os.Symlink(pts.Name(), name); err != nil {
			t.Fatal(err)
		}
		return ptm
	}
	ptm := plug()
	l, err := terminalsale.Open(context.Background(), config.MDB{Transport: "uart"}, name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	poll, _ := mdb.Block(0x12)
	if _, err := l.Send(context.Background(), poll); !errors.Is(err, mdb.ErrTimeout) {
		t.Fatalf("POLL to nobody: %v", err)
	}
	ptm.Close() // unplugged
	os.Remove(name)
	if _, err := l.Send(context.Background(), poll); !errors.Is(err, mdb.ErrLink) || !l.Lost() {
		t.Fatalf("POLL on a vanished port: %v, lost %v", err, l.Lost())
	}
	if _, err := l.Send(context.Background(), poll); !errors.Is(err, mdb.ErrLink) {
		t.Fatalf("POLL on a lost link: %v", err)
	}
	if err := l.Reopen(context.Background()); err == nil {
		t.Fatal("reopened a port that is not there")
	}
	plug()
	if err := l.Reopen(context.Background()); err != nil || l.Lost() {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := l.Send(context.Background(), poll); !errors.Is(err, mdb.ErrTimeout) {
		t.Fatalf("POLL after the reopen: %v", err)
	}
}

// TestPortLostWhileAsking: the port goes while the reader is still
// authorising a VEND REQUEST. The vend stays open; once the port is back
// the reader is POLLed (no RESET), and VEND CANCEL after the vend timeout
// withdraws the request (VEND DENIED): nothing pours, is booked or charged.
func TestPortLostWhileAsking(t *testing.T) {
	a := &mdbsim.Adapter{}
	r := newRigOn(t, func(rd *mdbsim.Reader) { rd.F.SlowApproval = 1 << 20 }, onUSBAdapter(t, a), 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000)
	r.until("asking", func() bool { return r.reader.State() == mdb.Vend })
	a.Unplug()
	r.until("offline", r.has(device.EventMDBOffline))
	a.Plug()
	r.until("ready again", func() bool { return r.ev.Count(device.EventMDBReady) == 2 })
	r.until("denied after the cancel", r.has(device.EventMDBVendDenied))
	r.until("journal settled", r.journalEmpty)
	if _, ok := r.event(device.EventMDBVendApproved); ok || len(r.records()) != 0 {
		t.Fatalf("records %+v: %s", r.records(), r.types())
	}
	if l := r.reader.Ledger(); len(l.Sales) != 0 {
		t.Fatalf("reader ledger %+v", l)
	}
}

// TestPortLostDuringVendRequest: the adapter is pulled just after it put
// VEND REQUEST on the bus, so the reader took it and the answer never
// reaches the host. The vend stays open and the reader is POLLed when the
// port is back. A reader that answers at a POLL approves then: the valve
// opens, nothing flows, VEND FAILURE refunds. One that answered in the
// response (the adapter ACKed it, so it is not repeated) says nothing:
// VEND CANCEL after the vend timeout, then VEND FAILURE refunds what it
// holds. Either way nothing is charged or booked.
func TestPortLostDuringVendRequest(t *testing.T) {
	for _, immediate := range []bool{false, true} {
		a := &mdbsim.Adapter{PullAt: "R,13,00"} // power-up sends no VEND REQUEST
		r := newRigOn(t, func(rd *mdbsim.Reader) { rd.Immediate = immediate }, onUSBAdapter(t, a), 1)
		r.until("reader ready", r.has(device.EventMDBReady))
		r.reader.PresentCard(1000)
		r.until("offline", r.has(device.EventMDBOffline))
		a.Plug()
		r.until("ready again", func() bool { return r.ev.Count(device.EventMDBReady) == 2 })
		r.until("refunded", func() bool { return len(r.reader.Ledger().Refunds) == 1 })
		r.until("journal settled", r.journalEmpty)
		if sum(r.records()) != 0 {
			t.Fatalf("immediate %v: records %+v: %s", immediate, r.records(), r.types())
		}
		if l := r.reader.Ledger(); len(l.Sales) != 0 || !slices.Equal(l.Refunds, []uint32{price}) {
			t.Fatalf("immediate %v: reader ledger %+v", immediate, l)
		}
	}
}

// TestAdapterRebootMidVend: a HAT reboots right after an approval and
// answers p,NACK to everything (no master mode, its pull-up off); nothing
// flows. The terminal restarts the adapter after a few NACKs from a reader
// that was answering, VEND FAILURE gets through and refunds: nothing is
// booked or charged for the beer that never ran.
func TestAdapterRebootMidVend(t *testing.T) {
	a := &mdbsim.Adapter{Out: mdbsim.NoPeripheral}
	r := newRigOn(t, nil, onUSBAdapter(t, a), 1)
	r.until("reader ready", r.has(device.EventMDBReady))
	r.reader.PresentCard(1000)
	r.until("approved", r.has(device.EventMDBVendApproved))
	a.Reboot()
	r.until("refunded", r.has(device.EventMDBVendRefunded))
	r.until("settled", r.journalEmpty)
	if got := sum(r.records()); got != 0 || r.ev.Count(device.EventMDBRefundFailed) != 0 {
		t.Fatalf("booked %d: %s", got, r.types())
	}
	if l := r.reader.Ledger(); len(l.Sales) != 0 || !slices.Equal(l.Refunds, []uint32{price}) {
		t.Fatalf("reader ledger %+v", l)
	}
}
