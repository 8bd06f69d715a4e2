package diag

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/internal/testwait"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/tapagent/tapagent/storage"
)

// broker is an in-process MQTT broker on a loopback port.
type broker struct {
	addr string
	srv  *mochi.Server
	once sync.Once
}

func (b *broker) close() { b.once.Do(func() { b.srv.Close() }) }

// quietClose waits for the clients to leave first: mochi v2.6.6 takes a
// read lock twice in Close, which deadlocks when a client's removal is
// waiting for the write lock at that moment.
func (b *broker) quietClose() {
	testwait.For(3*time.Second, func() bool { return b.srv.Clients.Len() <= 1 }) // the inline client stays
	b.close()
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testBroker is the broker a test talks to: Mosquitto when
// TAPAGENT_TEST_MQTT names one (CI does), else an in-process broker.
func testBroker(t *testing.T) string {
	if addr := os.Getenv("TAPAGENT_TEST_MQTT"); addr != "" {
		return addr
	}
	return startBroker(t, freeAddr(t)).addr
}

func startBroker(t *testing.T, addr string) *broker {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	b := &broker{addr: addr, srv: srv}
	t.Cleanup(b.quietClose)
	return b
}

// watcher is a technician's client collecting messages by topic.
type watcher struct {
	nonce string
	c     mqtt.Client
	mu    sync.Mutex
	by    map[string][][]byte
}

func watch(t *testing.T, addr, filter string) *watcher {
	t.Helper()
	return watchAs(t, addr, "", "", filter)
}

// watchAs is watch with a broker account.
func watchAs(t *testing.T, addr, user, password string, filter string) *watcher {
	t.Helper()
	w := &watcher{by: map[string][][]byte{}, nonce: fmt.Sprint(time.Now().UnixNano())}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("tech-%d", time.Now().UnixNano()))
	if user != "" {
		o.SetUsername(user).SetPassword(password)
	}
	w.c = mqtt.NewClient(o)
	if tok := w.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	w.subscribe(filter)
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

// subscribe records what arrives on filter too.
func (w *watcher) subscribe(filter string) {
	w.c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		w.mu.Lock()
		w.by[m.Topic()] = append(w.by[m.Topic()], append([]byte(nil), m.Payload()...))
		w.mu.Unlock()
	}).Wait()
}

// wait polls until topic has a message that ok accepts.
func (w *watcher) wait(t *testing.T, topic string, ok func([]byte) bool) []byte {
	t.Helper()
	var found []byte
	testwait.Until(t, 10*time.Second, "a matching message on "+topic, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		msgs := w.by[topic]
		for i := len(msgs) - 1; i >= 0; i-- {
			if ok(msgs[i]) {
				found = msgs[i]
				return true
			}
		}
		return false
	})
	return found
}

func (w *watcher) call(t *testing.T, root, id string, req any) Response {
	id = w.nonce + "-" + id // unique per test on a shared broker; repeats within a test stay repeats
	t.Helper()
	b, _ := json.Marshal(req)
	w.c.Publish(root+"/cmd/req/"+id, 1, false, b).Wait()
	var r Response
	json.Unmarshal(w.wait(t, root+"/cmd/res/"+id, func([]byte) bool { return true }), &r)
	w.mu.Lock()
	delete(w.by, root+"/cmd/res/"+id)
	w.mu.Unlock()
	return r
}

func state(want string, session uint64) func([]byte) bool {
	return func(b []byte) bool {
		var s Status
		return json.Unmarshal(b, &s) == nil && s.State == want && (session == 0 || s.Session == session)
	}
}

func newDiag(t *testing.T, addr string, device int64, rate int, methods map[string]Handler) (*Diag, context.CancelFunc, chan struct{}) {
	t.Helper()
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	open := make([]string, 0, len(methods))
	for m := range methods {
		open = append(open, m)
	}
	d, err := New(Config{Broker: "tcp://" + addr, DeviceID: device, Version: "test", BootID: "b1", RateLimit: rate, Open: open}, st, methods)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	return d, cancel, done
}

