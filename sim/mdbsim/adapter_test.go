package mdbsim

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/payment/mdb"
)

// onAdapter is a master on the adapter driver, on the host side of a's
// serial port.
func onAdapter(t *testing.T, a *Adapter) (*mdb.Master, *mdb.Qibixx) {
	t.Helper()
	p, err := a.Open()
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { a.Close(); p.Close() })
	q := mdb.NewQibixx(p)
	q.Timeout = 300 * time.Millisecond
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &mdb.Master{T: q, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}, q
}

// TestAdapterReboot: an adapter that restarts where it sits loses master
// mode. Whether it then ignores requests or answers them with a line that
// is no reply (with or without a banner at start), the driver notices at
// the next request, sets master mode again and says so; the session at
// the reader goes on and sells.
func TestAdapterReboot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		out    OutOfMaster
		banner string
	}{{"ignores requests", Ignores, ""}, {"refuses requests", Refuses, ""}, {"prints a banner", Ignores, "MDB-HAT ready"}} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(mdb.Cashless1)
			a := &Adapter{R: r, Out: tc.out, Banner: tc.banner}
			m, _ := onAdapter(t, a)
			if err := m.Init(ctx); err != nil {
				t.Fatal(err)
			}
			r.PresentCard(1000)
			pollFor(t, m, mdb.RspBeginSession)
			a.Reboot()
			if _, err := m.PollOnce(ctx); !errors.Is(err, mdb.ErrAdapterRestarted) || !errors.Is(err, mdb.ErrTimeout) {
				t.Fatalf("first POLL after the reboot: %v", err)
			}
			if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "master mode set again") {
				t.Fatalf("warnings %q", m.Warnings)
			}
			if err := m.VendRequest(ctx, 300, 1); err != nil {
				t.Fatal(err)
			}
			pollFor(t, m, mdb.RspVendApproved)
			if err := m.VendSuccess(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if l := r.Ledger(); !slices.Equal(l.Sales, []uint32{300}) {
				t.Fatalf("ledger %+v", l)
			}
		})
	}
}

// TestAdapterRebootLooksLikeASilentReader: a Pi HAT out of master mode may
// answer every request "p,NACK" (no pull-up, no peripheral), which is a
// silent reader. Once the reader is offline, the master sets master mode
// again before it resets the reader, so the terminal comes back.
func TestAdapterRebootLooksLikeASilentReader(t *testing.T) {
	r := New(mdb.Cashless1)
	a := &Adapter{R: r, Out: NoPeripheral}
	m, _ := onAdapter(t, a)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m.Now = func() time.Time { return now }
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	a.Reboot()
	if _, err := m.PollOnce(ctx); !errors.Is(err, mdb.ErrTimeout) || m.Offline {
		t.Fatalf("one unanswered POLL: %v, offline %v", err, m.Offline)
	}
	now = now.Add(m.Config.MaxResponse) // the reader's own non-response time (Z7)
	if _, err := m.PollOnce(ctx); !errors.Is(err, mdb.ErrTimeout) || !m.Offline {
		t.Fatalf("after the non-response time: %v, offline %v", err, m.Offline)
	}
	if err := m.Recover(ctx); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	if m.Offline || m.State != mdb.Enabled || r.State() != mdb.Enabled {
		t.Fatalf("after recovery: offline %v, %s / %s", m.Offline, m.State, r.State())
	}
}

// TestAdapterRebootFoundAfterFewNACKs: a Pi HAT out of master mode answers
// p,NACK to everything. A reader that was answering and then leaves three
// commands in a row unanswered has the adapter put back into master mode
// at once, long before its non-response time (up to 255 s) would.
func TestAdapterRebootFoundAfterFewNACKs(t *testing.T) {
	r := New(mdb.Cashless1)
	a := &Adapter{R: r, Out: NoPeripheral}
	m, _ := onAdapter(t, a)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m.Now = func() time.Time { return now } // no time passes: never offline
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	a.Reboot()
	for i := 1; i <= 3; i++ {
		if _, err := m.PollOnce(ctx); !errors.Is(err, mdb.ErrTimeout) || m.Offline {
			t.Fatalf("POLL %d after the reboot: %v, offline %v", i, err, m.Offline)
		}
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "master mode") {
		t.Fatalf("warnings %q", m.Warnings)
	}
	if _, err := m.PollOnce(ctx); err != nil {
		t.Fatalf("POLL after the restart: %v", err)
	}
}

// TestAdapterResponseTimeoutSetAgain: F,RESPTIMEOUT may not survive the
// adapter's reboot, so it goes out with master mode at the start and again
// whenever a reboot is found.
func TestAdapterResponseTimeoutSetAgain(t *testing.T) {
	r := New(mdb.Cashless1)
	a := &Adapter{R: r, Out: Refuses}
	m, q := onAdapter(t, a)
	if a.RespTimeout() != int(mdb.DefaultRespTimeout.Milliseconds()) || !q.RespTimeoutSet {
		t.Fatalf("after start: %d ms, set %v", a.RespTimeout(), q.RespTimeoutSet)
	}
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	a.Reboot()
	if a.RespTimeout() != 0 {
		t.Fatal("the simulated adapter kept its setting over a reboot")
	}
	if _, err := m.PollOnce(ctx); !errors.Is(err, mdb.ErrAdapterRestarted) {
		t.Fatalf("first POLL after the reboot: %v", err)
	}
	if a.RespTimeout() != int(mdb.DefaultRespTimeout.Milliseconds()) {
		t.Fatalf("after the restart: %d ms", a.RespTimeout())
	}
}
