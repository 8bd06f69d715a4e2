package voucherpay_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/terminalsale"
	"github.com/tapagent/tapagent/agent/voucherpay"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/internal/walltest"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/sim/cloudemu"
	"github.com/tapagent/tapagent/sim/mdbsim"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// host is the machine's hostname in SmartNow.
const host = "wall-1"

// The default wall's line 1 (Helles, PLU 101) costs 6.50 per 500 mL: a
// 500 mL voucher portion is 650.
const portionPrice = 650

// rig is the simulated wall on virtual time with a real bbolt store (TTG
// and SmartNow sinks), the SmartNow emulator on loopback and the voucher
// service; with terminal lines, a simulated cashless reader on the MDB
// terminal.
type rig struct {
	t      testing.TB
	cfg    *config.Config
	clk    *clock.Manual
	wall   *simwall.Wall
	store  *storage.Store
	agent  *device.Agent
	ev     walltest.Events
	emu    *snemu.Server
	url    string
	client *smartnow.Client
	svc    *voucherpay.Service
	reader *mdbsim.Reader
	tap    *terminalsale.Tap
}

type rigOptions struct {
	terminal         []int
	refusalsAsErrors bool
	offline          string
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	for i := range cfg.Sim.Lines {
		cfg.Sim.Lines[i].AirBurstsPerMin = 0
	}
	r := &rig{t: t, cfg: cfg, clk: clock.NewManual(time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC))}
	r.emu, err = snemu.New(snemu.Options{Machines: []snemu.Machine{{ID: 7, Hostname: host}}, RefusalsAsErrors: o.refusalsAsErrors})
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := r.emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	r.url = url
	cfg.SmartNow.URL, cfg.SmartNow.Username, cfg.SmartNow.Password, cfg.SmartNow.Hostname = url, "tapagent", "tapagent", host
	cfg.SmartNow.Vouchers, cfg.SmartNow.Timeout.Duration = true, 2*time.Second
	if o.offline != "" {
		cfg.SmartNow.Offline = o.offline
	}
	if len(o.terminal) > 0 {
		cfg.MDB.Lines = o.terminal
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r.client = smartnow.NewClient(smartnow.Config{BaseURL: url, Username: "tapagent", Password: "tapagent"})
	if r.wall, err = simwall.NewWall(cfg, r.clk); err != nil {
		t.Fatal(err)
	}
	r.store, err = storage.Open(filepath.Join(cfg.Device.DataDir, "tapagent.db"),
		storage.Options{Sinks: []string{storage.DefaultSink, smartnow.SinkName},
			Stamp: storage.Stamp{Currency: "EUR", Decimals: 2, Zone: time.UTC, ZoneName: "UTC"}})
	if err != nil {
		t.Fatal(err)
	}
	r.agent, err = device.New(device.Options{Config: cfg, Clock: r.clk, Store: r.store, Valves: r.wall.Valves,
		Meters: r.wall.Meters, Settle: terminalsale.Settle, Emit: r.ev.Add})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.agent.Start(); err != nil {
		t.Fatal(err)
	}
	if r.svc, err = voucherpay.Build(cfg, r.agent, r.store, o.terminal, r.clk.Now, nil); err != nil {
		t.Fatal(err)
	}
	if len(o.terminal) > 0 {
		r.startTerminal(o.terminal)
	}
	t.Cleanup(func() {
		r.agent.Close()
		r.store.Close()
	})
	return r
}

// startTerminal runs the MDB terminal for lines, taking armed vouchers.
func (r *rig) startTerminal(lines []int) {
	r.reader = mdbsim.New(mdb.Cashless1)
	r.reader.Level = 3
	m := &mdb.Master{T: r.reader, Addr: mdb.Cashless1, ID: mdb.Identity{Level: 3, MaxPrice: 0xFFFF}, Poll: time.Millisecond, Now: r.clk.Now}
	r.tap = terminalsale.New(terminalsale.Options{Master: m, Agent: r.agent, Store: r.store, Lines: lines, Portion: flow.Vol(3000),
		CardType: ttg.CardMDBPre, Minor: 2, VendTimeout: 5 * time.Second, SelectTimeout: 30 * time.Second, Now: r.clk.Now,
		Vouchers: r.svc})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.tap.Run(ctx); close(done) }()
	r.t.Cleanup(func() { cancel(); <-done })
	r.until("reader ready", r.ev.Has(device.EventMDBReady))
}