// rootOf is a device's topic root; each test uses its own device so that
// retained messages on a shared broker never mix.
func rootOf(device int64) string { return fmt.Sprintf("tapagent/v1/%d", device) }

// clearStatus removes a retained status left by an earlier run, once the
// watcher has heard its own clearing (it listens to root/#).
func (w *watcher) clearStatus(t *testing.T, root string) {
	t.Helper()
	w.c.Publish(root+"/status", 1, true, []byte{}).Wait()
	w.wait(t, root+"/status", func(b []byte) bool { return len(b) == 0 })
	w.mu.Lock()
	delete(w.by, root+"/status")
	w.mu.Unlock()
}

func TestStatusCommandsAndShutdown(t *testing.T) {
	addr, root := testBroker(t), rootOf(71001)
	w := watch(t, addr, root+"/#")
	w.clearStatus(t, root)
	var pings atomic.Int32
	d, cancel, done := newDiag(t, addr, 71001, 100, map[string]Handler{
		"diag.ping": func(context.Context, json.RawMessage) (int, any) { pings.Add(1); return 200, "pong" },
		"echo": func(_ context.Context, p json.RawMessage) (int, any) {
			var v map[string]any
			if err := json.Unmarshal(p, &v); err != nil {
				return 400, "params: " + err.Error()
			}
			return 200, v
		},
	})
	w.wait(t, root+"/status", state("online", d.Session()))
	if r := w.call(t, root, "a1", Request{Method: "diag.ping"}); r.Status != 200 || r.Body != "pong" {
		t.Fatalf("ping: %+v", r)
	}
	if r := w.call(t, root, "a1", Request{Method: "diag.ping"}); r.Status != 200 || pings.Load() != 1 {
		t.Fatalf("duplicate ran again: %+v, %d pings", r, pings.Load())
	}
	cases := []struct {
		id   string
		req  any
		want int
	}{
		{"e1", Request{Method: "diag.ping", ExpiresAt: time.Now().Add(-time.Minute)}, 410},
		{"m1", json.RawMessage(`{"method": 5`), 400},
		{"m2", map[string]any{"params": 1}, 400},
		{"u1", Request{Method: "no.such"}, 404},
		{"p1", Request{Method: "echo", Params: json.RawMessage(`{"x": 1}`)}, 200},
	}
	for _, c := range cases {
		if r := w.call(t, root, c.id, c.req); r.Status != c.want {
			t.Errorf("%s: %+v, want %d", c.id, r, c.want)
		}
	}
	d.Event(map[string]device.EventType{"type": device.EventPourBooked})
	w.wait(t, root+"/events", func(b []byte) bool { return string(b) == `{"type":"`+string(device.EventPourBooked)+`"}` })
	cancel()
	<-done
	w.wait(t, root+"/status", state("offline", d.Session()))
}

func TestRateLimitAndStaleWill(t *testing.T) {
	addr, root := testBroker(t), rootOf(71002)
	w := watch(t, addr, root+"/#")
	w.clearStatus(t, root)
	d, cancel, done := newDiag(t, addr, 71002, 1, map[string]Handler{
		"diag.ping": func(context.Context, json.RawMessage) (int, any) { return 200, "pong" },
	})
	defer func() { cancel(); <-done }()
	w.wait(t, root+"/status", state("online", d.Session()))
	// A burst of 20 published at once against a limit of one per second.
	req, _ := json.Marshal(Request{Method: "diag.ping"})
	for i := 0; i < 20; i++ {
		w.c.Publish(fmt.Sprintf("%s/cmd/req/%s-r%d", root, w.nonce, i), 1, false, req)
	}
	limited := 0
	for i := 0; i < 20; i++ {
		var r Response
		json.Unmarshal(w.wait(t, fmt.Sprintf("%s/cmd/res/%s-r%d", root, w.nonce, i), func([]byte) bool { return true }), &r)
		if r.Status == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("20 commands at once passed a limit of one per second")
	}
	// A will from an older session arrives late: the agent says online again.
	old, _ := json.Marshal(Status{State: "offline", Session: d.Session() - 1})
	w.mu.Lock()
	delete(w.by, root+"/status")
	w.mu.Unlock()
	w.c.Publish(root+"/status", 1, true, old).Wait()
	w.wait(t, root+"/status", state("online", d.Session()))
}

