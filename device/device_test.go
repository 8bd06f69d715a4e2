package device_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/diskfull"
	"github.com/tapagent/tapagent/internal/fsfault"
	"github.com/tapagent/tapagent/storage"
)

// noAirBursts takes the gas bubbles out of line 1's beer: they make the
// meter over-count (as real paddle wheels do), which accuracy tests exclude.
func noAirBursts(c *config.Config) { c.Sim.Lines[0].AirBurstsPerMin = 0 }

func TestFreePourIsBookedWithKeg(t *testing.T) {
	h := newHarness(t, noAirBursts)
	id := h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(300), Price: price})
	h.pour(1, 60, 10*time.Second)
	h.run(8 * time.Second)
	recs := h.outbox()
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	truth := h.line(1).Truth()
	if r.ID != id || r.Kind != storage.KindPour || r.Pour.Reason != flow.ReasonCapVolume || r.Recovered {
		t.Fatalf("record %+v", r)
	}
	if !within(r.Pour.Charged, truth.DispensedML, 1) || !within(r.Pour.Charged, 300, 1) {
		t.Fatalf("charged %s, glass got %.1f mL", r.Pour.Charged, truth.DispensedML)
	}
	if r.Pour.Amount != price.Amount(r.Pour.Charged) || r.Product != "Helles" || r.PLU != 101 {
		t.Fatalf("amount %d product %q plu %d", r.Pour.Amount, r.Product, r.PLU)
	}
	if truth.ValveOpen {
		t.Fatal("valve left open")
	}
	if st := h.status(1); st.KegLeft != flow.ML(50000)-r.Pour.Volume || st.State != "idle" {
		t.Fatalf("keg %s state %s", st.KegLeft, st.State)
	}
	if in, _ := h.store.Intents(); len(in) != 0 {
		t.Fatalf("intents left: %+v", in)
	}
	for _, ev := range []string{device.EvAuthorised, device.EvPourStarted, device.EvValveClosed, device.EvBooked} {
		if h.count(ev) != 1 {
			t.Errorf("%s events: %d", ev, h.count(ev))
		}
	}
}

func TestLeakIsBookedAsUnattributed(t *testing.T) {
	h := newHarness(t, nil)
	h.line(4).Leak(2, 15*time.Second)
	h.run(25 * time.Second)
	if !h.alarm("leak") || h.count(device.EvAlarmCleared) != 1 {
		t.Fatal("leak alarm not raised and cleared")
	}
	recs := h.outbox()
	truth := h.line(4).Truth()
	if len(recs) != 1 || recs[0].Kind != storage.KindUnattributed || !within(recs[0].Pour.Volume, truth.LeakedML, 1.5) {
		t.Fatalf("records %+v, leaked %.1f mL", recs, truth.LeakedML)
	}
	if h.status(4).KegLeft != flow.ML(20000)-recs[0].Pour.Volume {
		t.Fatal("leak not drawn from the keg")
	}
}

func TestKegEmptiesMidPour(t *testing.T) {
	h := newHarness(t, nil)
	h.line(1).SetKeg(400)
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(500), Price: price})
	h.pour(1, 60, 15*time.Second)
	h.run(12 * time.Second)
	recs := h.outbox()
	if len(recs) != 1 || recs[0].Pour.Reason != flow.ReasonFoam {
		t.Fatalf("records %+v", recs)
	}
	if !h.alarm("keg_empty") || h.line(1).Truth().ValveOpen || h.status(1).Disabled != "keg_empty" {
		t.Fatal("empty keg not detected or line still enabled")
	}
	if _, err := h.agent.Authorise(1, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err == nil {
		t.Fatal("pour on an empty keg authorised")
	}
	h.stop()
	h.start()
	if h.status(1).Disabled != "keg_empty" {
		t.Fatal("a restart re-enabled a line whose keg kicked")
	}
	h.line(1).SetKeg(50000)
	if err := h.agent.ChangeKeg(staff, device.KegChange{Line: 1, KegID: "K-42", Size: flow.ML(50000)}); err != nil {
		t.Fatal(err)
	}
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(200), Price: price})
}

func TestBouncingMeterIsFiltered(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		noAirBursts(c)
		c.Sim.Lines[0].BounceProb, c.Sim.Lines[0].Debounce.Duration = 0.5, 0 // kernel debounce off
	})
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(400), Price: price})
	h.pour(1, 60, 15*time.Second)
	h.run(12 * time.Second)
	recs := h.outbox()
	if len(recs) != 1 || !within(recs[0].Pour.Charged, h.line(1).Truth().DispensedML, 1) {
		t.Fatalf("records %+v, glass %.1f", recs, h.line(1).Truth().DispensedML)
	}
	if recs[0].Pour.Bounced < 500 {
		t.Fatalf("only %d bounces rejected", recs[0].Pour.Bounced)
	}
}

