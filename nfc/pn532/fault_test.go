package pn532_test

import (
	"context"
	"errors"
	"github.com/tapagent/tapagent/internal/testwait"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/sim/nfcsim"
)

// faulty is the driver with a short ACK timeout against a simulated PN532
// whose faults the test sets before the card goes on.
func faulty(t *testing.T, r *nfcsim.Reader) *pn532.Device {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(sctx, s); close(done) }()
	d := pn532.NewDevice(pn532.NewHSU(pty.File{File: m}), pn532.Options{AckTimeout: 20 * time.Millisecond})
	t.Cleanup(func() { stop(); s.Close(); m.Close(); <-done })
	return d
}

// session activates the card and opens the application with key 1.
func session(t *testing.T, d *pn532.Device) *desfire.Card {
	t.Helper()
	tg, ok, err := d.ListTarget(ctx, time.Second)
	if err != nil || !ok {
		t.Fatalf("target: %v %v", ok, err)
	}
	c := desfire.New(pn532.Card{D: d, Tg: tg.Tg})
	if err := c.SelectApplication(ctx, aid); err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(ctx, 1, key1); err != nil {
		t.Fatal(err)
	}
	return c
}

// debits counts the Debit commands the card received.
func debits(c *nfcsim.Card) int {
	n := 0
	for _, b := range c.Commands() {
		if b == 0xDC {
			n++
		}
	}
	return n
}

// TestLateAckRunsTheCommandOnce: an ACK later than the driver's ACK
// timeout is a slow chip, not a lost command: a debit reaches the card
// once and every answer stays paired with its command.
func TestLateAckRunsTheCommandOnce(t *testing.T) {
	r := &nfcsim.Reader{LateAck: func(code byte) time.Duration { return 60 * time.Millisecond }}
	d := faulty(t, r)
	card := customer(20, 5000)
	r.Put(card)
	c := session(t, d)
	if err := c.Debit(ctx, 2, desfire.MACed, 300); err != nil {
		t.Fatal(err)
	}
	if err := c.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := card.Value(aid, 2); v != 4700 || debits(card) != 1 {
		t.Fatalf("value %d after %d debits: want 4700 after one", v, debits(card))
	}
	if v, err := c.GetValue(ctx, 2, desfire.MACed); err != nil || v != 4700 {
		t.Fatalf("GetValue %d %v", v, err)
	}
}

// TestLateAnswerIsUncertainThenResynchronised: an answer later than the
// driver waits is an uncertain exchange: reported as such, never resent;
// the chip is aborted, the late answer (dropped or, the other behaviour,
// still sent) is skipped, and the next commands get their own answers.
func TestLateAnswerIsUncertainThenResynchronised(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(map[bool]string{false: "abort drops the answer", true: "stray answer after the abort"}[keep], func(t *testing.T) {
			var mu sync.Mutex
			late := true
			r := &nfcsim.Reader{KeepAborted: keep, LateAnswer: func(code byte) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				if code == 0x40 && late {
					late = false
					return 300 * time.Millisecond
				}
				return 0
			}}
			d := faulty(t, r)
			card := customer(21, 5000)
			tg := func() *desfire.Card {
				r.Put(card)
				tg, _, _ := d.ListTarget(ctx, time.Second)
				return desfire.New(pn532.Card{D: d, Tg: tg.Tg, Timeout: 100 * time.Millisecond})
			}()
			err := tg.SelectApplication(ctx, aid)
			if !errors.Is(err, pn532.ErrUncertain) {
				t.Fatalf("late answer: %v", err)
			}
			// The chip sends a kept answer as soon as the abort reaches it:
			// it is on the line before the next command's answer.
			if err := tg.SelectApplication(ctx, aid); err != nil {
				t.Fatalf("after the late answer: %v", err)
			}
			if err := tg.Authenticate(ctx, 1, key1); err != nil {
				t.Fatalf("after the late answer: %v", err)
			}
			if v, err := tg.GetValue(ctx, 2, desfire.MACed); err != nil || v != 5000 {
				t.Fatalf("GetValue %d %v", v, err)
			}
			if st := d.Stats(); st.Resyncs == 0 || keep && st.Stray == 0 {
				t.Fatalf("stats %+v", st)
			}
			if r.Aborts() == 0 {
				t.Fatal("the uncertain command was not aborted")
			}
		})
	}
}

