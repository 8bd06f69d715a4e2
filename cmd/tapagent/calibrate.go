package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
)

// calibration is one run of the wizard: an agent on hardware or the
// simulated wall, driven in the background while the technician answers.
type calibration struct {
	cfg    *config.Config
	line   int
	agent  *device.Agent
	events chan device.Event
	simLn  *sim.Line // nil on hardware
	in     *bufio.Reader
	out    io.Writer
}

func cmdCalibrate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (required on hardware)")
	lineID := fs.Int("line", 1, "line to calibrate")
	useSim := fs.Bool("sim", false, "calibrate a line of the simulated wall (bench practice, tests)")
	simK := fs.Float64("sim-k-true", 0, "with --sim: the simulated meter's real pulses per litre (default: as configured)")
	simML := fs.Float64("sim-pour-ml", 500, "with --sim: how much the simulated pour delivers")
	data := fs.String("data", "", "data directory (default: device.data_dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg *config.Config
	var err error
	switch {
	case *cfgPath != "":
		cfg, err = config.Load(*cfgPath)
	case *useSim:
		cfg, err = config.Default()
	default:
		return fmt.Errorf("%w: --config FILE is required (or --sim for the simulated wall)", errUsage)
	}
	if err != nil {
		return err
	}
	if *data != "" {
		cfg.Device.DataDir = *data
	}
	if _, ok := cfg.Line(*lineID); !ok {
		return fmt.Errorf("%w: no line %d in the configuration", errUsage, *lineID)
	}
	store, err := agent.OpenStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	c := &calibration{cfg: cfg, line: *lineID, events: make(chan device.Event, 1024),
		in: bufio.NewReader(stdin), out: stdout}
	emit := func(ev device.Event) {
		select {
		case c.events <- ev:
		default:
		}
	}
	w := agent.Wall{Config: cfg, Store: store, Emit: emit, Log: newLogger(stderr, "warn", "text")}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var drive func()
	if *useSim {
		clk := clock.NewManual(time.Now())
		for i := range cfg.Sim.Lines {
			if cfg.Sim.Lines[i].ID == *lineID && *simK > 0 {
				cfg.Sim.Lines[i].KTrue = *simK
			}
		}
		wall, err := simwall.NewWall(cfg, clk)
		if err != nil {
			return err
		}
		w.Clock, w.Lines = clk, agent.Lines{Valves: wall.Valves, Meters: wall.Meters}
		c.simLn = wall.Board.Line(*lineID)
		c.simLn.SetKeg(1e6)
		drive = func() { driveSim(ctx, wall.Board, c) }
	} else {
		lines, err := agent.LinuxBoard(cfg).Lines()
		if err != nil {
			return err
		}
		defer func() { _ = lines.Release() }()
		w.Clock, w.Lines = clock.System{}, lines
	}
	core, _, err := agent.NewWall(w)
	if err != nil {
		return err
	}
	if err := core.Start(); err != nil {
		return errors.Join(err, core.Close())
	}
	c.agent = core
	wg.Add(1)
	go func() {
		defer wg.Done()
		if drive != nil {
			drive()
			return
		}
		_ = core.Run(ctx, cfg.Device.Tick.Duration, time.Second)
	}()
	err = c.wizard(ctx, *simML)
	cancel()
	wg.Wait()
	return errors.Join(err, core.Close())
}

// driveSim runs the simulated wall twenty times faster than real time.
func driveSim(ctx context.Context, b *sim.Board, c *calibration) {
	for ctx.Err() == nil {
		b.Advance(10 * time.Millisecond)
		c.agent.Tick()
		time.Sleep(500 * time.Microsecond)
	}
}

func (c *calibration) wizard(ctx context.Context, simML float64) error {
	lc, _ := c.cfg.Line(c.line)
	st := c.status()
	fmt.Fprintf(c.out, "Calibrating line %d (%s). Current K-factor: %s pulses/L.\n", c.line, lc.Product, device.FormatK(st.KMilli))
	fmt.Fprintf(c.out, "Place a measured vessel (1 L or more is best) under the tap and press Enter to open the valve.\n")
	if _, err := c.ask(); err != nil {
		return err
	}
	pourID, err := c.agent.Authorise(c.line, device.Request{Auth: flow.Auth{Mode: flow.ModeCalibration},
		Ref: map[string]string{"source": "calibrate"}})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Valve open. Pour into the vessel, then press Enter.\n")
	if c.simLn != nil {
		if err := c.simulatePour(ctx, simML); err != nil {
			return err
		}
	}
	if _, err := c.ask(); err != nil {
		_ = c.agent.Stop(c.line)
		return err
	}
	_ = c.agent.Stop(c.line)
	booked, err := c.waitBooked(ctx, pourID)
	if err != nil {
		return err
	}
	return c.finish(booked)
}

