package localapi_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapagent/tapagent/agent/localapi"
	"github.com/tapagent/tapagent/clock"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/history"
	"github.com/tapagent/tapagent/internal/fsfault"
	"github.com/tapagent/tapagent/sim"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/storage"
)

// wall is the agent on the simulated wall with its local API on a socket in dir.
type wall struct {
	wall  *simwall.Wall
	agent *device.Agent
	store *storage.Store
	path  string
	stop  func()
}

func newWall(t *testing.T, dir string) *wall {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = dir
	clk := clock.NewManual(time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC))
	w := &wall{path: localapi.SocketPath(dir)}
	if w.wall, err = simwall.NewWall(cfg, clk); err != nil {
		t.Fatal(err)
	}
	if w.store, err = storage.Open(filepath.Join(dir, "tapagent.db"), storage.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	if w.agent, err = device.New(device.Options{Config: cfg, Clock: clk, Store: w.store, Valves: w.wall.Valves, Meters: w.wall.Meters}); err != nil {
		t.Fatal(err)
	}
	if err := w.agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.agent.Close() })
	if w.stop, err = localapi.Start(context.Background(), localapi.Options{Path: w.path, Agent: w.agent, Store: w.store, Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	return w
}

func (w *wall) run(d time.Duration) {
	for end := time.Duration(0); end < d; end += 10 * time.Millisecond {
		w.wall.Board.Advance(10 * time.Millisecond)
		w.agent.Tick()
	}
}

func TestOperationsOverTheSocket(t *testing.T) {
	w := newWall(t, t.TempDir())
	fi, err := os.Stat(w.path)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v, %v", fi.Mode(), err)
	}
	ctx := context.Background()
	c, err := localapi.Dial(ctx, w.path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.ChangeKeg(ctx, device.KegChange{Line: 3, Size: flow.ML(30000), KegID: "K-9"})
	if err != nil || k.Keg.Size != flow.ML(30000) || k.Keg.ID != "K-9" {
		t.Fatalf("keg change: %+v, %v", k, err)
	}
	if k, err = c.AdjustKeg(ctx, 3, flow.ML(10000)); err != nil || k.Keg.Remaining != flow.ML(10000) {
		t.Fatalf("adjust: %+v, %v", k, err)
	}
	if k, err = c.Operate(ctx, 3, localapi.OpKegEmpty, localapi.OpRequest{}); err != nil || k.Disabled != "keg_empty" {
		t.Fatalf("empty: %+v, %v", k, err)
	}
	if _, err = c.Operate(ctx, 4, localapi.OpLock, localapi.OpRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.agent.Authorise(2, device.Request{Auth: flow.Auth{Mode: flow.ModeFree}}); err != nil {
		t.Fatal(err)
	}
	w.wall.Board.Line(2).Pour([]sim.Point{{T: 0, MLs: 60}, {T: 20 * time.Second, MLs: 60}})
	w.run(time.Second)
	for _, r := range []struct {
		name string
		err  error
		want error
	}{
		{"unknown line", second(c.ChangeKeg(ctx, device.KegChange{Line: 9, Size: flow.ML(50000)})), device.ErrNoLine},
		{"size", second(c.ChangeKeg(ctx, device.KegChange{Line: 1, Size: flow.ML(10)})), device.ErrKegSize},
		{"pouring", second(c.ChangeKeg(ctx, device.KegChange{Line: 2, Size: flow.ML(50000)})), device.ErrLineBusy},
		{"no such op", second(c.Operate(ctx, 1, "explode", localapi.OpRequest{})), device.ErrBadOperation},
	} {
		if !errors.Is(r.err, r.want) {
			t.Errorf("%s: %v, want %v", r.name, r.err, r.want)
		}
	}
	es, err := c.History(ctx, history.Query{Kinds: []string{history.KindOperation}})
	if err != nil {
		t.Fatal(err)
	}
	me, _ := user.Current()
	if len(es) != 4 || es[0].Op != history.OpKegChange || es[3].Op != history.OpLock || es[0].Actor.Name != me.Username || es[0].Actor.Via != "cli" {
		t.Fatalf("history %+v", es)
	}
	lines, err := c.Lines(ctx)
	if err != nil || len(lines) != 4 || !lines[3].Locked {
		t.Fatalf("lines %+v, %v", lines, err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestOneAgentPerSocket(t *testing.T) {
	dir := t.TempDir()
	w := newWall(t, dir)
	_, err := localapi.Start(context.Background(), localapi.Options{Path: w.path, Agent: w.agent, Store: w.store})
	if err == nil {
		t.Fatal("a second API started on a socket another answers on")
	}
	w.stop()
	if _, err := os.Stat(w.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after stop: %v", err)
	}
	if _, err := localapi.Dial(context.Background(), w.path); !errors.Is(err, localapi.ErrNotRunning) {
		t.Fatalf("dial without an agent: %v", err)
	}
	// A socket file left by an agent that was killed: nobody answers on it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: w.path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := localapi.Dial(context.Background(), w.path); !errors.Is(err, localapi.ErrNotRunning) {
		t.Fatalf("dial on a stale socket: %v", err)
	}
	stop, err := localapi.Start(context.Background(), localapi.Options{Path: w.path, Agent: w.agent, Store: w.store})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	stop()
}

const sockEnv = "LOCALAPI_TEST_SOCKET"

// TestStrangerIsRefused: a process of another user, neither root nor the
// agent's user nor in its group, gets no answer even where the socket's
// mode would let it connect: the peer check is the kernel's word.
func TestStrangerIsRefused(t *testing.T) {
	if path := os.Getenv(sockEnv); path != "" {
		if !fsfault.InChild(t) {
			return
		}
		_, err := localapi.Dial(context.Background(), path)
		if err == nil {
			t.Fatal("user nobody was answered")
		}
		t.Logf("refused as it should be: %v", err)
		return
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as another user")
	}
	dir := fsfault.PublicDir(t)
	w := newWall(t, dir)
	if err := os.Chmod(w.path, 0o666); err != nil { // a mode gone wrong
		t.Fatal(err)
	}
	t.Setenv(sockEnv, w.path)
	fsfault.InChild(t, fsfault.AsNobody)
	if c, err := localapi.Dial(context.Background(), w.path); err != nil {
		t.Fatalf("root refused: %v", err)
	} else if _, err := c.Kegs(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPeerRule(t *testing.T) {
	self := localapi.Self{UID: 998, GID: 997, InGroup: func(uid uint32) bool { return uid == 1001 }}
	for _, c := range []struct {
		p    localapi.Peer
		want bool
	}{
		{localapi.Peer{UID: 0, GID: 0}, true},
		{localapi.Peer{UID: 998, GID: 998}, true},
		{localapi.Peer{UID: 1000, GID: 997}, true},
		{localapi.Peer{UID: 1001, GID: 1001}, true},
		{localapi.Peer{UID: 1002, GID: 1002}, false},
		{localapi.Peer{UID: 65534, GID: 65534}, false},
	} {
		if got := self.Allowed(c.p); got != c.want {
			t.Errorf("%+v: %v", c.p, got)
		}
	}
}

func TestParseQuery(t *testing.T) {
	q, totals, err := localapi.ParseQuery(url.Values{"from": {"2026-11-30"}, "to": {"2026-12-01 06:00"}, "line": {"2"},
		"kind": {"pour,vend"}, "totals": {"day"}, "tz": {"Europe/Berlin"}})
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if !q.From.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, berlin)) || !q.To.Equal(time.Date(2026, 12, 1, 6, 0, 0, 0, berlin)) ||
		q.Line != 2 || len(q.Kinds) != 2 || totals != "day" {
		t.Fatalf("%+v %q", q, totals)
	}
	back, by, err := localapi.ParseQuery(localapi.EncodeQuery(q, totals))
	if err != nil || !back.From.Equal(q.From) || !back.To.Equal(q.To) || back.Line != 2 || by != "day" || back.Loc.String() != "Europe/Berlin" {
		t.Fatalf("round trip %+v %q %v", back, by, err)
	}
	for _, v := range []url.Values{{"from": {"yesterday"}}, {"line": {"x"}}, {"totals": {"week"}}, {"tz": {"Mars/Olympus"}},
		{"from": {"2026-12-02"}, "to": {"2026-12-01"}}, {"limit": {"-4"}}} {
		if _, _, err := localapi.ParseQuery(v); err == nil {
			t.Errorf("%v accepted", v)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add("from=2026-11-30&to=2026-12-01T00:00:00Z&line=2&kind=pour&totals=line")
	f.Add("tz=Europe/Berlin&from=2026-11-30 18:00&limit=10")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, _, err := localapi.ParseQuery(v)
		if err == nil && q.Validate() != nil {
			t.Fatalf("%q: accepted an invalid query %+v", raw, q)
		}
	})
}
