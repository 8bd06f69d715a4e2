package sim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
)

func newTestBoard(spec LineSpec) (*Board, *[]board.Edge) {
	b := NewBoard(clock.NewManual(time.Unix(0, 0)), []LineSpec{spec})
	var edges []board.Edge
	b.Line(1).Meter().Start(func(e board.Edge) { edges = append(edges, e) })
	return b, &edges
}

func TestMeterPulseTrainMatchesFlow(t *testing.T) {
	b, edges := newTestBoard(LineSpec{KTrue: 5400, KegML: 1e6})
	l := b.Line(1)
	l.Valve().Open()
	l.Pour([]Point{{0, 60}})
	b.Advance(10 * time.Second)
	// 600 mL at 5.4 pulses/mL.
	if n := len(*edges); n < 3239 || n > 3241 {
		t.Fatalf("%d edges for 600 mL", n)
	}
	if d := l.Truth().DispensedML; math.Abs(d-600) > 0.1 {
		t.Fatalf("dispensed %.2f", d)
	}
	for i := 1; i < len(*edges); i++ {
		e, p := (*edges)[i], (*edges)[i-1]
		if e.Time <= p.Time || e.Seq != p.Seq+1 {
			t.Fatalf("edge %d out of order: %+v after %+v", i, e, p)
		}
	}
}

func TestValveLatency(t *testing.T) {
	b, edges := newTestBoard(LineSpec{KTrue: 5400, KegML: 1e6, OpenLatency: 30 * time.Millisecond, CloseLatency: 30 * time.Millisecond})
	l := b.Line(1)
	l.Pour([]Point{{0, 60}})
	start := b.Clock().Mono()
	l.Valve().Open()
	b.Advance(time.Second)
	if first := (*edges)[0].Time - start; first < 30*time.Millisecond || first > 35*time.Millisecond {
		t.Fatalf("first edge %s after opening", first)
	}
	closeAt := b.Clock().Mono()
	l.Valve().Close()
	b.Advance(time.Second)
	if last := (*edges)[len(*edges)-1].Time - closeAt; last < 25*time.Millisecond || last > 31*time.Millisecond {
		t.Fatalf("last edge %s after closing", last)
	}
}

func TestKegRunsDryWithFoam(t *testing.T) {
	b, edges := newTestBoard(LineSpec{KTrue: 5400, KegML: 300, SputterML: 100})
	l := b.Line(1)
	l.Valve().Open()
	l.Pour([]Point{{0, 60}})
	b.Advance(20 * time.Second)
	tr := l.Truth()
	if tr.KegML > 0.5 || tr.DispensedML > 300.5 || tr.DispensedML < 230 {
		t.Fatalf("keg %.1f dispensed %.1f", tr.KegML, tr.DispensedML)
	}
	// Foam spins the meter: more pulses than the beer that came out.
	if float64(len(*edges)) < tr.DispensedML*5.4*1.5 {
		t.Fatalf("%d edges for %.0f mL: no foam", len(*edges), tr.DispensedML)
	}
	n := len(*edges)
	b.Advance(5 * time.Second)
	if len(*edges) != n {
		t.Fatal("pulses from an empty keg")
	}
}

func TestLeakBounceDebounceLoss(t *testing.T) {
	b, edges := newTestBoard(LineSpec{KTrue: 5400, KegML: 1e6, BounceProb: 1, BounceMax: 100 * time.Microsecond})
	b.Line(1).Leak(10, 0)
	b.Advance(10 * time.Second) // 100 mL, every edge bouncing
	raw := len(*edges)
	if raw < 540*2 {
		t.Fatalf("%d edges: bounce not modelled", raw)
	}
	if tr := b.Line(1).Truth(); math.Abs(tr.LeakedML-100) > 0.1 || tr.DispensedML != 0 {
		t.Fatalf("truth %+v", tr)
	}
	b2, e2 := newTestBoard(LineSpec{KTrue: 5400, KegML: 1e6, BounceProb: 1, BounceMax: 100 * time.Microsecond, Debounce: 200 * time.Microsecond})
	b2.Line(1).Leak(10, 0)
	b2.Advance(10 * time.Second)
	if n := len(*e2); n < 539 || n > 541 {
		t.Fatalf("debounced: %d edges, want 540", n)
	}
	b3, e3 := newTestBoard(LineSpec{KTrue: 5400, KegML: 1e6, LossProb: 0.1, Seed: 3})
	b3.Line(1).Leak(10, 0)
	b3.Advance(10 * time.Second)
	last := (*e3)[len(*e3)-1].Seq
	if len(*e3) > 520 || last < 539 {
		t.Fatalf("loss: %d delivered, last seq %d", len(*e3), last)
	}
}

func TestRefillAirAndStuckMeter(t *testing.T) {
	b, edges := newTestBoard(LineSpec{KTrue: 5400, KegML: 1e6, RefillML: 3})
	l := b.Line(1)
	b.Advance(3 * time.Second)
	l.Valve().Open()
	l.Pour([]Point{{0, 60}, {time.Second, 60}, {time.Second + time.Millisecond, 0}})
	b.Advance(2 * time.Second)
	// 60 mL of beer plus 3 mL of air through the meter.
	if n := len(*edges); n < 338 || n > 343 {
		t.Fatalf("%d edges, want about 340", n)
	}
	l.SetMeterStuck(true)
	l.Pour([]Point{{0, 60}})
	b.Advance(time.Second)
	if n := len(*edges); n > 343 || l.Truth().DispensedML < 119 {
		t.Fatalf("stuck meter still counting (%d) or beer stopped", n)
	}
}