func TestBrokerRestart(t *testing.T) {
	// Restarting needs a broker this test owns: always in-process.
	addr, root := freeAddr(t), rootOf(71003)
	b := startBroker(t, addr)
	// Watch before the agent connects: see b2 below for why.
	w := watch(t, addr, root+"/#")
	d, cancel, done := newDiag(t, addr, 71003, 100, map[string]Handler{
		"diag.ping": func(context.Context, json.RawMessage) (int, any) { return 200, "pong" },
	})
	defer func() { cancel(); <-done }()
	w.wait(t, root+"/status", state("online", d.Session()))
	b.close()
	testwait.Until(t, 10*time.Second, "the agent sees the broker gone", func() bool { return !d.client.IsConnectionOpen() })
	b2 := startBroker(t, addr)
	// The agent is back when its retained status says so. The watcher
	// then listens to answers only: mochi v2.6.6 (and v2.7.9) reads a
	// topic's retained path without the node's lock while another client
	// retains on it, and the agent may re-retain its status at any moment.
	testwait.Until(t, 10*time.Second, "the agent comes back online", func() bool {
		pk, ok := b2.srv.Topics.Retained.Get(root + "/status")
		return ok && state("online", d.Session())(pk.Payload)
	})
	w2 := watch(t, addr, root+"/cmd/res/+")
	if r := w2.call(t, root, "after-restart", Request{Method: "diag.ping"}); r.Status != 200 {
		t.Fatalf("after the broker came back: %+v", r)
	}
}

// TestSlowConsumerNeverBlocks: with the broker away, events pile up; the
// agent's calls return at once and the oldest events give way.
func TestSlowConsumerNeverBlocks(t *testing.T) {
	d, cancel, done := newDiag(t, freeAddr(t), 71004, 10, nil) // nothing listens there
	defer func() { cancel(); <-done }()
	start := time.Now()
	for i := 0; i < 5000; i++ {
		d.Event(map[string]int{"n": i})
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("5000 events took %s with no broker", el)
	}
	if d.Dropped() < int64(5000-cap(d.events)-1) { // the publisher may hold one
		t.Fatalf("dropped %d, queue holds %d", d.Dropped(), cap(d.events))
	}
	// A flood of commands on a busy worker gets 503, never a blocked callback:
	for i := 0; i < cap(d.work)+10; i++ {
		d.enqueue(nil, fakeMsg{topic: d.Topic(fmt.Sprintf("cmd/req/x%d", i))})
	}
}

type fakeMsg struct {
	mqtt.Message
	topic string
}

func (m fakeMsg) Topic() string   { return m.topic }
func (m fakeMsg) Payload() []byte { return []byte(`{"method":"x"}`) }
func (m fakeMsg) Retained() bool  { return false }

