package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/agent/clouds"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/storage"
)

// installedConfig is where the package installs the agent's configuration.
const installedConfig = "/etc/tapagent/tapagent.toml"

// configEnv names another installed configuration (a non-standard install,
// and the tests, which must not depend on this machine's /etc).
const configEnv = "TAPAGENT_CONFIG"

// installedConfigPath is the configuration a command uses without --config.
func installedConfigPath() string {
	if p := os.Getenv(configEnv); p != "" {
		return p
	}
	return installedConfig
}

// loadAgentConfig is the one rule by which every command that reads or
// changes the agent's data finds it. It registers --config FILE and --sim
// on fs, parses args and loads, in this order: --config FILE; else the
// installed configuration (/etc/tapagent/tapagent.toml, or $TAPAGENT_CONFIG)
// when it exists; with --sim, the embedded simulator configuration instead.
// Anything else is a clear error: a field tool that quietly used the
// simulator's ./data on a controller would report an empty agent.
//
// It returns the configuration and the file it came from ("" for the
// embedded one).
func loadAgentConfig(fs *flag.FlagSet, args []string) (*config.Config, string, error) {
	path := fs.String("config", "", "the agent's configuration file (default: "+installedConfig+" when it exists)")
	useSim := fs.Bool("sim", false, "use the embedded simulator configuration (its data in ./data) instead of the installed agent's")
	if err := parseOnlyFlags(fs, args); err != nil {
		return nil, "", err
	}
	var simCfg func() (*config.Config, error)
	if *useSim {
		simCfg = config.Default
	}
	return resolveAgentConfig(*path, simCfg)
}

// resolveAgentConfig applies loadAgentConfig's rule to a --config value;
// simCfg, when not nil, is the configuration --sim stands for.
func resolveAgentConfig(path string, simCfg func() (*config.Config, error)) (*config.Config, string, error) {
	switch {
	case path != "" && simCfg != nil:
		return nil, "", fmt.Errorf("%w: --config and --sim exclude each other", errUsage)
	case path != "":
		cfg, err := config.Load(path)
		return cfg, path, err
	case simCfg != nil:
		cfg, err := simCfg()
		return cfg, "", err
	}
	def := installedConfigPath()
	if _, err := os.Stat(def); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("%w: no configuration: %s does not exist; pass --config FILE (or --sim for the simulated wall)", errUsage, def)
		}
		return nil, "", fmt.Errorf("configuration %s: %w", def, err)
	}
	cfg, err := config.Load(def)
	return cfg, def, err
}

// storePath is the agent's database in its data directory.
func storePath(cfg *config.Config) string {
	return filepath.Join(cfg.Device.DataDir, "tapagent.db")
}

// openStoreReadOnly opens the agent's existing database for a command that
// only looks: it never creates the database or its directory, and a
// missing one is an error naming the path.
func openStoreReadOnly(cfg *config.Config) (*storage.Store, error) {
	return storage.OpenReadOnly(storePath(cfg), clouds.StoreOptions(cfg, nil, nil))
}

// openExistingStore opens the agent's database for a command that changes
// it but has nothing to do on an agent that never ran (push, a read-out of
// the audit, settling a card): a missing database is an error naming the
// path, not a fresh empty one.
func openExistingStore(cfg *config.Config) (*storage.Store, error) {
	if err := existingDatabase(storePath(cfg)); err != nil {
		return nil, err
	}
	return agent.OpenStore(cfg)
}

// existingDatabase says, naming the path, when there is no database there.
func existingDatabase(path string) error {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w (wrong --config or data directory, or the agent has never run)", path, storage.ErrNoDatabase)
	}
	return err
}
