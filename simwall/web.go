package simwall

import (
	"fmt"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
)

// dashboardWall is the agent as the simulated wall's dashboard acts on it:
// a keg changed on the dashboard is a fresh simulated keg too, so the line
// pours again, as a keg change in a scenario does.
type dashboardWall struct {
	*device.Agent
	wall *Wall
}

// ChangeKeg records a fresh keg and connects it on the simulated line.
func (w dashboardWall) ChangeKeg(by device.Actor, c device.KegChange) error {
	line := w.wall.Board.Line(c.Line)
	if line == nil {
		return fmt.Errorf("line %d: %w", c.Line, device.ErrNoLine)
	}
	if err := w.Agent.ChangeKeg(by, c); err != nil {
		return err
	}
	line.SetKeg(float64(c.Size) / 10) // the simulated keg is in mL
	return nil
}

// AdjustKeg records a measured level; the simulated keg holds it too.
func (w dashboardWall) AdjustKeg(by device.Actor, id int, remaining flow.Vol) error {
	line := w.wall.Board.Line(id)
	if line == nil {
		return fmt.Errorf("line %d: %w", id, device.ErrNoLine)
	}
	if err := w.Agent.AdjustKeg(by, id, remaining); err != nil {
		return err
	}
	line.SetKeg(float64(remaining) / 10)
	return nil
}