func TestMeterStopsMidPortion(t *testing.T) {
	h := newHarness(t, nil)
	h.authorise(2, flow.Auth{Mode: flow.ModePortion, PortionVol: flow.ML(300), PortionPrice: 390})
	h.pour(2, 50, 20*time.Second)
	h.run(2 * time.Second)
	h.line(2).SetMeterStuck(true)
	h.run(5 * time.Second)
	if !h.alarm("no_flow") || h.line(2).Truth().ValveOpen {
		t.Fatal("stuck meter not caught or valve still open")
	}
	recs := h.outbox()
	if len(recs) != 1 || recs[0].Pour.Reason != flow.ReasonNoFlow || recs[0].Pour.Complete {
		t.Fatalf("records %+v", recs)
	}
}

func TestLostEdgesAreReported(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Sim.Lines[2].LossProb = 0.01 })
	h.authorise(3, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(300), Price: price})
	h.pour(3, 60, 10*time.Second)
	h.run(8 * time.Second)
	if !h.alarm("lost_edges") || h.status(3).Lost == 0 {
		t.Fatal("lost edges not reported")
	}
	if recs := h.outbox(); len(recs) != 1 || recs[0].Pour.Lost == 0 {
		t.Fatalf("record does not carry lost edges: %+v", recs)
	}
}

func TestShutdownMidPourBooksAndCloses(t *testing.T) {
	h := newHarness(t, nil)
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, Price: price})
	h.pour(1, 60, 30*time.Second)
	h.run(3 * time.Second)
	store := filepath.Join(h.cfg.Device.DataDir, "tapagent.db")
	h.stop()
	if h.line(1).Truth().ValveOpen {
		t.Fatal("valve open after shutdown")
	}
	s, err := storage.Open(store, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, _ := s.Outbox(0, 10)
	in, _ := s.Intents()
	glass := h.line(1).Truth().DispensedML
	if len(recs) != 1 || recs[0].Pour.Reason != flow.ReasonShutdown || len(in) != 0 || !within(recs[0].Pour.Volume, glass, 2) {
		t.Fatalf("records %+v intents %+v glass %.1f", recs, in, glass)
	}
}

func TestCrashRecoveryBooksCheckpointOnce(t *testing.T) {
	h := newHarness(t, nil)
	id := h.authorise(1, flow.Auth{Mode: flow.ModeFree, Price: price})
	h.pour(1, 60, 30*time.Second)
	h.run(3 * time.Second)
	// Checkpoints are written behind the pour; wait until one with volume is
	// on disk, as the kill -9 test waits for checkpoint events.
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := h.store.Intents()
		if err != nil {
			t.Fatal(err)
		}
		if len(in) == 1 && in[0].Progress.Volume > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpointed intent: %+v", in)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.crash()
	if !h.line(1).Truth().ValveOpen {
		t.Fatal("test setup: a crash leaves the valve as it was")
	}
	// Read what the checkpoints prove, exactly as the new process will see it.
	s, _ := storage.Open(filepath.Join(h.cfg.Device.DataDir, "tapagent.db"), storage.Options{})
	in, _ := s.Intents()
	s.Close()
	want := in[0].Progress
	h.start()
	if h.line(1).Truth().ValveOpen {
		t.Fatal("valve not closed first on restart")
	}
	recs := h.outbox()
	if len(recs) != 1 || recs[0].ID != id || !recs[0].Recovered || recs[0].Pour.Volume != want.Volume ||
		recs[0].Pour.Amount != want.Amount || recs[0].Pour.Reason != flow.ReasonCrash {
		t.Fatalf("recovered %+v, checkpoint %+v", recs, want)
	}
	h.run(2 * time.Second)
	h.crash()
	h.start()
	if n := len(h.outbox()); n != 1 {
		t.Fatalf("%d records after a second restart", n)
	}
	if h.count(device.EvRecovered) != 1 {
		t.Fatalf("%d recovery events", h.count(device.EvRecovered))
	}
}

func TestLockedLineRefusesAndStops(t *testing.T) {
	h := newHarness(t, nil)
	h.authorise(2, flow.Auth{Mode: flow.ModeFree, Price: price})
	h.pour(2, 60, 10*time.Second)
	h.run(time.Second)
	if err := h.agent.SetLocked(staff, 2, true); err != nil {
		t.Fatal(err)
	}
	h.run(time.Second)
	if h.line(2).Truth().ValveOpen {
		t.Fatal("lock did not stop the pour")
	}
	if _, err := h.agent.Authorise(2, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); !errors.Is(err, device.ErrLocked) {
		t.Fatalf("authorise on a locked line: %v", err)
	}
	h.agent.SetLocked(staff, 2, false)
	h.authorise(2, flow.Auth{Mode: flow.ModeFree, Price: price})
}