// TestDesiredConfig: a retained config/desired waiting on the broker is
// handed over when the agent connects, and the answer is retained on
// config/reported for whoever looks later.
func TestDesiredConfig(t *testing.T) {
	addr, root := testBroker(t), rootOf(71005)
	w := watch(t, addr, root+"/#")
	w.c.Publish(root+"/config/desired", 1, true, []byte(`{"version":3}`)).Wait()
	t.Cleanup(func() {
		w.c.Publish(root+"/config/desired", 1, true, []byte{}).Wait()
		w.c.Publish(root+"/config/reported", 1, true, []byte{}).Wait()
	})
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := make(chan string, 4)
	opPub, opPriv := operatorKey(1)
	d, err := New(Config{Broker: "tcp://" + addr, DeviceID: 71005, BootID: "b1",
		OperatorKeys: []ed25519.PublicKey{opPub},
		Desired: func(doc []byte, signed bool) (int, any) {
			got <- fmt.Sprintf("%s signed=%v", doc, signed)
			return 202, map[string]any{"version": 3, "status": "accepted"}
		}}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case doc := <-got:
		if doc != `{"version":3} signed=false` {
			t.Fatalf("desired handed over as %q", doc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the retained desired document never reached the agent")
	}
	w.wait(t, root+"/config/reported", func(b []byte) bool { return string(b) == `{"status":"accepted","version":3}` })
	// config.set is the same path as a command, and needs a signature.
	if r := w.call(t, root, "cs0", Request{Method: "config.set", Params: json.RawMessage(`{"version":3}`)}); r.Status != 403 {
		t.Fatalf("unsigned config.set: %+v", r)
	}
	if r := w.signedCall(t, opPriv, root, 71005, "cs1", Request{Method: "config.set", Params: json.RawMessage(`{"version":3}`)}); r.Status != 202 {
		t.Fatalf("config.set: %+v", r)
	}
	if doc := <-got; doc != `{"version":3} signed=true` {
		t.Fatalf("config.set handed over %q", doc)
	}
}

// FuzzCommand: any command payload gets an HTTP-like answer, and asking
// again with the same id gets the same one; the protected method runs only
// for a request that verifies with the operator key.
func FuzzCommand(f *testing.F) {
	pub, priv := operatorKey(9)
	signed := Request{Method: "lock", Params: json.RawMessage(`{"line":1}`), ExpiresAt: time.Now().Add(time.Hour - time.Minute)}
	Sign(priv, 1, "s1", &signed)
	sb, _ := json.Marshal(signed)
	f.Add("s1", sb)
	f.Add("s2", sb) // the same signature under another id
	f.Add("a1", []byte(`{"method": "echo", "params": {"x": 1}}`))
	f.Add("a2", []byte(`{"method": "echo", "expires_at": "2000-01-01T00:00:00Z"}`))
	f.Add("a/3", []byte(`{"method": "echo"}`))
	f.Add("a4", []byte(`{"method": 5`))
	f.Add("a5", []byte(`{"params": []}`))
	f.Add("a6", []byte(`{"method": "lock", "signature": "AAAA", "expires_at": "2099-01-01T00:00:00Z"}`))
	st, err := storage.Open(filepath.Join(f.TempDir(), "db"), storage.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	var ran atomic.Bool
	d, err := New(Config{Broker: "tcp://127.0.0.1:1", DeviceID: 1, RateLimit: 1 << 30, Open: []string{"echo"},
		OperatorKeys: []ed25519.PublicKey{pub}}, st, map[string]Handler{
		"echo": func(_ context.Context, p json.RawMessage) (int, any) { return 200, p },
		"lock": func(context.Context, json.RawMessage) (int, any) { ran.Store(true); return 200, "locked" },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string, payload []byte) {
		j := job{payload: payload, size: len(payload), at: time.Now()}
		if len(payload) > MaxRequest {
			j.payload = nil
		}
		ran.Store(false)
		r := d.handle(context.Background(), id, j)
		switch r.Status {
		case 200, 400, 403, 404, 409, 410, 413: // 409: another payload under an id answered before
		default:
			t.Fatalf("status %d for %q", r.Status, payload)
		}
		var req Request
		if ran.Load() && (json.Unmarshal(payload, &req) != nil || !Verify([]ed25519.PublicKey{pub}, 1, id, req)) {
			t.Fatalf("the protected method ran for %q on id %q", payload, id)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("answer cannot be sent: %v", err)
		}
		if b, _ := json.Marshal(r); len(b) > 2*maxEcho+len(id)+200 && r.Status != 200 {
			t.Fatalf("a refusal of %d bytes echoes %d bytes", len(payload), len(b))
		}
		ran.Store(false)
		if again := d.handle(context.Background(), id, j); again.Status != r.Status || ran.Load() {
			t.Fatalf("repeat of %q answered %d, first %d (ran again: %v)", id, again.Status, r.Status, ran.Load())
		}
	})
}
