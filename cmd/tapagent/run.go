package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/tapagent/tapagent/agent/telemetronapi"
	"io"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/web"
)

// cmdRun is the daemon: the assembly on the controller's own board.
func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (required)")
	checkOnly := fs.Bool("check-config", false, "check the configuration, say what to fix, and exit (non-zero when the agent would not start)")
	if err := parseOnlyFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return fmt.Errorf("%w: --config FILE is required", errUsage)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Options{Config: cfg, ConfigPath: *cfgPath, Version: version, Hardware: agent.LinuxBoard(cfg),
		Peers: agent.PeersFrom(cfg), Log: newLogger(stderr, cfg.Log.Level, cfg.Log.Format)})
	if err != nil {
		return err
	}
	if *checkOnly {
		return checkConfig(*cfgPath, cfg, stderr)
	}
	return a.Run(ctx)
}

// errRestart ends `tapagent run` with exit status 75 so that the service
// manager (systemd Restart=on-failure) starts it again.
var errRestart = agent.ErrRestart

// checkConfig reports a configuration that loads: the agent would start
// with it, and each part it would keep off is named with the fix.
func checkConfig(path string, cfg *config.Config, w io.Writer) error {
	if err := web.Check(cfg); err != nil {
		return err
	}
	if err := telemetronapi.Check(cfg.Telemetron, cfg.Device.DataDir); err != nil {
		return err
	}
	for _, err := range []error{cfg.MQTT.LinkRefusal(), cfg.Firmware.ManifestRefusal()} {
		if err != nil {
			fmt.Fprintf(w, "warning: %v\n", err)
		}
	}
	fmt.Fprintf(w, "%s: the agent starts with this configuration\n", path)
	return nil
}