func TestCalibrationPersists(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { noAirBursts(c); c.Sim.Lines[0].KTrue = 5600 })
	h.authorise(1, flow.Auth{Mode: flow.ModeCalibration})
	h.pour(1, 60, 10*time.Second)
	h.run(11 * time.Second)
	h.agent.Stop(1)
	h.run(time.Second)
	recs := h.outbox()
	if len(recs) != 1 || recs[0].Kind != storage.KindCalibration || recs[0].Pour.Amount != 0 {
		t.Fatalf("calibration pour %+v", recs)
	}
	measured := flow.Vol(h.line(1).Truth().DispensedML*10 + 0.5)
	c, err := h.agent.Calibrate(staff, 1, device.NetPulses(recs[0].Pour), measured)
	if err != nil {
		t.Fatal(err)
	}
	if c.KMilli < 5_580_000 || c.KMilli > 5_620_000 {
		t.Fatalf("K %s, want about 5600", device.FormatK(c.KMilli))
	}
	h.stop()
	h.start()
	if h.status(1).KMilli != c.KMilli {
		t.Fatalf("K after restart %d", h.status(1).KMilli)
	}
}

func TestCorruptDatabaseRaisesEvent(t *testing.T) {
	h := newHarness(t, nil)
	path := filepath.Join(h.cfg.Device.DataDir, "tapagent.db")
	h.stop()
	if err := os.WriteFile(path, []byte("this is not a database, it is a beer mat"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	if h.count(device.EvStorageMoved) != 1 {
		t.Fatal("no storage_corrupt_moved event")
	}
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(100), Price: price})
}

// TestDiskFullMidPour caps the file size (RLIMIT_FSIZE: writes fail with
// EFBIG, as on a full disk) while pours go on, then frees it. Valves must
// end closed, every drop poured must end up booked, nothing twice.
func TestDiskFullMidPour(t *testing.T) {
	if !diskfull.InChild(t) {
		return
	}
	h := newHarness(t, noAirBursts)
	path := filepath.Join(h.cfg.Device.DataDir, "tapagent.db")
	st, _ := os.Stat(path)
	restore, err := diskfull.Limit(st.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	refused := 0
	after := 0 // keep pouring for a while once the disk is full
	for i := 0; i < 300 && after < 12; i++ {
		if h.count(device.EvStorageError) > 0 {
			after++
		}
		if _, err := h.agent.Authorise(1+i%4, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(50), Price: price}}); err != nil {
			refused++
			continue
		}
		h.pour(1+i%4, 60, 2*time.Second)
		h.run(1500 * time.Millisecond)
	}
	if h.count(device.EvStorageError) == 0 {
		t.Fatal("the disk never filled")
	}
	h.run(3 * time.Second)
	for n := 1; n <= 4; n++ {
		if h.line(n).Truth().ValveOpen {
			t.Fatalf("line %d valve open while storage fails", n)
		}
	}
	restore()
	h.run(2 * time.Second) // pending bookings retry
	if h.agent.Busy() {
		t.Fatal("bookings still pending after space returned")
	}
	recs := h.outbox()
	seen := map[string]bool{}
	var booked float64
	for _, r := range recs {
		if seen[r.ID] {
			t.Fatalf("record %s booked twice", r.ID)
		}
		seen[r.ID] = true
		booked += float64(r.Pour.Charged) / 10
	}
	var glass float64
	for n := 1; n <= 4; n++ {
		glass += h.line(n).Truth().DispensedML
	}
	t.Logf("%d storage errors, %d pours refused, %d records; booked %.1f mL of %.1f mL poured",
		h.count(device.EvStorageError), refused, len(recs), booked, glass)
	if glass == 0 || booked < glass*0.99 || booked > glass*1.01 {
		t.Fatalf("booked %.1f mL of %.1f mL poured (%d records, %d refused)", booked, glass, len(recs), refused)
	}
}

