package mdbsim

import (
	"testing"

	"github.com/tapagent/tapagent/payment/mdb"
)

// forms are the two ways a reader may answer a command that asks for data.
var forms = []struct {
	name      string
	immediate bool
}{{"ack-then-poll", false}, {"immediate", true}}

// BenchmarkPowerUpOnTheUART: the power-up sequence through the board
// UART's 9-bit emulation at 9600 baud (byte times kept), with the reader's
// data after a POLL or in the commands' own responses.
func BenchmarkPowerUpOnTheUART(b *testing.B) {
	for _, f := range forms {
		b.Run(f.name, func(b *testing.B) {
			r := New(mdb.Cashless1)
			r.Immediate = f.immediate
			line := &UARTLine{R: r}
			m := &mdb.Master{T: &mdb.UART{L: line}, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
			words, polls := 0, 0
			for b.Loop() {
				r.PowerCycle()
				w, p := len(line.Sent), len(r.Log)
				if err := m.Init(ctx); err != nil {
					b.Fatal(err)
				}
				words += len(line.Sent) - w
				for _, l := range r.Log[p:] {
					if l == "12* 12" {
						polls++
					}
				}
			}
			b.ReportMetric(float64(words)/float64(b.N), "vmc-bytes/op")
			b.ReportMetric(float64(polls)/float64(b.N), "polls/op")
		})
	}
}

// BenchmarkVendOnTheUART: one sale on the UART (BEGIN SESSION seen, VEND
// REQUEST to its approval, VEND SUCCESS, SESSION COMPLETE to END SESSION),
// with the reader's answers after a POLL or in the commands' responses.
func BenchmarkVendOnTheUART(b *testing.B) {
	for _, f := range forms {
		b.Run(f.name, func(b *testing.B) {
			r := New(mdb.Cashless1)
			r.Immediate = f.immediate
			line := &UARTLine{R: r}
			m := &mdb.Master{T: &mdb.UART{L: line}, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
			if err := m.Init(ctx); err != nil {
				b.Fatal(err)
			}
			words := 0
			wait := func(code byte) {
				for i := 0; i < 10; i++ {
					msgs, _ := m.PollOnce(ctx)
					for _, msg := range msgs {
						if msg.Code() == code {
							return
						}
					}
				}
				b.Fatalf("no %02X", code)
			}
			for b.Loop() {
				r.PresentCard(-1)
				w := len(line.Sent)
				wait(mdb.RspBeginSession)
				if err := m.VendRequest(ctx, 390, 1); err != nil {
					b.Fatal(err)
				}
				wait(mdb.RspVendApproved)
				if err := m.VendSuccess(ctx, 1); err != nil {
					b.Fatal(err)
				}
				if err := m.SessionComplete(ctx); err != nil {
					b.Fatal(err)
				}
				wait(mdb.RspEndSession)
				words += len(line.Sent) - w
			}
			b.ReportMetric(float64(words)/float64(b.N), "vmc-bytes/op")
		})
	}
}

// BenchmarkHATRebootFound: a Pi HAT reboots and answers p,NACK to
// everything; the POLLs, and the real time, until the reader answers
// again through the adapter (found after three unanswered commands,
// whatever the reader's non-response time).
func BenchmarkHATRebootFound(b *testing.B) {
	r := New(mdb.Cashless1)
	a := &Adapter{R: r, Out: NoPeripheral}
	p, err := a.Open()
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { a.Close(); p.Close() })
	q := mdb.NewQibixx(p)
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}
	m := &mdb.Master{T: q, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 2, MaxPrice: 0xFFFF}, Tries: 10}
	if err := m.Init(ctx); err != nil {
		b.Fatal(err)
	}
	polls := 0
	for b.Loop() {
		a.Reboot()
		for n := 1; ; n++ {
			if _, err := m.PollOnce(ctx); err == nil {
				polls += n
				break
			}
			if n > 10 {
				b.Fatal("the adapter was not restarted")
			}
		}
	}
	b.ReportMetric(float64(polls)/float64(b.N), "polls/op")
}
