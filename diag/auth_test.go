package diag

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"github.com/tapagent/tapagent/internal/testwait"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapagent/tapagent/storage"
)

// operatorKey is a fixed test key pair, n telling them apart.
func operatorKey(n byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// signedCall signs req for device and the id call will use, then calls.
func (w *watcher) signedCall(t *testing.T, key ed25519.PrivateKey, root string, device int64, id string, req Request) Response {
	t.Helper()
	if req.ExpiresAt.IsZero() {
		req.ExpiresAt = time.Now().Add(time.Minute)
	}
	Sign(key, device, w.nonce+"-"+id, &req)
	return w.call(t, root, id, req)
}

// openStore is a bbolt file that outlives one Diag, as the agent's does.
func openStore(t *testing.T, path string) *storage.Store {
	t.Helper()
	st, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSignedCommands: a method outside Open runs only for a request an
// operator key signed for this device, id, method, params and expiry,
// once, even after a restart.
func TestSignedCommands(t *testing.T) {
	addr, root := testBroker(t), rootOf(71101)
	w := watch(t, addr, root+"/cmd/res/+")
	status := watch(t, addr, root+"/status")
	pub, priv := operatorKey(2)
	_, stranger := operatorKey(3)
	var opened atomic.Int32
	var signer, pingSigner atomic.Value
	methods := map[string]Handler{
		"diag.ping": func(ctx context.Context, _ json.RawMessage) (int, any) {
			pingSigner.Store(Signer(ctx))
			return 200, "pong"
		},
		"valve.test": func(ctx context.Context, p json.RawMessage) (int, any) {
			opened.Add(1)
			signer.Store(Signer(ctx))
			return 202, p
		},
	}
	dbPath := filepath.Join(t.TempDir(), "db")
	start := func(keys ...ed25519.PublicKey) func() {
		st := openStore(t, dbPath)
		d, err := New(Config{Broker: "tcp://" + addr, DeviceID: 71101, OperatorKeys: keys, Open: []string{"diag.ping"}}, st, methods)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		// Online is published after the subscriptions are in place.
		status.wait(t, root+"/status", state("online", d.Session()))
		return func() { cancel(); <-done; st.Close() }
	}
	stop := start(pub)
	params := json.RawMessage(`{"line": 2, "seconds": 30}`)
	valve := Request{Method: "valve.test", Params: params}
	tampered := valve
	tampered.Params = json.RawMessage(`{"line": 3, "seconds": 30}`)
	sign := func(key ed25519.PrivateKey, device int64, id string, r Request) Request {
		if r.ExpiresAt.IsZero() {
			r.ExpiresAt = time.Now().Add(time.Minute)
		}
		Sign(key, device, w.nonce+"-"+id, &r)
		return r
	}
	moved := sign(priv, 71101, "other-id", valve)
	retimed := sign(priv, 71101, "t1", valve)
	retimed.ExpiresAt = retimed.ExpiresAt.Add(time.Second)
	swapped := sign(priv, 71101, "t2", valve)
	swapped.Params = tampered.Params
	cases := []struct {
		id   string
		req  Request
		want string
	}{
		{"u1", valve, "needs a request signed by an operator key (tapagent diag call"},
		{"s1", sign(stranger, 71101, "s1", valve), "does not verify"},
		{"d1", sign(priv, 71102, "d1", valve), "does not verify"},
		{"m1", moved, "does not verify"},
		{"t1", retimed, "does not verify"},
		{"t2", swapped, "does not verify"},
		{"x1", sign(priv, 71101, "x1", Request{Method: "valve.test", Params: params, ExpiresAt: time.Now().Add(2 * MaxLifetime)}), "expires_at within"},
		{"g1", Request{Method: "valve.test", Params: params, Signature: "!!", ExpiresAt: time.Now().Add(time.Minute)}, "does not verify"},
	}
	for _, c := range cases {
		if r := w.call(t, root, c.id, c.req); r.Status != 403 || !strings.Contains(fmt.Sprint(r.Body), c.want) {
			t.Errorf("%s: %+v, want 403 %q", c.id, r, c.want)
		}
	}
	if r := w.call(t, root, "p1", Request{Method: "diag.ping"}); r.Status != 200 {
		t.Fatalf("read-only ping with broker access alone: %+v", r)
	}
	if n := opened.Load(); n != 0 {
		t.Fatalf("refused requests opened the valve %d times", n)
	}
	good := sign(priv, 71101, "ok1", valve)
	if r := w.call(t, root, "ok1", good); r.Status != 202 || opened.Load() != 1 {
		t.Fatalf("signed valve.test: %+v (opened %d)", r, opened.Load())
	}
	// The handler knows which key signed it; a read-only call has none.
	if got := signer.Load(); got != KeyID(pub) || pingSigner.Load() != "" || !strings.HasPrefix(KeyID(pub), "key ") || len(KeyID(pub)) != 20 {
		t.Fatalf("signer %q (want %q), ping's %q", got, KeyID(pub), pingSigner.Load())
	}
	// The same signed request again, now and after a restart: answered, not run.
	if r := w.call(t, root, "ok1", good); r.Status != 202 || opened.Load() != 1 {
		t.Fatalf("replay: %+v (opened %d)", r, opened.Load())
	}
	stop()
	stop = start(pub)
	defer func() { stop() }()
	if r := w.call(t, root, "ok1", good); r.Status != 202 || opened.Load() != 1 {
		t.Fatalf("replay after a restart: %+v (opened %d)", r, opened.Load())
	}
	stop()
	stop = start() // no operator keys: nothing protected runs, signed or not
	if r := w.call(t, root, "ok2", sign(priv, 71101, "ok2", valve)); r.Status != 403 || !strings.Contains(fmt.Sprint(r.Body), "trusts none") {
		t.Fatalf("without operator keys: %+v", r)
	}
}

// TestSignatureCoversParamsAsSent: params with spacing and characters
// encoding/json escapes verify the same on both sides.
func TestSignatureCoversParamsAsSent(t *testing.T) {
	pub, priv := operatorKey(4)
	r := Request{Method: "calibrate", Params: json.RawMessage("{ \"note\" : \"<a&b>\",\n \"line\": 1 }"), ExpiresAt: time.Now().Add(time.Minute)}
	Sign(priv, 5, "id-1", &r)
	b, _ := json.Marshal(r)
	var got Request
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !Verify([]ed25519.PublicKey{pub}, 5, "id-1", got) {
		t.Fatalf("the request as sent (%s) does not verify", b)
	}
	if Verify([]ed25519.PublicKey{pub}, 5, "id-2", got) {
		t.Fatal("verified for another id")
	}
}

// TestRetainedCommandIgnored: a command retained on the broker before the
// agent connected never runs; the next live one does.
func TestRetainedCommandIgnored(t *testing.T) {
	addr, root := testBroker(t), rootOf(71102)
	w := watch(t, addr, root+"/#")
	w.clearStatus(t, root)
	req, _ := json.Marshal(Request{Method: "line.unlock"})
	w.c.Publish(root+"/cmd/req/"+w.nonce+"-old", 1, true, req).Wait()
	t.Cleanup(func() { w.c.Publish(root+"/cmd/req/"+w.nonce+"-old", 1, true, []byte{}).Wait() })
	var ran atomic.Int32
	d, cancel, done := newDiag(t, addr, 71102, 100, map[string]Handler{
		"line.unlock": func(context.Context, json.RawMessage) (int, any) { ran.Add(1); return 200, "unlocked" },
	})
	defer func() { cancel(); <-done }()
	w.wait(t, root+"/status", state("online", d.Session()))
	if r := w.call(t, root, "live", Request{Method: "line.unlock"}); r.Status != 200 {
		t.Fatalf("live command: %+v", r)
	}
	testwait.For(5*time.Second, func() bool { return d.Ignored() != 0 })
	if ran.Load() != 1 || d.Ignored() != 1 {
		t.Fatalf("ran %d times, ignored %d: the retained command ran", ran.Load(), d.Ignored())
	}
	w.mu.Lock()
	_, answered := w.by[root+"/cmd/res/"+w.nonce+"-old"]
	w.mu.Unlock()
	if answered {
		t.Fatal("the retained command was answered")
	}
}

// TestAbuseIsBounded: answers never echo unbounded input, large requests
// are refused unread, unknown methods and malformed requests count
// against the rate limit, ids that cannot be answered are dropped.
func TestAbuseIsBounded(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	d, err := New(Config{Broker: "tcp://127.0.0.1:1", DeviceID: 1, RateLimit: 5, Now: func() time.Time { return now }}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := func(p []byte) job { return job{payload: p, size: len(p), at: now} }
	huge := []byte(`{"method": "` + strings.Repeat("x", 10<<20) + `"}`)
	cases := []struct {
		name string
		j    job
		want int
	}{
		{"10 MB method, refused unread", job{size: len(huge), at: now}, 413},
		{"64 KiB method", at([]byte(`{"method": "` + strings.Repeat("y", MaxRequest-20) + `"}`)), 404},
		{"bad JSON", at([]byte(`{"method": ` + strings.Repeat("[", 1000))), 400},
		{"unknown", at([]byte(`{"method": "nope"}`)), 404},
		{"unknown again", at([]byte(`{"method": "nope"}`)), 404},
		{"unknown, third", at([]byte(`{"method": "nope"}`)), 404},
		{"over the limit", at([]byte(`{"method": "nope"}`)), 429},
	}
	for i, c := range cases {
		r := d.handle(context.Background(), fmt.Sprint("a", i), c.j)
		b, _ := json.Marshal(r)
		if r.Status != c.want || len(b) > 300 {
			t.Errorf("%s: %d, want %d; answer of %d bytes: %.200s", c.name, r.Status, c.want, len(b), b)
		}
	}
	for _, id := range []string{"", strings.Repeat("i", MaxID+1), "a+b", "a\x00"} {
		if validID(id) == nil {
			t.Errorf("id %q accepted", id)
		}
	}
	// In the queue a large request keeps its size only.
	d.enqueue(nil, fakeRetained{fakeMsg: fakeMsg{topic: d.Topic("cmd/req/big")}, payload: huge})
	if j := <-d.work; j.payload != nil || j.size != len(huge) {
		t.Fatalf("queued %d bytes of a %d-byte request", len(j.payload), j.size)
	}
}

type fakeRetained struct {
	fakeMsg
	payload  []byte
	retained bool
}

func (m fakeRetained) Payload() []byte { return m.payload }
func (m fakeRetained) Retained() bool  { return m.retained }

// TestFloodOfLargeRequests sends 200 requests of 1 MB through the broker
// at full speed: each is answered 413 (or 503 when the worker's queue is
// full), and the heap afterwards holds none of them. (The figures under
// 1,000 requests/s come from BenchmarkFlood.)
func TestFloodOfLargeRequests(t *testing.T) {
	addr := startBroker(t, freeAddr(t)).addr // not a shared broker: the flood is ours
	root := rootOf(71103)
	d, cancel, done := newDiag(t, addr, 71103, 20, map[string]Handler{
		"diag.ping": func(context.Context, json.RawMessage) (int, any) { return 200, "pong" },
	})
	defer func() { cancel(); <-done }()
	watch(t, addr, root+"/status").wait(t, root+"/status", state("online", d.Session()))
	w := watch(t, addr, root+"/cmd/res/+")
	before := heap()
	big := append(append([]byte(`{"method": "`), bytes.Repeat([]byte("x"), 1<<20)...), `"}`...)
	const n = 200
	for i := 0; i < n; i++ {
		w.c.Publish(fmt.Sprintf("%s/cmd/req/f%d", root, i), 0, false, big)
	}
	testwait.For(20*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.by) >= n
	})
	w.mu.Lock()
	seen := len(w.by)
	for topic, msgs := range w.by {
		var r Response
		json.Unmarshal(msgs[0], &r)
		if (r.Status != 413 && r.Status != 503) || len(msgs[0]) > 200 {
			t.Errorf("%s: %s", topic, msgs[0])
		}
	}
	w.mu.Unlock()
	if seen < n/2 { // QoS 0: the broker may drop some under the flood
		t.Fatalf("only %d of %d answered", seen, n)
	}
	if grown := int64(heap()) - int64(before); grown > 32<<20 {
		t.Fatalf("heap grew by %d MiB over a flood of %d MiB", grown>>20, n)
	}
	if r := w.call(t, root, "after", Request{Method: "diag.ping"}); r.Status != 200 {
		t.Fatalf("after the flood: %+v", r)
	}
}

// heap is the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestDefaultExpiry: a request that names no expires_at is valid for
// DefaultExpiry after it arrived; one that waited longer is not run.
func TestDefaultExpiry(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	d, err := New(Config{Broker: "tcp://127.0.0.1:1", DeviceID: 1, Open: []string{"diag.ping"}, Now: func() time.Time { return now }}, st,
		map[string]Handler{"diag.ping": func(context.Context, json.RawMessage) (int, any) { return 200, "pong" }})
	if err != nil {
		t.Fatal(err)
	}
	p := []byte(`{"method": "diag.ping"}`)
	for _, c := range []struct {
		arrived time.Duration
		want    int
	}{{-time.Second, 200}, {-DefaultExpiry + time.Second, 200}, {-DefaultExpiry - time.Second, 410}} {
		if r := d.handle(context.Background(), fmt.Sprint("e", c.arrived), job{payload: p, size: len(p), at: now.Add(c.arrived)}); r.Status != c.want {
			t.Errorf("arrived %s ago: %+v, want %d", -c.arrived, r, c.want)
		}
	}
}

// TestIDTakenFirstSpoilsNothing: an unsigned request that takes an id
// first does not make the operator's signed request under that id a
// no-op answered from the cache: another request under an answered id
// gets 409, and the same request again still gets its own answer.
func TestIDTakenFirstSpoilsNothing(t *testing.T) {
	addr, root := testBroker(t), rootOf(71109)
	w := watch(t, addr, root+"/cmd/res/+")
	pub, priv := operatorKey(2)
	var opened atomic.Int32
	methods := map[string]Handler{
		"diag.ping":  func(context.Context, json.RawMessage) (int, any) { return 200, "pong" },
		"valve.test": func(context.Context, json.RawMessage) (int, any) { opened.Add(1); return 202, "opened" },
	}
	status := watch(t, addr, root+"/status")
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	d, err := New(Config{Broker: "tcp://" + addr, DeviceID: 71109, OperatorKeys: []ed25519.PublicKey{pub}, Open: []string{"diag.ping"}}, st, methods)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	status.wait(t, root+"/status", state("online", d.Session()))
	ping := Request{Method: "diag.ping", ExpiresAt: time.Now().Add(time.Minute)}
	valve := Request{Method: "valve.test", Params: json.RawMessage(`{"line":1}`)}
	for _, c := range []struct {
		name, id string
		call     func(id string) Response
		status   int
		opened   int32
	}{
		{"an unsigned ping takes the id", "x", func(id string) Response { return w.call(t, root, id, ping) }, 200, 0},
		{"the operator's command under it", "x", func(id string) Response { return w.signedCall(t, priv, root, 71109, id, valve) }, 409, 0},
		{"the ping again", "x", func(id string) Response { return w.call(t, root, id, ping) }, 200, 0},
		{"the operator's command under a new id", "y", func(id string) Response { return w.signedCall(t, priv, root, 71109, id, valve) }, 202, 1},
		{"a ping under the command's id", "y", func(id string) Response { return w.call(t, root, id, ping) }, 409, 1},
	} {
		if r := c.call(c.id); r.Status != c.status || opened.Load() != c.opened {
			t.Fatalf("%s: %+v (opened %d), want %d (opened %d)", c.name, r, opened.Load(), c.status, c.opened)
		}
	}
}
