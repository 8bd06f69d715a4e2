package mdbsim

import (
	"os"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/mdb"
)

// TestThroughTheBoardUART: the 9-bit emulation against a reader on a line
// that marks parity errors the way the Linux tty does: power-up, a vend
// with a literal FF in a reply, a damaged reply taken again.
func TestThroughTheBoardUART(t *testing.T) {
	r := New(mdb.Cashless1)
	line := &UARTLine{R: r}
	u := &mdb.UART{L: line}
	m := &mdb.Master{T: u, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if m.State != mdb.Enabled || m.Periph.Manufacturer != "SIM" {
		t.Fatalf("after init: %s %+v", m.State, m.Periph)
	}
	// The address byte goes with mark parity, the rest with space.
	if !line.Sent[0].Mode() || line.Sent[1].Mode() || line.Sent[0].Byte() != 0x10 {
		t.Fatalf("first block on the wire %v", line.Sent[:2])
	}
	r.PresentCard(0x01FF) // funds with a literal FF byte, doubled by the kernel
	if bs := pollFor(t, m, mdb.RspBeginSession).(mdb.BeginSession); bs.Funds != 0x01FF {
		t.Fatalf("funds %X", bs.Funds)
	}
	r.F.BadChecksums = 1
	if err := m.VendRequest(ctx, 0xFF, 3); err != nil {
		t.Fatal(err)
	}
	if a := pollFor(t, m, mdb.RspVendApproved).(mdb.VendApproved); a.Amount != 0xFF {
		t.Fatalf("approved %X", a.Amount)
	}
	if err := m.VendSuccess(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if l := r.Ledger(); len(l.Sales) != 1 || l.Sales[0] != 0xFF {
		t.Fatalf("ledger %+v", l)
	}
	r.F.Silent = true
	start := time.Now()
	if _, err := m.PollOnce(ctx); err == nil {
		t.Fatal("a silent reader answered")
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("gave up on a reply before the response time")
	}
}

// TestUARTOnARealTTY: the termios set-up (stick parity, PARMRK, 9600) and
// the parity switches run on a kernel tty; a pty has no parity on its
// wire, so what arrives on the other end is the eight data bits.
func TestUARTOnARealTTY(t *testing.T) {
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer ptm.Close()
	u, err := mdb.OpenUART(pts.Name())
	pts.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Response = 30 * time.Millisecond
	block, _ := mdb.Block(0x12)
	if _, err := u.Send(ctx, block); err != mdb.ErrTimeout {
		t.Fatalf("POLL to nobody: %v", err)
	}
	if err := u.Answer(mdb.ACK); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	ptm.SetReadDeadline(time.Now().Add(time.Second))
	n, err := readAtLeast(ptm, got, 3)
	if err != nil || string(got[:n]) != "\x12\x12\x00" {
		t.Fatalf("on the wire % X, %v", got[:n], err)
	}
}

func readAtLeast(f *os.File, b []byte, n int) (int, error) {
	got := 0
	for got < n {
		k, err := f.Read(b[got:])
		got += k
		if err != nil {
			return got, err
		}
	}
	return got, nil
}