func (c *calibration) simulatePour(ctx context.Context, ml float64) error {
	const rate = 60.0
	secs := ml / rate
	c.simLn.Pour([]sim.Point{{T: 0, MLs: rate}, {T: time.Duration(secs * float64(time.Second)), MLs: rate},
		{T: time.Duration(secs*float64(time.Second)) + time.Millisecond, MLs: 0}})
	// Done once beer has flowed and the vessel level has stopped rising.
	last, still := -1.0, 0
	for still < 5 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		got := c.simLn.Truth().DispensedML
		if got > 0 && got == last {
			still++
		} else {
			still = 0
		}
		last = got
	}
	fmt.Fprintf(c.out, "(simulated: the vessel holds %.1f mL)\n", c.simLn.Truth().DispensedML)
	return nil
}

func (c *calibration) waitBooked(ctx context.Context, pourID string) (device.Event, error) {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ev.Type == device.EvBooked && ev.PourID == pourID {
				return ev, nil
			}
		case <-timeout:
			return device.Event{}, errors.New("the calibration pour was not booked within 10 s")
		case <-ctx.Done():
			return device.Event{}, ctx.Err()
		}
	}
}

func (c *calibration) finish(ev device.Event) error {
	old := c.status().KMilli
	pulses := device.NetPulses(flow.Result{Pulses: ev.Pulses, Compensated: ev.Volume - ev.Charged, KMilli: old})
	if pulses < 100 {
		return fmt.Errorf("only %d pulses counted: pour more (at least 0.5 L) and check the meter wiring", pulses)
	}
	fmt.Fprintf(c.out, "The meter counted %d pulses for the vessel (%s at the current K-factor", pulses, ev.Charged)
	if ev.Pulses != pulses {
		fmt.Fprintf(c.out, "; %d more while the faucet refilled", ev.Pulses-pulses)
	}
	fmt.Fprintf(c.out, ").\n")
	fmt.Fprintf(c.out, "Enter the measured volume in mL: ")
	ans, err := c.ask()
	if err != nil {
		return err
	}
	measured, err := parseML(ans)
	if err != nil {
		return err
	}
	k := (pulses*10_000_000 + int64(measured)/2) / int64(measured)
	dev := (k - old) * 10000 / old
	fmt.Fprintf(c.out, "New K-factor: %s pulses/L (was %s, %+d.%02d%%).\n", device.FormatK(k), device.FormatK(old), dev/100, abs64(dev%100))
	if abs64(dev) > 3000 {
		fmt.Fprintf(c.out, "Warning: more than 30%% off. Check the vessel reading and the meter before storing.\n")
	}
	fmt.Fprintf(c.out, "Store it? [y/N] ")
	if ans, err = c.ask(); err != nil {
		return err
	}
	if !strings.EqualFold(ans, "y") && !strings.EqualFold(ans, "yes") {
		fmt.Fprintln(c.out, "Not stored; the K-factor is unchanged.")
		return nil
	}
	cal, err := c.agent.Calibrate(cliActor("technician"), c.line, pulses, measured)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Stored: line %d K-factor %s pulses/L.\n", c.line, device.FormatK(cal.KMilli))
	return nil
}

func (c *calibration) status() device.LineStatus {
	for _, s := range c.agent.Status() {
		if s.Line == c.line {
			return s
		}
	}
	return device.LineStatus{}
}

func (c *calibration) ask() (string, error) {
	s, err := c.in.ReadString('\n')
	if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
		return "", fmt.Errorf("reading answer: %w", err)
	}
	return strings.TrimSpace(s), nil
}

// parseML reads a decimal millilitre figure ("502", "502.5") without floats.
func parseML(s string) (flow.Vol, error) {
	s = strings.TrimSuffix(strings.TrimSpace(strings.ToLower(s)), "ml")
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", "."))
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || w > 100000 || len(frac) > 1 {
		return 0, fmt.Errorf("%q is not a volume in mL with at most one decimal", s)
	}
	v := flow.Vol(w * 10)
	if frac != "" {
		d, err := strconv.Atoi(frac)
		if err != nil {
			return 0, fmt.Errorf("%q is not a volume in mL", s)
		}
		v += flow.Vol(d)
	}
	if v <= 0 {
		return 0, errors.New("the measured volume must be > 0")
	}
	return v, nil
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
