// Package diagcmd connects the agent's parts to the MQTT diagnostics
// channel: which commands exist and what they do, the events it
// publishes, the telemetry it sends.
package diagcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/evadts"
	"github.com/tapagent/tapagent/firmware"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/internal/clip"
	"github.com/tapagent/tapagent/internal/sysinfo"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/transport"
)

// Parts are what the commands reach.
type Parts struct {
	Config  *config.Config
	Agent   Wall
	Store   *storage.Store
	Audit   *evadts.Audit
	Uplink  *serversync.Uplink // nil without a TTG server
	Version string
	Synced  func() bool
	// ConfigPath is the configuration file config.set writes ("" in the simulator).
	ConfigPath string
	// Updater runs firmware.update; nil builds one from the configuration.
	Updater *firmware.Updater
	// Reader reports the card reader's health; nil without a reader.
	Reader func() any
	// Terminal reports the MDB card terminal's health; nil without one.
	Terminal func() any
	// TerminalSelect picks the line for the session at the MDB terminal
	// (mdb.select, for a test vend or a kiosk); nil without a terminal.
	TerminalSelect func(line int) error
	// Machine reports the EXE vending machine's health; nil without one.
	Machine func() any
	// VoucherScan arms a line with a SmartNow voucher (voucher.scan,
	// signed: it pours beer); nil without vouchers.
	VoucherScan func(ctx context.Context, line int, code string) error
	// Assembly lists the daemon's parts and their states (diag.snapshot
	// "parts"); nil leaves them out.
	Assembly func() any
	// Log receives the link's warnings (a refused certificate or
	// password, a retained command); nil discards them.
	Log *slog.Logger
}

// ReadOnly are the commands anyone with access to the device's topics on
// the broker may call: they change nothing and cost little (kegs reads the
// lines' state in memory). Every other command needs a request signed by
// an operator key: dex.read too (an audit read-out is counted in EA3 and
// kept for 14 days), db.check (it reads the whole database) and
// pours.query (totals and a search by card scan the whole history, longer
// than the rate limit's interval, and the one command worker would be
// held from the operator's signed commands).
func ReadOnly() []string {
	return []string{"diag.ping", "diag.snapshot", "outbox.stats", "time.status", "logs.tail", "dex.report",
		"config.get", "kegs"}
}

// Methods is the command table.
func Methods(p Parts) map[string]diag.Handler {
	m := map[string]diag.Handler{
		"diag.ping": func(context.Context, json.RawMessage) (int, any) {
			return 200, map[string]any{"pong": true, "version": p.Version}
		},
		"diag.snapshot": func(context.Context, json.RawMessage) (int, any) {
			snap := map[string]any{"lines": p.Agent.Status(), "outbox": outbox(p)}
			if p.Reader != nil {
				snap["reader"] = p.Reader()
			}
			if p.Terminal != nil {
				snap["terminal"] = p.Terminal()
			}
			if p.Machine != nil {
				snap["exe"] = p.Machine()
			}
			if p.Assembly != nil {
				snap["parts"] = p.Assembly()
			}
			return 200, snap
		},
		"outbox.stats": func(context.Context, json.RawMessage) (int, any) { return 200, outbox(p) },
		"time.status": func(context.Context, json.RawMessage) (int, any) {
			synced := p.Synced == nil || p.Synced()
			return 200, map[string]any{"now": time.Now().UTC(), "clock_synced": synced}
		},
		"dex.report": func(_ context.Context, raw json.RawMessage) (int, any) { return dexReport(p, raw) },
		"dex.read":   func(_ context.Context, raw json.RawMessage) (int, any) { return dexRead(p, raw) },
		"config.get": func(context.Context, json.RawMessage) (int, any) { return 200, redacted(p.Config) },
		"backlight.set": func(_ context.Context, raw json.RawMessage) (int, any) {
			var req struct {
				Brightness *int `json:"brightness"`
			}
			if err := json.Unmarshal(raw, &req); err != nil || req.Brightness == nil {
				return 400, `params must be {"brightness": 0..100}`
			}
			b, err := p.Agent.SetBacklight(*req.Brightness)
			if err != nil {
				return 400, err.Error()
			}
			return 200, map[string]int{"brightness": b}
		},
		"agent.restart": func(context.Context, json.RawMessage) (int, any) {
			if err := p.Agent.Restart(); err != nil {
				return 501, err.Error()
			}
			return 202, "restarting after pours settle"
		},
		"logs.tail": func(_ context.Context, raw json.RawMessage) (int, any) {
			var req struct {
				N int `json:"n"`
			}
			if len(raw) > 0 {
				if err := json.Unmarshal(raw, &req); err != nil {
					return 400, "params: " + err.Error()
				}
			}
			req.N = min(max(req.N, 1), 500)
			evs, err := p.Store.Events(req.N)
			if err != nil {
				return 500, err.Error()
			}
			out := make([]json.RawMessage, len(evs))
			for i, e := range evs {
				out[i] = e
			}
			return 200, out
		},
		"db.check": func(context.Context, json.RawMessage) (int, any) {
			if err := p.Store.Check(); err != nil {
				return 500, err.Error()
			}
			return 200, map[string]any{"ok": true, "outbox": outbox(p)}
		},
	}
	for name, h := range operations(p.Agent, history.New(p.Store)) {
		m[name] = h
	}
	if p.Uplink != nil {
		m["ttg.configupdate"] = func(context.Context, json.RawMessage) (int, any) {
			p.Uplink.Syncer.RequestRefresh()
			return 202, "configuration refresh requested"
		}
	}
	if p.TerminalSelect != nil {
		m["mdb.select"] = lineCmd(p.TerminalSelect)
	}
	if p.VoucherScan != nil {
		m["voucher.scan"] = voucherScan(p.VoucherScan)
	}
	return m
}

