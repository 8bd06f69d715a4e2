package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/doctor"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/sim/exesim"
	"github.com/tapagent/tapagent/sim/simhost"
	"github.com/tapagent/tapagent/transport"
)

// errChecksFailed makes doctor exit 1 after printing its report.
var errChecksFailed = errors.New("checks failed")

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file to check (default: "+installedConfig+"; with --sim, the simulated controller's)")
	user := fs.String("user", "tapagent", "the account the service runs as")
	offline := fs.Bool("offline", false, "do not contact the TTG server or the MQTT broker")
	asJSON := fs.Bool("json", false, "JSON output")
	simModel := fs.String("sim", "", "check a simulated `board` instead of this machine: rpi4 or rpi5")
	var faults []string
	fs.Func("fault", "with --sim, inject a fault (repeatable): "+strings.Join(simhost.Faults(), ", "), func(s string) error {
		faults = append(faults, s)
		return nil
	})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var simCfg func() (*config.Config, error)
	// --sim with --config checks that file on the simulated board; --sim
	// alone takes the simulated controller's own configuration.
	if *simModel != "" && *cfgPath == "" {
		simCfg = func() (*config.Config, error) {
			b, err := simhost.Config(*simModel)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errUsage, err)
			}
			return config.Parse(b)
		}
	}
	cfg, path, err := resolveAgentConfig(*cfgPath, simCfg)
	if err != nil {
		return err
	}
	if path == "" { // the simulated controller's own configuration, where the package puts it
		path = filepath.Join(simhost.ConfDir, "tapagent.toml")
	}
	confDir := filepath.Dir(path)
	var host doctor.Host = doctor.System{}
	var reader doctor.Probe
	if cfg.Reader.Port != "" || cfg.Reader.I2C != "" {
		reader = doctor.ReaderProbe(cfg)
	}
	var terminal doctor.Probe
	if cfg.MDB.Port != "" {
		terminal = doctor.MDBProbe(cfg)
	}
	var machine doctor.Probe
	if cfg.EXE.Port != "" {
		machine = doctor.EXEProbe(cfg)
	}
	if *simModel != "" {
		b, err := simhost.New(*simModel, cfg.Device.DataDir, confDir)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		for _, f := range faults {
			if err := b.Inject(f); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
		}
		host = b
		if reader != nil {
			reader = b.ReaderProbe
		}
		if terminal != nil {
			terminal = func(ctx context.Context) (string, error) {
				bus, end, err := b.TerminalBus(ctx, transport.MDBAddress(cfg.MDB))
				if err != nil {
					return "", err
				}
				defer end()
				m := transport.MDBMaster(cfg, bus, version)
				m.Poll = time.Millisecond
				return doctor.AskTerminal(ctx, m)
			}
		}
		if machine != nil {
			machine = simMachineProbe
		}
	} else if len(faults) > 0 {
		return fmt.Errorf("%w: --fault needs --sim", errUsage)
	}
	o := doctor.Options{Config: cfg, ConfigPath: path, Host: host, User: *user, Reader: reader, MDB: terminal, EXE: machine}
	if !*offline {
		if cfg.TTG.URL != "" {
			o.TTG = doctor.TTGProbe(cfg, slog.New(slog.DiscardHandler))
		}
		if cfg.MQTT.Broker != "" {
			o.MQTT = doctor.MQTTProbe(cfg)
		}
		if cfg.TouchTopUp.URL != "" {
			o.TouchTopUp = doctor.TouchTopUpProbe(cfg)
		}
		if cfg.SmartNow.URL != "" {
			o.SmartNow = doctor.SmartNowProbe(cfg)
		}
		if cfg.Telemetron.URL != "" {
			o.Telemetron = doctor.TelemetronProbe(cfg)
		}
	}
	r := doctor.Run(ctx, o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		r.Write(stdout)
	}
	if r.Worst() == doctor.Fail {
		return errChecksFailed
	}
	return nil
}

// simMachineProbe runs the EXE check against a simulated machine behind a
// bridge on a pseudo-terminal (doctor --sim).
func simMachineProbe(ctx context.Context) (string, error) {
	b, err := (&exesim.Machine{}).OnBridge()
	if err != nil {
		return "", err
	}
	defer b.Close()
	return doctor.AskMachine(ctx, &exe.Master{P: b.Line})
}
