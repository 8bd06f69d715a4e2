package pn532_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/sim/nfcsim"
)

var ctx = context.Background()

// bench is the driver on one end of a pseudo-terminal and the simulated
// PN532 on the other: real frames, real serial I/O.
func bench(t testing.TB, timing nfcsim.Timing) (*pn532.Device, *nfcsim.Reader, *os.File) {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	r := &nfcsim.Reader{T: timing}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(sctx, s); close(done) }()
	d := pn532.NewDevice(pn532.NewHSU(pty.File{File: m}), pn532.Options{AckTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { stop(); s.Close(); m.Close(); <-done })
	return d, r, s
}

var (
	aid  = desfire.AID(0xF0A1B2)
	key0 = desfire.Key{Type: desfire.AES, Bytes: bytes.Repeat([]byte{0x11}, 16)}
	key1 = desfire.Key{Type: desfire.AES, Bytes: bytes.Repeat([]byte{0x22}, 16)}
)

func customer(seed uint64, credit int32) *nfcsim.Card {
	c := nfcsim.NewCard(seed)
	c.AddApp(aid, 0x0B, []desfire.Key{key0, key1}, map[byte]*nfcsim.File{
		1: {Type: desfire.StdDataFile, Comm: desfire.Enciphered, Access: desfire.Access{Read: 1, Write: 0, ReadWrite: 0, Change: 0}, Data: []byte("PRE 1|Guest 17|2027-12-31|alcohol|0/10")},
		2: {Type: desfire.ValueFile, Comm: desfire.MACed, Access: desfire.Access{Read: 1, Write: 1, ReadWrite: 0, Change: 0}, Value: credit, Upper: 1000000, LimitedEnabled: true},
	})
	return c
}

// TestTapOverPTY: power-up, an empty field, a customer's card (select,
// authenticate, read, debit, commit), the card pulled mid-session, and
// release — all as PN532 frames over a serial line.
func TestTapOverPTY(t *testing.T) {
	d, r, _ := bench(t, nfcsim.Timing{})
	fw, err := d.GetFirmwareVersion(ctx)
	if err != nil || fw.IC != 0x32 || fw.String() != "PN532 v1.6" {
		t.Fatalf("firmware %v %v", fw, err)
	}
	for _, step := range []func(context.Context) error{d.SAMConfiguration, func(c context.Context) error { return d.SetRetries(c, 1) }} {
		if err := step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := d.ListTarget(ctx, time.Second); ok || err != nil {
		t.Fatalf("empty field: %v %v", ok, err)
	}
	card := customer(7, 5000)
	r.Put(card)
	tg, ok, err := d.ListTarget(ctx, time.Second)
	if err != nil || !ok || !tg.DESFire() || !bytes.Equal(tg.UID, card.UID) {
		t.Fatalf("target %+v %v %v", tg, ok, err)
	}
	c := desfire.New(pn532.Card{D: d, Tg: tg.Tg})
	if err := c.SelectApplication(ctx, aid); err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(ctx, 1, key1); err != nil {
		t.Fatal(err)
	}
	info, err := c.ReadData(ctx, 1, desfire.Enciphered, 0, 0)
	if err != nil || !bytes.HasPrefix(info, []byte("PRE 1|Guest 17")) {
		t.Fatalf("info %q %v", info, err)
	}
	if err := c.Debit(ctx, 2, desfire.MACed, 650); err != nil {
		t.Fatal(err)
	}
	if err := c.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := card.Value(aid, 2); v != 4350 {
		t.Fatalf("value after the tap: %d", v)
	}
	r.Remove()
	var rf *pn532.RFError
	if _, err := c.GetValue(ctx, 2, desfire.MACed); !errors.As(err, &rf) || !rf.Gone() {
		t.Fatalf("card pulled: %v", err)
	}
	if err := d.Release(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Firmware != "PN532 v1.6" || st.Frames == 0 || st.LastSeen.IsZero() {
		t.Fatalf("stats %+v", st)
	}
}

// TestResyncAfterGarbage: noise on the line before an answer, and a
// damaged answer, cost nothing but a NACK.
func TestResyncAfterGarbage(t *testing.T) {
	d, _, s := bench(t, nfcsim.Timing{})
	s.Write([]byte{0x13, 0x37, 0x00, 0x55, 0xAA}) // noise the driver reads first
	if _, err := d.GetFirmwareVersion(ctx); err != nil {
		t.Fatalf("after noise: %v", err)
	}
	// A damaged frame, then the real answer: the driver NACKs the first
	// and takes the resent one.
	s.Write([]byte{0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD5, 0x03, 0x32, 0x01, 0x06, 0x07, 0x00, 0x00})
	if _, err := d.GetFirmwareVersion(ctx); err != nil {
		t.Fatalf("after a damaged frame: %v", err)
	}
}

// TestSilentController: nothing on the line is a clear timeout, retried.
func TestSilentController(t *testing.T) {
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	defer s.Close()
	d := pn532.NewDevice(pn532.NewHSU(pty.File{File: m}), pn532.Options{AckTimeout: 20 * time.Millisecond, Retries: 2})
	start := time.Now()
	_, err = d.GetFirmwareVersion(ctx)
	if !errors.Is(err, pn532.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("silent controller: %v after %v", err, time.Since(start))
	}
	if st := d.Stats(); st.Errors != 1 || st.LastError == "" {
		t.Fatalf("stats %+v", st)
	}
}

// TestRFErrors: an RF error on one command is reported as such.
func TestRFErrors(t *testing.T) {
	d, r, _ := bench(t, nfcsim.Timing{})
	r.Put(customer(8, 100))
	r.RFError = func(cmd byte) byte {
		if cmd == 0x6C {
			return 0x02 // CRC error
		}
		return 0
	}
	tg, _, _ := d.ListTarget(ctx, time.Second)
	c := desfire.New(pn532.Card{D: d, Tg: tg.Tg})
	c.SelectApplication(ctx, aid)
	c.Authenticate(ctx, 1, key1)
	var rf *pn532.RFError
	if _, err := c.GetValue(ctx, 2, desfire.MACed); !errors.As(err, &rf) || rf.Status != 0x02 || rf.Gone() {
		t.Fatalf("CRC error: %v", err)
	}
}

// BenchmarkTapToAuthorised: card on the reader to "line authorised" with
// realistic timing (115200 baud, 2 ms per card command): activate, select
// the application, authenticate, read the card's info, read the credit.
// Reports milliseconds per tap and the PN532 round trips it took.
func BenchmarkTapToAuthorised(b *testing.B) {
	d, r, _ := bench(b, nfcsim.Realistic)
	if err := d.SAMConfiguration(ctx); err != nil {
		b.Fatal(err)
	}
	r.Put(customer(9, 5000))
	var trips int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := d.Stats().Frames
		tg, ok, err := d.ListTarget(ctx, time.Second)
		if err != nil || !ok {
			b.Fatal(err)
		}
		c := desfire.New(pn532.Card{D: d, Tg: tg.Tg})
		if err := c.SelectApplication(ctx, aid); err != nil {
			b.Fatal(err)
		}
		if err := c.Authenticate(ctx, 1, key1); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReadData(ctx, 1, desfire.Enciphered, 0, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := c.GetValue(ctx, 2, desfire.MACed); err != nil {
			b.Fatal(err)
		}
		// Each PN532 command is a command frame, an ACK and an answer.
		trips = (d.Stats().Frames - before) / 3
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/tap")
	b.ReportMetric(float64(trips), "roundtrips/tap")
}