// TestLateAckedDebitIsNotResent: a Debit whose ACK comes after the
// driver's ACK timeout is not sent again (the card would debit twice):
// the driver waits on for its answer. When the answer then comes, it is
// the Debit's and the charge commits once; when it comes too late, the
// exchange is uncertain, still not resent, and the card has seen one
// Debit, which dies uncommitted with the session.
func TestLateAckedDebitIsNotResent(t *testing.T) {
	cases := []struct {
		name      string
		answer    time.Duration // after the late ACK
		uncertain bool
	}{
		{"late ACK, then the answer", 30 * time.Millisecond, false},
		{"late ACK, answer later than the driver waits", 400 * time.Millisecond, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			armed := false
			late := func(d time.Duration) func(byte) time.Duration {
				return func(code byte) time.Duration {
					mu.Lock()
					defer mu.Unlock()
					if code == 0x40 && armed {
						return d
					}
					return 0
				}
			}
			// Three times the driver's ACK timeout, within the exchange's.
			r := &nfcsim.Reader{LateAck: late(60 * time.Millisecond), LateAnswer: late(tc.answer)}
			d := faulty(t, r)
			card := customer(uint64(22+10*i), 5000)
			r.Put(card)
			tg, ok, err := d.ListTarget(ctx, time.Second)
			if err != nil || !ok {
				t.Fatalf("target: %v %v", ok, err)
			}
			c := desfire.New(pn532.Card{D: d, Tg: tg.Tg, Timeout: 200 * time.Millisecond})
			if err := c.SelectApplication(ctx, aid); err != nil {
				t.Fatal(err)
			}
			if err := c.Authenticate(ctx, 1, key1); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			armed = true
			mu.Unlock()
			err = c.Debit(ctx, 2, desfire.MACed, 300)
			mu.Lock()
			armed = false
			mu.Unlock()
			if n := debits(card); n != 1 {
				t.Fatalf("the card received the debit %d times (%v)", n, err)
			}
			want := int32(4700)
			switch {
			case tc.uncertain && !errors.Is(err, pn532.ErrUncertain):
				t.Fatalf("answer too late: %v", err)
			case tc.uncertain:
				want = 5000 // not committed: a new session drops it
				c = session(t, d)
			case err != nil:
				t.Fatalf("late ACK, then the answer: %v", err)
			default:
				if err := c.CommitTransaction(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if v, err := c.GetValue(ctx, 2, desfire.MACed); err != nil || v != want {
				t.Fatalf("GetValue %d %v, want %d", v, err, want)
			}
		})
	}
}

// TestStarvedChip: a chip that stalls up to 60 ms before every ACK and
// answer (three times the ACK timeout) still runs a whole tap and a
// charge, each command once.
func TestStarvedChip(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(map[bool]string{false: "frames wait while busy", true: "frames lost while busy"}[drop], func(t *testing.T) {
			starvedChip(t, drop)
		})
	}
}

func starvedChip(t *testing.T, drop bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	r := &nfcsim.Reader{DropWhileBusy: drop, Stall: func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(rng.IntN(60)) * time.Millisecond
	}}
	d := faulty(t, r)
	card := customer(23, 5000)
	r.Put(card)
	for i := range 3 {
		c := session(t, d)
		if _, err := c.ReadData(ctx, 1, desfire.Enciphered, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := c.Debit(ctx, 2, desfire.MACed, 100); err != nil {
			t.Fatal(err)
		}
		if err := c.CommitTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		if v, _ := card.Value(aid, 2); v != int32(5000-100*(i+1)) {
			t.Fatalf("tap %d: value %d", i, v)
		}
	}
	if debits(card) != 3 {
		t.Fatalf("%d debits for 3 taps", debits(card))
	}
}

// TestStartUpAfterStrayAndLateAnswers: the chip still busy with an
// earlier host's command (its answer arrives during start-up) and a late
// first answer: Ready resynchronises and retries.
func TestStartUpAfterStrayAndLateAnswers(t *testing.T) {
	var mu sync.Mutex
	first := true
	r := &nfcsim.Reader{LateAnswer: func(code byte) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if first {
			first = false
			return 250 * time.Millisecond
		}
		return 0
	}, KeepAborted: true}
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(sctx, s); close(done) }()
	defer func() { stop(); s.Close(); m.Close(); <-done }()
	// A stray InListPassiveTarget answer and a SAMConfiguration answer
	// from before the agent started.
	for _, data := range [][]byte{{0x4B, 0x00}, {0x15}} {
		f, _ := pn532.Encode(0xD5, data)
		s.Write(f)
	}
	d := pn532.NewDevice(pn532.NewHSU(pty.File{File: m}), pn532.Options{AckTimeout: 20 * time.Millisecond})
	fw, err := d.Ready(ctx)
	if err != nil || fw.String() != "PN532 v1.6" {
		t.Fatalf("start-up: %v %v", fw, err)
	}
	if err := d.SetRetries(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.ListTarget(ctx, time.Second); err != nil || ok {
		t.Fatalf("after start-up: %v %v", ok, err)
	}
}