func TestDemoScenarioParses(t *testing.T) {
	s, err := LoadScenario("demo")
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration.Duration != 52*time.Second || len(s.Steps) < 10 {
		t.Fatalf("demo: %s, %d steps", s.Duration.Duration, len(s.Steps))
	}
	for i := 1; i < len(s.Steps); i++ {
		if s.Steps[i].At.Duration < s.Steps[i-1].At.Duration {
			t.Fatal("steps not sorted")
		}
	}
}

func TestScenarioErrors(t *testing.T) {
	cases := map[string]string{
		"[[step]]\nat = \"1s\"\nline = 1\naction = \"dance\"\n":                                    "unknown action",
		"[[step]]\nat = \"1s\"\nline = 0\naction = \"stop\"\n":                                     "line must be",
		"[[step]]\nat = \"1s\"\nline = 1\naction = \"pour\"\n":                                     "flow_ml_s",
		"[[step]]\nat = \"1s\"\nline = 1\naction = \"authorise\"\nmode = \"portion\"\n":            "portion_ml",
		"[[step]]\nat = \"1s\"\nline = 1\naction = \"authorise\"\nmode = \"free-ish\"\n":           "mode",
		"[[step]]\nat = \"1s\"\nline = 1\naction = \"leak\"\n":                                     "rate_ml_s",
		"[[step]]\nat = \"-1s\"\nline = 1\naction = \"stop\"\n":                                    "negative",
		"[[step]]\nat = \"1s\"\nline = 1\naction = \"stop\"\ncolour = 3\n":                         "unknown key",
		"[[step]]\nat = \"1s\"\nline = 1\naction = \"pour\"\nprofile = [[1.0, 5.0], [0.5, 5.0]]\n": "profile[1]",
		"[[step]]\nat = \"1s\"\nline = 1\naction = \"authorise\"\ncap_money = -5\n":                "negative",
	}
	for body, want := range cases {
		if _, err := ParseScenario([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// TestCreditStepErrors: the simulated register's forms and replays.
func TestCreditStepErrors(t *testing.T) {
	const step = "[[step]]\nat = \"1s\"\nline = 1\naction = \"credit\"\nwaiter = 1\nplu = 1\ncount = 1\n"
	for extra, want := range map[string]string{"form = \"fax\"\n": "form", "replay = -1\n": "replay", "replay = 101\n": "replay",
		"replay_after = \"5s\"\n": "needs replay >= 1", "replay = 1\nreplay_after = \"-1s\"\n": "replay_after", "replay = 1\nreplay_after = \"25h\"\n": "replay_after"} {
		if _, err := ParseScenario([]byte(step + extra)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", extra, err, want)
		}
	}
	for _, extra := range []string{"", "form = \"post\"\nreplay = 3\n", "form = \"post-put\"\n"} {
		if _, err := ParseScenario([]byte(step + extra)); err != nil {
			t.Errorf("%q: %v", extra, err)
		}
	}
	// Replays sent later are a step of their own at that time, repeating the credit.
	sc, err := ParseScenario([]byte(step + "replay = 2\nreplay_after = \"10s\"\n" + "[[step]]\nat = \"5s\"\nline = 1\naction = \"waiter\"\nwaiter = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Steps) != 3 || sc.Steps[2].At.Duration != 11*time.Second || sc.Steps[2].ResendOf == nil ||
		sc.Steps[2].ResendOf.At.Duration != time.Second || sc.Steps[0].ResendOf != nil || sc.Steps[1].Action != "waiter" {
		t.Fatalf("steps %+v", sc.Steps)
	}
}

func TestFlowProfile(t *testing.T) {
	st := Step{FlowMLs: 60, Ramp: clock.D(200 * time.Millisecond), For: clock.D(5 * time.Second)}
	p, err := st.FlowProfile()
	if err != nil || len(p) != 4 || p[1].MLs != 60 || p[3].MLs != 0 || p[3].T <= p[2].T {
		t.Fatalf("%+v %v", p, err)
	}
}

func FuzzParseScenario(f *testing.F) {
	b, _ := builtinScenarios.ReadFile("scenarios/demo.toml")
	f.Add(string(b))
	f.Add("[[step]]\nat = \"1s\"\nline = 1\naction = \"pour\"\nprofile = [[0.0, 1.0]]\n")
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScenario([]byte(s))
		if err != nil {
			return
		}
		for _, st := range sc.Steps {
			if st.Line < 1 || st.At.Duration < 0 {
				t.Fatalf("accepted step %+v", st)
			}
			if st.Action == "pour" {
				if _, err := st.FlowProfile(); err != nil {
					t.Fatalf("validated pour has no profile: %v", err)
				}
			}
		}
	})
}

// TestTelemetronRequestStep: the step names what is asked, and no line.
func TestTelemetronRequestStep(t *testing.T) {
	const step = "[[step]]\nat = \"1s\"\naction = \"telemetron_request\"\n"
	for _, req := range []string{"report", "config"} {
		if _, err := ParseScenario([]byte(step + "request = \"" + req + "\"\n")); err != nil {
			t.Errorf("%s: %v", req, err)
		}
	}
	for _, extra := range []string{"", "request = \"both\"\n"} {
		if _, err := ParseScenario([]byte(step + extra)); err == nil || !strings.Contains(err.Error(), "report or config") {
			t.Errorf("%q: %v", extra, err)
		}
	}
}
