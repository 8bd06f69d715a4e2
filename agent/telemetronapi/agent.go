package telemetronapi

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/telemetron"
)

// ForAgent is the API as the agent serves it from its configuration: the
// machine is [telemetron] machine_id (device.device_id when 0), named and
// located as its audit report names it, its times in ttg.time_zone (the
// zone every record carries).
func ForAgent(cfg *config.Config, wall Wall, store *storage.Store, audit Audit, version string, now func() time.Time, log *slog.Logger) (Options, error) {
	zone, err := cfg.TTG.Location()
	if err != nil {
		return Options{}, fmt.Errorf("ttg.time_zone: %w", err)
	}
	id := evadts.IdentityFrom(cfg, version)
	m := MachineInfo{ID: cfg.Telemetron.Machine(cfg.Device.ID), Name: cfg.Device.Name, Serial: id.Serial, Location: id.Location,
		LocationID: cfg.Device.LocationID, Version: version, Selections: map[int]int{}}
	m.Bus = BusOf(cfg)
	for _, it := range cfg.EXE.Items {
		m.Selections[it.PLU] = it.Selection
	}
	return Options{Config: cfg.Telemetron, DataDir: cfg.Device.DataDir, Machine: m, Wall: wall, Store: store, Audit: audit,
		Identity: id, Snapshot: func() (map[string]any, error) { return telemetron.Snapshot(cfg) }, NoSalesAfter: cfg.Telemetron.NoSalesAfter.Duration,
		Zone: zone, Now: now, Log: log}, nil
}

// BusOf is the payment bus the configuration gives the machine: "exe"
// when [exe] names a bridge port or items, else "mdb" when [mdb] names a
// port or lines, else "". EXE wins when both are set: the EXE machine
// sits behind the MDB terminal, and EXE is the bus its vends are read on.
func BusOf(cfg *config.Config) string {
	switch {
	case cfg.EXE.Port != "" || len(cfg.EXE.Items) > 0:
		return "exe"
	case cfg.MDB.Port != "" || len(cfg.MDB.Lines) > 0:
		return "mdb"
	}
	return ""
}