func outbox(p Parts) map[string]any {
	n, err := p.Store.OutboxLen()
	dl, derr := p.Store.DeadLetters()
	out := map[string]any{"waiting": n, "dead_letters": len(dl)}
	if e := errors.Join(err, derr); e != nil {
		out["error"] = e.Error()
	}
	if p.Uplink != nil {
		state, url := p.Uplink.LinkState()
		out["server"], out["server_link"] = url, state
	}
	return out
}

func lineCmd(f func(int) error) diag.Handler {
	return func(_ context.Context, raw json.RawMessage) (int, any) {
		var req struct {
			Line int `json:"line"`
		}
		if err := json.Unmarshal(raw, &req); err != nil || req.Line <= 0 {
			return 400, `params must be {"line": N}`
		}
		if err := f(req.Line); err != nil {
			return 404, err.Error()
		}
		return 200, map[string]int{"line": req.Line}
	}
}

// dexOptions are the delivery options of dex.report and dex.read.
type dexOptions struct {
	CP1251 bool `json:"cp1251"`
	Base64 bool `json:"base64"`
}

func (o dexOptions) check() error {
	if o.CP1251 && !o.Base64 {
		return errors.New("cp1251 needs base64 in JSON")
	}
	return nil
}

// dexReport lists kept audit reports by {"since", "until", "port",
// "cp1251", "base64"}: the newest evadts.MaxReports within
// evadts.MaxReportBytes, with "more" when older ones were left out.
func dexReport(p Parts, raw json.RawMessage) (int, any) {
	var req struct {
		dexOptions
		Read  bool      `json:"read"`
		Since time.Time `json:"since"`
		Until time.Time `json:"until"`
		Port  int       `json:"port"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			return 400, "params: " + clip.String(err.Error(), 200)
		}
	}
	if req.Read {
		return 400, "dex.report only lists kept reports; a read-out now is dex.read, a signed command " +
			"(it is counted in the audit's read history and kept for 14 days)"
	}
	if err := req.check(); err != nil {
		return 400, err.Error()
	}
	ks, more, err := p.Audit.Reports(req.Since, req.Until, req.Port)
	if err != nil {
		return 500, err.Error()
	}
	for i := range ks {
		ks[i].Data = string(evadts.Encode([]byte(ks[i].Data), req.CP1251, req.Base64))
	}
	return 200, map[string]any{"reports": ks, "more": more}
}

// dexRead takes an interim audit read-out now ({"cp1251", "base64"}): the
// read is counted (EA3) and the report kept, like a handheld's.
func dexRead(p Parts, raw json.RawMessage) (int, any) {
	var req dexOptions
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			return 400, "params: " + clip.String(err.Error(), 200)
		}
	}
	if err := req.check(); err != nil {
		return 400, err.Error()
	}
	rep, err := p.Audit.Read(evadts.IdentityFrom(p.Config, p.Version), false, "mqtt")
	if err != nil {
		return 500, err.Error()
	}
	return 200, evadts.Kept{Date: time.Now(), Port: evadts.PortOwn, Data: string(evadts.Encode(rep, req.CP1251, req.Base64))}
}

// redacted is the configuration with its secrets blanked.
func redacted(c *config.Config) config.Config { return c.Redacted() }

// ErrLinkRefused wraps the reason the configuration keeps the MQTT link
// off (config.MQTT.LinkRefusal): the agent runs on without it.
var ErrLinkRefused = errors.New("MQTT link refused")

// Start builds the diag client, sends agent events to it and telemetry
// every interval, until ctx ends. Settings the link refuses give an error
// wrapping ErrLinkRefused, and nothing is started.
func Start(ctx context.Context, p Parts, boot string, done chan<- struct{}) (*diag.Diag, func(device.Event), error) {
	c := p.Config.MQTT
	if err := c.LinkRefusal(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrLinkRefused, err)
	}
	sys := sysinfo.NewReader(p.Config.Device.DataDir)
	tcfg, err := transport.MQTTTLS(c)
	if err != nil {
		return nil, nil, err
	}
	methods := Methods(p)
	svc := newService(p.Agent)
	serviceMethods(methods, svc)
	if p.Updater == nil {
		if p.Updater, err = NewUpdater(p); err != nil {
			return nil, nil, err
		}
	}
	methods["firmware.update"] = updateCommand(ctx, p.Updater)
	keys, err := c.Operators()
	if err != nil {
		return nil, nil, err
	}
	id := p.Config.Device.ID
	d, err := diag.New(diag.Config{Broker: c.Broker, Prefix: c.Prefix, DeviceID: id, Username: c.Username,
		Password: c.Password, TLS: tcfg, Version: p.Version, BootID: boot, RateLimit: c.RateLimit,
		OperatorKeys: keys, Open: ReadOnly(), Log: p.Log,
		Desired: ConfigSetter{Path: p.ConfigPath, DeviceID: id, Keys: keys, AcceptUnsigned: c.AcceptUnsignedConfig, Store: p.Store}.Desired}, p.Store, methods)
	if err != nil {
		return nil, nil, err
	}
	go func() {
		d.Run(ctx)
		close(done)
	}()
	if iv := c.Telemetry.Duration; iv > 0 {
		go func() {
			t := time.NewTicker(iv)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					s, _ := sys.Read()
					tm := map[string]any{"at": time.Now().UTC(), "lines": p.Agent.Status(), "outbox": outbox(p),
						"cpu_usage": s.CPUPercent, "mem_used": s.MemUsed, "mem_available": s.MemAvailable,
						"swap_in_use": s.SwapUsed, "swap_available": s.SwapAvailable, "data_disk_free": s.DataFree,
						"data_disk_used": s.DataUsed, "system_disk_free": s.SystemFree, "system_disk_used": s.SystemUsed,
						"uptime": s.UptimeSeconds}
					if p.Reader != nil {
						tm["reader"] = p.Reader()
					}
					if p.Terminal != nil {
						tm["terminal"] = p.Terminal()
					}
					if p.Machine != nil {
						tm["exe"] = p.Machine()
					}
					d.Telemetry(tm)
				}
			}
		}()
	}
	ha := func(device.Event) {}
	if c.HomeAssistant {
		ha = startHomeAssistant(ctx, d, p.Agent, id, p.Version)
	}
	events := func(ev device.Event) {
		svc.observe(ev)
		ha(ev)
		if ev.Type != device.EventPourCheckpoint {
			d.Event(ev)
		}
	}
	return d, events, nil
}
