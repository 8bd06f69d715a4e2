package web

import (
	"log/slog"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/storage"
)

// ForAgent is the dashboard of an agent and its store: the history
// bucket, the event log, the outbox and open intents for /metrics, health
// from src.
func ForAgent(cfg *config.Config, wall Wall, store *storage.Store, src Sources, now func() time.Time, version string, log *slog.Logger) Deps {
	src.Sinks, src.Now = store.SinkStatuses, now
	return Deps{Config: cfg, Wall: wall, History: history.New(store), Events: store.Events, Outbox: store, Intents: store.Intents,
		Health: src.Components, Now: now, Version: version, Log: log}
}