// TestServicePours: valve tests and calibration pours run only on a locked
// line, only uncharged, and end at their time limit.
func TestServicePours(t *testing.T) {
	h := newHarness(t, noAirBursts)
	svc := device.Request{Service: true, Auth: flow.Auth{Mode: flow.ModeCleaning, MaxDuration: 2 * time.Second}}
	if _, err := h.agent.Authorise(3, svc); !errors.Is(err, device.ErrNotInService) {
		t.Fatalf("service pour on a line in use: %v", err)
	}
	if err := h.agent.SetLocked(staff, 3, true); err != nil {
		t.Fatal(err)
	}
	paid := device.Request{Service: true, Auth: flow.Auth{Mode: flow.ModeFree, Price: price}}
	if _, err := h.agent.Authorise(3, paid); err == nil {
		t.Fatal("a charged pour ran as a service pour")
	}
	if _, err := h.agent.Authorise(3, svc); err != nil {
		t.Fatal(err)
	}
	h.pour(3, 50, 10*time.Second)
	h.run(time.Second)
	if !h.line(3).Truth().ValveOpen {
		t.Fatal("valve test did not open the valve")
	}
	h.run(3 * time.Second)
	if h.line(3).Truth().ValveOpen {
		t.Fatal("valve test outlived its limit")
	}
	h.run(time.Second)
	recs := h.outbox()
	if len(recs) != 1 || recs[0].Pour.Amount != 0 || recs[0].Pour.Reason != flow.ReasonMaxDuration {
		t.Fatalf("valve test booked as %+v", recs)
	}
}

// TestDrainLetsRunningPoursFinish: before an update, new pours are refused
// while the running one pours to its end and is booked.
func TestDrainLetsRunningPoursFinish(t *testing.T) {
	h := newHarness(t, noAirBursts)
	h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(300), Price: price})
	h.pour(1, 60, 10*time.Second)
	h.run(time.Second)
	h.agent.Drain("firmware update")
	if _, err := h.agent.Authorise(2, device.Request{Auth: flow.Auth{Mode: flow.ModeFree, Price: price}}); !errors.Is(err, device.ErrDraining) {
		t.Fatalf("new pour while draining: %v", err)
	}
	if !h.line(1).Truth().ValveOpen {
		t.Fatal("draining cut the running pour")
	}
	for i := 0; i < 100 && h.agent.Busy(); i++ {
		h.run(100 * time.Millisecond)
	}
	if h.agent.Busy() {
		t.Fatal("the running pour never finished")
	}
	if recs := h.outbox(); len(recs) != 1 || recs[0].Pour.Charged < flow.ML(299) {
		t.Fatalf("drained pour booked as %+v", recs)
	}
	h.agent.Undrain()
	h.authorise(2, flow.Auth{Mode: flow.ModeFree, Price: price})
}

// TestHealthyFollowsTheMainLoop: health is "ticked recently", nothing else.
func TestHealthyFollowsTheMainLoop(t *testing.T) {
	h := newHarness(t, nil)
	if h.agent.Healthy(time.Second) {
		t.Fatal("healthy before the first tick")
	}
	h.run(100 * time.Millisecond)
	if !h.agent.Healthy(time.Second) {
		t.Fatal("not healthy while ticking")
	}
	h.wall.Board.Advance(2 * time.Second) // time passes, the loop is stuck
	if h.agent.Healthy(time.Second) {
		t.Fatal("healthy with a stuck loop")
	}
}

// TestMovedAsideDatabaseKeepsPourIDsAndOpenPour: a database whose event log
// is scribbled over (verified corruption) is moved aside with a pour still
// open on it. The open pour is recovered from its checkpoint and booked,
// the outbox keeps its unsent records, and the next pour's id follows the
// old ones instead of starting again at 1.
func TestMovedAsideDatabaseKeepsPourIDsAndOpenPour(t *testing.T) {
	h := newHarness(t, nil)
	first := h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(100), Price: price})
	h.pour(1, 60, 5*time.Second)
	h.run(4 * time.Second)
	open := h.authorise(1, flow.Auth{Mode: flow.ModeFree, Price: price})
	h.pour(1, 60, 30*time.Second)
	h.run(2 * time.Second)
	want := h.durableIntent(1).Progress
	for i := 0; i < 300; i++ {
		h.agent.Report(device.Event{Type: device.EvStarted, Detail: strings.Repeat("x", 60)})
	}
	h.crash()
	path := filepath.Join(h.cfg.Device.DataDir, "tapagent.db")
	fsfault.ScribbleBucket(t, path, "events")
	h.start()
	if h.count(device.EvStorageMoved) != 1 {
		t.Fatal("no storage_corrupt_moved event")
	}
	recs := h.outbox()
	if len(recs) != 2 || recs[0].ID != first || recs[1].ID != open || !recs[1].Recovered || recs[1].Pour.Volume != want.Volume {
		t.Fatalf("outbox after the move %+v, want %s and %s recovered with %v", recs, first, open, want.Volume)
	}
	next := h.authorise(1, flow.Auth{Mode: flow.ModeFree, CapVol: flow.ML(100), Price: price})
	if next == first || next == open || next != fmt.Sprintf("%d-3", h.cfg.Device.ID) {
		t.Fatalf("pour id after the move %s (before: %s, %s)", next, first, open)
	}
}
