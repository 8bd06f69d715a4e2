package cardtap_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/cardtap"
	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/internal/simrun"
	"github.com/tapagent/tapagent/internal/walltest"
	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/nfcsim"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

var keys = cardapp.Keys{AID: cardapp.DefaultAID, PICC: desfire.Key{Type: desfire.DES, Bytes: make([]byte, 8)},
	Issuer: aesKey(0xA0), Tap: aesKey(0xA1), Charger: aesKey(0xA2), Diversify: true, SystemID: []byte("tapagent")}

func aesKey(b byte) desfire.Key {
	return desfire.Key{Type: desfire.AES, Bytes: bytes.Repeat([]byte{b}, 16)}
}

// field gives the issuer direct access to a card, as a charger would have.
type field struct{ c *nfcsim.Card }

func (f field) Transceive(_ context.Context, frame []byte) ([]byte, error) {
	return f.c.Handle(frame), nil
}

func issued(t testing.TB, seed uint64, info cardapp.Info, credit int64) *nfcsim.Card {
	c := nfcsim.NewCard(seed)
	uid, _, _, _ := c.Activation()
	s := &cardapp.Session{C: desfire.New(field{c}), UID: uid, Keys: keys}
	if err := s.Issue(context.Background(), info, credit); err != nil {
		t.Fatal(err)
	}
	return c
}

// rig is the simulated wall on virtual time, the agent, a simulated PN532
// on a pseudo-terminal and the tap controller on the real driver.
type rig struct {
	t      testing.TB
	wall   *simrun.Wall
	agent  *device.Agent
	reader *nfcsim.Reader
	store  *storage.Store
	tap    *cardtap.Tap
	ev     walltest.Events
}

func newRig(t testing.TB, lines ...int) *rig {
	return newRigTimed(t, nfcsim.Timing{}, 5*time.Millisecond, lines...)
}

func newRigTimed(t testing.TB, timing nfcsim.Timing, poll time.Duration, lines ...int) *rig {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	for i := range cfg.Sim.Lines {
		cfg.Sim.Lines[i].AirBurstsPerMin = 0
	}
	clk := clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))
	r := &rig{t: t, reader: &nfcsim.Reader{T: timing}}
	if r.wall, err = simrun.NewWall(cfg, clk); err != nil {
		t.Fatal(err)
	}
	if r.store, err = storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"), storage.Options{}); err != nil {
		t.Fatal(err)
	}
	var tap *cardtap.Tap
	r.agent, err = device.New(device.Options{Config: cfg, Clock: clk, Store: r.store, Valves: r.wall.Valves, Meters: r.wall.Meters,
		Emit: func(ev device.Event) {
			if tap != nil {
				tap.Observe(ev)
			}
			r.ev.Add(ev)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.agent.Start(); err != nil {
		t.Fatal(err)
	}
	m, s, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { r.reader.Serve(ctx, s); close(served) }()
	d := pn532.NewDevice(pn532.NewHSU(pty.File{File: m}), pn532.Options{})
	if err := d.SAMConfiguration(ctx); err != nil {
		t.Fatal(err)
	}
	r.tap = cardtap.New(cardtap.Options{Reader: d, Agent: r.agent, Store: r.store, Keys: keys, Lines: lines,
		Poll: poll, Presence: 20 * time.Millisecond, Now: clk.Now})
	tap = r.tap
	ran := make(chan struct{})
	go func() { r.tap.Run(ctx); close(ran) }()
	t.Cleanup(func() {
		stop()
		<-ran
		s.Close()
		m.Close()
		<-served
		r.agent.Close()
		r.store.Close()
	})
	return r
}

// until runs the wall on virtual time, with a little real time for the
// reader, until cond holds.
func (r *rig) until(what string, cond func() bool) {
	r.t.Helper()
	walltest.Loop{Wall: r.wall, Agent: r.agent, Events: &r.ev, Pause: 200 * time.Microsecond}.Until(r.t, what, cond)
}

func (r *rig) event(typ string) (device.Event, bool) { return r.ev.Find(typ) }
func (r *rig) count(typ string) int                  { return r.ev.Count(typ) }
func (r *rig) has(typ string) func() bool            { return r.ev.Has(typ) }
func (r *rig) types() string                         { return r.ev.String() }

// pour is a guest drawing about 300 mL on a line.
func (r *rig) pour(line int) {
	r.wall.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: 100}, {T: 3 * time.Second, MLs: 100}, {T: 3100 * time.Millisecond, MLs: 0}})
}

var guest = cardapp.Info{Type: ttg.CardPre, Name: "Guest", Alcohol: true}

func TestPrepaidPourIsDebitedOnTheCard(t *testing.T) {
	r := newRig(t, 1, 2)
	card := issued(t, 1, guest, 2000)
	r.reader.Put(card)
	r.until("both served lines authorised", func() bool { return r.count(device.EvAuthorised) == 2 })
	r.pour(2)
	r.until("card charged", r.has(cardtap.EvCardCharged))
	charged, _ := r.event(cardtap.EvCardCharged)
	if charged.Amount <= 0 {
		t.Fatalf("charged %+v\n%s", charged, r.types())
	}
	v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
	if int64(v) != 2000-charged.Amount {
		t.Fatalf("card credit %d after a charge of %d", v, charged.Amount)
	}
	// Line 1's authorisation ended when line 2 started to flow.
	if r.count(device.EvBooked) != 2 {
		t.Fatalf("bookings: %s", r.types())
	}
}

