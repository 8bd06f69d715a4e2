// Package simwall runs the agent on the simulated tap wall: it builds the
// simulated board from the configuration, plays a scenario against it in
// virtual time (paced to the wall clock or as fast as possible) and shows
// what happens as a live terminal view, readable lines or JSON events.
package simwall

import (
	"fmt"

	"github.com/tapagent/tapagent/board"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/sim"
)

// Wall is a simulated board with its parts indexed by line id.
type Wall struct {
	Board  *sim.Board
	Valves map[int]board.Valve
	Meters map[int]board.PulseSource
	ids    []int
}

// NewWall builds the simulated hardware for every configured line. A line
// without a [[sim.line]] gets a meter that matches its K-factor exactly.
func NewWall(cfg *config.Config, clk *clock.Manual) (*Wall, error) {
	specs := make([]sim.LineSpec, 0, len(cfg.Lines))
	w := &Wall{Valves: map[int]board.Valve{}, Meters: map[int]board.PulseSource{}}
	for i, l := range cfg.Lines {
		if l.ID != i+1 {
			return nil, fmt.Errorf("simulated wall: lines must be numbered 1..%d in order (line[%d] is %d)", len(cfg.Lines), i, l.ID)
		}
		spec := sim.LineSpec{KTrue: l.KFactor, KegML: l.KegSizeL * 1000, SputterML: 250, Seed: uint64(l.ID)}
		for _, s := range cfg.Sim.Lines {
			if s.ID == l.ID {
				spec = sim.LineSpec{KTrue: s.KTrue, Jitter: s.Jitter, BounceProb: s.BounceProb,
					BounceMax: s.BounceMax.Duration, Debounce: s.Debounce.Duration, LossProb: s.LossProb,
					AirBurstsPerMin: s.AirBurstsPerMin, OpenLatency: s.OpenLatency.Duration,
					CloseLatency: s.CloseLatency.Duration, RefillML: s.RefillML, KegML: s.KegL * 1000, SputterML: s.SputterML, Seed: s.Seed}
			}
		}
		specs = append(specs, spec)
		w.ids = append(w.ids, l.ID)
	}
	w.Board = sim.NewBoard(clk, specs)
	for _, id := range w.ids {
		w.Valves[id] = w.Board.Line(id).Valve()
		w.Meters[id] = w.Board.Line(id).Meter()
	}
	return w, nil
}
