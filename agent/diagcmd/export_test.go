package diagcmd

import (
	"context"
	"encoding/json"

	"github.com/tapagent/tapagent/device"
)

// Service exposes remote service mode to the external tests, which need
// the simulated wall (simwall imports this package).
type Service = service

func NewService(a *device.Agent) *Service { return newService(a) }

func (s *service) Observe(ev device.Event) { s.observe(ev) }
func (s *service) ValveTest(ctx context.Context, raw json.RawMessage) (int, any) {
	return s.valveTest(ctx, raw)
}
func (s *service) Calibrate(ctx context.Context, raw json.RawMessage) (int, any) {
	return s.calibrate(ctx, raw)
}
func (s *service) KMilli(line int) int64 { return s.kMilli(line) }