func TestCardTakenAwayMidPourIsCollectedAtTheNextTap(t *testing.T) {
	r := newRig(t, 1)
	card := issued(t, 2, guest, 2000)
	r.reader.Put(card)
	r.until("authorised", r.has(device.EvAuthorised))
	r.pour(1)
	r.until("pouring", r.has(device.EvPourStarted))
	for i := 0; i < 100; i++ { // a second of flow
		r.wall.Board.Advance(10 * time.Millisecond)
		r.agent.Tick()
	}
	r.reader.Remove()
	r.until("unpaid", r.has(cardtap.EvCardUnpaid))
	unpaid, _ := r.event(cardtap.EvCardUnpaid)
	booked, _ := r.event(device.EvBooked)
	if booked.Volume <= 0 || unpaid.Amount != booked.Amount || unpaid.PourID != booked.PourID {
		t.Fatalf("booked %+v unpaid %+v", booked, unpaid)
	}
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); v != 2000 {
		t.Fatalf("nothing may be charged while the card is away: %d", v)
	}
	r.reader.Put(card)
	r.until("collected", r.has(cardtap.EvCardSettled))
	if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); int64(v) != 2000-unpaid.Amount {
		t.Fatalf("after collection: %d", v)
	}
}

func TestLostCommitAnswerIsSettledFromTheCard(t *testing.T) {
	for _, reached := range []bool{true, false} {
		t.Run(map[bool]string{true: "commit reached the card", false: "commit never reached it"}[reached], func(t *testing.T) {
			r := newRig(t, 1)
			card := issued(t, 3, guest, 2000)
			if reached {
				r.reader.LoseAnswer = func(cmd byte) bool { return cmd == 0xC7 }
			} else {
				card.Silent = func(cmd byte) bool { return cmd == 0xC7 }
			}
			r.reader.Put(card)
			r.until("authorised", r.has(device.EvAuthorised))
			r.pour(1)
			r.until("outcome unknown", r.has(cardtap.EvCardUnknown))
			unknown, _ := r.event(cardtap.EvCardUnknown)
			r.reader.LoseAnswer, card.Silent = nil, nil
			r.reader.Remove()
			card.PutBack()
			time.Sleep(50 * time.Millisecond)
			r.reader.Put(card)
			r.until("settled", r.has(cardtap.EvCardSettled))
			v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit)
			if int64(v) != 2000-unknown.Amount {
				t.Fatalf("credit %d: a %d charge must be taken exactly once", v, unknown.Amount)
			}
			servings, _ := card.Value(cardapp.DefaultAID, cardapp.FileServings)
			if servings != 1 {
				t.Fatalf("servings %d", servings)
			}
		})
	}
}

func TestRefusalsCleaningAndServiceMode(t *testing.T) {
	r := newRig(t, 1)
	r.reader.Put(issued(t, 4, cardapp.Info{Type: ttg.CardPre, Name: "Empty"}, 0))
	r.until("no credit", func() bool {
		ev, ok := r.event(cardtap.EvCardRefused)
		return ok && strings.Contains(ev.Detail, "no credit")
	})
	r.reader.Remove()
	time.Sleep(30 * time.Millisecond)
	r.reader.Put(issued(t, 5, cardapp.Info{Type: ttg.CardPre, Name: "Old", Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, 500))
	r.until("expired", func() bool { return strings.Contains(r.types(), "card expired") })
	r.reader.Remove()
	time.Sleep(30 * time.Millisecond)
	manager := issued(t, 6, cardapp.Info{Type: ttg.CardManager, Name: "Boss"}, 0)
	r.reader.Put(manager)
	r.until("service mode on", func() bool { return strings.Contains(r.types(), "service mode on") })
	if st := r.agent.Status(); !st[0].Locked {
		t.Fatal("line 1 not locked")
	}
	r.reader.Remove()
	time.Sleep(30 * time.Millisecond)
	r.reader.Put(manager)
	r.until("service mode off", func() bool { return strings.Contains(r.types(), "service mode off") })
	r.reader.Remove()
	time.Sleep(30 * time.Millisecond)
	r.reader.Put(issued(t, 7, cardapp.Info{Type: ttg.CardClean, Name: "Cleaner"}, 0))
	r.until("cleaning pour authorised", func() bool {
		ev, ok := r.event(device.EvAuthorised)
		return ok && ev.Mode == "cleaning"
	})
}

// BenchmarkPresentToAuthorised is the whole tap with realistic reader
// timing (115200 baud, 2 ms card commands, 30 ms empty polls) and the
// default 200 ms pause between polls: from the moment the card is put on
// the reader to the line's authorisation, including the wait for the next
// poll. Reports the mean and the worst over b.N taps.
func BenchmarkPresentToAuthorised(b *testing.B) {
	r := newRigTimed(b, nfcsim.Realistic, 50*time.Millisecond, 1)
	card := issued(b, 40, cardapp.Info{Type: ttg.CardPre, Name: "Bench", Alcohol: true}, 1_000_000)
	var total, worst, session time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := r.count(device.EvAuthorised)
		// Land at a random point of the polling cycle.
		time.Sleep(time.Duration(i*37%90) * time.Millisecond)
		start := time.Now()
		r.reader.Put(card)
		for r.count(device.EvAuthorised) == before {
			time.Sleep(100 * time.Microsecond)
		}
		d := time.Since(start)
		session += time.Since(r.tap.Health().LastDetected)
		total += d
		worst = max(worst, d)
		r.agent.Stop(1)
		r.reader.Remove()
		for r.count(device.EvBooked) <= before {
			r.wall.Board.Advance(10 * time.Millisecond)
			r.agent.Tick()
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-mean")
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst")
	b.ReportMetric(float64(session.Milliseconds())/float64(b.N), "ms-from-detection")
}
