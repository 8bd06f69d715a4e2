package agent

import (
	"context"
	"time"
)

// realClock drives the wall on the system clock (device.Agent.Run): it
// ticks until Shutdown, which stops the pours, lets them settle for up to
// settleLimit and books them.
type realClock struct {
	stop chan struct{}
	done chan error
}

// settleLimit bounds how long the pours may settle at shutdown.
const settleLimit = 2 * time.Second

func (c *realClock) Drive(ctx context.Context, a *Agent) {
	c.stop, c.done = make(chan struct{}), make(chan error, 1)
	wctx, cancel := context.WithCancel(context.Background())
	d := a.Device()
	go func() { c.done <- d.Run(wctx, a.cfg.Device.Tick.Duration, settleLimit) }()
	go func() { <-c.stop; cancel() }()
	<-ctx.Done()
}

func (c *realClock) Shutdown(*Agent) error {
	close(c.stop)
	return <-c.done
}