// voucher creates a voucher in a new campaign of its type.
func (r *rig) voucher(code, typ string, value int64, rules ...snemu.Rule) {
	r.t.Helper()
	r.voucherWith(code, typ, value, func(v *snemu.VoucherRequest) { v.ValidationRules = rules })
}

// voucherWith creates a voucher that edit has changed.
func (r *rig) voucherWith(code, typ string, value int64, edit func(*snemu.VoucherRequest)) {
	r.t.Helper()
	zero := int64(0)
	status, raw, err := r.client.Call(context.Background(), http.MethodPost, "/campaign",
		snemu.CampaignRequest{Name: "c " + code, Type: typ, TotalVouchers: &zero, VoucherValue: &value})
	if err != nil || status != http.StatusCreated {
		r.t.Fatalf("campaign: %d %s %v", status, raw, err)
	}
	c, err := smartnow.DecodeCreated(raw)
	if err != nil {
		r.t.Fatal(err)
	}
	req := snemu.VoucherRequest{Campaign: &c.ID, Type: typ, Value: &value, Code: code}
	edit(&req)
	r.post("/voucher", req)
}

func (r *rig) post(path string, body any) {
	r.t.Helper()
	status, raw, err := r.client.Call(context.Background(), http.MethodPost, path, body)
	if err != nil || status != http.StatusCreated {
		r.t.Fatalf("POST %s: %d %s %v", path, status, raw, err)
	}
}

// emuVoucher is the emulator's voucher with code.
func (r *rig) emuVoucher(code string) snemu.Voucher {
	r.t.Helper()
	for _, v := range r.emu.Vouchers() {
		if v.Code == code {
			return v
		}
	}
	r.t.Fatalf("no voucher %s", code)
	return snemu.Voucher{}
}

func (r *rig) scan(line int, code string) error {
	return r.svc.Scan(context.Background(), line, code, "test")
}

func (r *rig) until(what string, cond func() bool) {
	r.t.Helper()
	walltest.Loop{Wall: r.wall, Agent: r.agent, Events: &r.ev, Pause: 100 * time.Microsecond}.Until(r.t, what, cond)
}

// pour runs beer at 80 mL/s for secs seconds while the valve is open.
func (r *rig) pour(line int, secs float64) {
	d := time.Duration(secs * float64(time.Second))
	r.wall.Board.Line(line).Pour([]sim.Point{{T: 0, MLs: 80}, {T: d, MLs: 80}, {T: d + 100*time.Millisecond, MLs: 0}})
}

// booked waits for n records.
func (r *rig) booked(n int) []storage.Record {
	r.t.Helper()
	var recs []storage.Record
	r.until("booked", func() bool {
		var err error
		recs, err = r.store.Outbox(0, 100)
		return err == nil && len(recs) >= n
	})
	return recs
}

// deliver runs the SmartNow sink over what the outbox holds for it.
func (r *rig) deliver() error {
	r.t.Helper()
	view, err := r.store.Sink(smartnow.SinkName)
	if err != nil {
		r.t.Fatal(err)
	}
	recs, err := view.Outbox(0, 100)
	if err != nil {
		r.t.Fatal(err)
	}
	out, err := smartnow.NewSink(r.client, smartnow.Machine{Hostname: host}).Deliver(context.Background(), recs)
	for _, o := range out {
		if o.Refused != "" {
			r.t.Fatalf("SmartNow refused record %d: %s", o.Seq, o.Refused)
		}
		if aerr := view.Ack(o.Seq); aerr != nil {
			r.t.Fatal(aerr)
		}
	}
	return err
}

// down makes SmartNow unreachable (every connection closed unanswered).
func (r *rig) down(on bool) { r.emu.SetFaults(cloudemu.Faults{Down: on}) }

// refused returns the last voucher_refused event's reason.
func (r *rig) refused() string {
	evs := r.ev.All()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == device.EventVoucherRefused {
			return evs[i].Reason
		}
	}
	return ""
}
