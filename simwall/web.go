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
func (w dashboardWall) ChangeKeg(id int, kegID string, size flow.Vol) error {
	line := w.wall.Board.Line(id)
	if line == nil {
		return fmt.Errorf("no line %d", id)
	}
	if err := w.Agent.ChangeKeg(id, kegID, size); err != nil {
		return err
	}
	line.SetKeg(float64(size) / 10) // the simulated keg is in mL; size is exact in tenths
	return nil
}