// TestWaitTarget: the chip polls by itself and answers when the card
// lands; an empty field ends in an aborted poll, not an error, and the
// next command is unaffected.
func TestWaitTarget(t *testing.T) {
	r := &nfcsim.Reader{}
	d := faulty(t, r)
	if _, ok, err := d.WaitTarget(ctx, 50*time.Millisecond); ok || err != nil {
		t.Fatalf("empty field: %v %v", ok, err)
	}
	card := customer(24, 100)
	// The card comes while the next poll looks at the empty field.
	looked := r.EmptyLooks()
	go func() {
		if testwait.For(time.Minute, func() bool { return r.EmptyLooks() > looked }) {
			r.Put(card)
		}
	}()
	// A poll that did not answer when the card came would end empty.
	tg, ok, err := d.WaitTarget(ctx, time.Minute)
	if err != nil || !ok || !tg.DESFire() {
		t.Fatalf("card: %+v %v %v", tg, ok, err)
	}
	if err := d.SetRetries(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.Remove()
	if _, ok, err := d.ListTarget(ctx, time.Second); ok || err != nil {
		t.Fatalf("limited poll of an empty field: %v %v", ok, err)
	}
}

// TestStatsDoNotWaitForAPoll: the health counters are read while
// WaitTarget holds the line for its whole wait (diagnostics and telemetry
// must not stall behind the chip's polling).
func TestStatsDoNotWaitForAPoll(t *testing.T) {
	polling := make(chan struct{}, 1)
	r := &nfcsim.Reader{LateAck: func(code byte) time.Duration {
		if code == 0x4A {
			select {
			case polling <- struct{}{}:
			default:
			}
		}
		return 0
	}}
	d := faulty(t, r)
	if _, err := d.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.SetRetries(ctx, 0xFF); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { _, _, err := d.WaitTarget(ctx, time.Second); waited <- err }()
	<-polling // the chip polls an empty field: WaitTarget holds the line
	read := make(chan pn532.Stats, 1)
	go func() { read <- d.Stats() }()
	select {
	case st := <-read:
		if st.Frames == 0 {
			t.Fatalf("stats %+v", st)
		}
	case err := <-waited:
		t.Fatalf("Stats waited for the whole poll (%v)", err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

// TestCancelledContextSendsNothing: a command asked for with a context
// already cancelled never reaches the chip.
func TestCancelledContextSendsNothing(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	r := &nfcsim.Reader{LateAck: func(code byte) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if code == 0x32 {
			seen++
		}
		return 0
	}}
	d := faulty(t, r)
	if _, err := d.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.SetRetries(cancelled, 0x01); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// The chip answers in order: had the frame gone out, it would have
	// seen it before this one.
	if _, err := d.GetFirmwareVersion(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen != 0 {
		t.Fatalf("the chip received %d RFConfiguration frames", seen)
	}
}

// TestLostPollAnswerLeavesNoCardActive: a poll whose answer is lost (the
// chip activated the card, the host gave up on the answer) leaves the
// card ACTIVE, deaf to REQA and WUPA (ISO/IEC 14443-3). The driver
// releases the target and cycles the field, so the card is found again:
// after an aborted WaitTarget, and on ListTarget's resent poll.
func TestLostPollAnswerLeavesNoCardActive(t *testing.T) {
	for _, wake := range []bool{false, true} {
		for _, wait := range []bool{true, false} {
			name := map[bool]string{true: "aborted wait", false: "resent poll"}[wait] + map[bool]string{false: ", REQA", true: ", WUPA"}[wake]
			t.Run(name, func(t *testing.T) {
				var mu sync.Mutex
				late := true
				r := &nfcsim.Reader{States: true, WakeHalted: wake, LateAnswer: func(code byte) time.Duration {
					mu.Lock()
					defer mu.Unlock()
					if code == 0x4A && late {
						late = false
						return 300 * time.Millisecond // the card is activated, its answer comes too late
					}
					return 0
				}}
				d := faulty(t, r)
				if _, err := d.Ready(ctx); err != nil {
					t.Fatal(err)
				}
				r.Put(customer(40, 1000))
				if wait {
					if err := d.SetRetries(ctx, 0xFF); err != nil {
						t.Fatal(err)
					}
					if _, ok, err := d.WaitTarget(ctx, 100*time.Millisecond); ok || err != nil {
						t.Fatalf("the aborted wait: %v %v", ok, err)
					}
					if _, ok, err := d.WaitTarget(ctx, time.Second); !ok || err != nil {
						t.Fatalf("the card after an aborted wait: %v %v", ok, err)
					}
					return
				}
				if err := d.SetRetries(ctx, 0x01); err != nil {
					t.Fatal(err)
				}
				if _, ok, err := d.ListTarget(ctx, 100*time.Millisecond); !ok || err != nil {
					t.Fatalf("the card on the resent poll: %v %v", ok, err)
				}
			})
		}
	}
}
