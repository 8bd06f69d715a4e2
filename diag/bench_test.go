package diag

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"github.com/tapagent/tapagent/internal/testwait"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkCommandRoundTrip is a technician's command and its answer through
// an in-process broker on loopback: publish cmd/req/{id}, receive cmd/res/{id}.
func BenchmarkCommandRoundTrip(b *testing.B) {
	addr := freeAddr(&testing.T{})
	startBroker(&testing.T{}, addr)
	t := &testing.T{}
	d, cancel, done := newDiag(t, addr, 90001, 1_000_000, map[string]Handler{
		"diag.ping": func(context.Context, json.RawMessage) (int, any) { return 200, "pong" },
	})
	defer func() { cancel(); <-done }()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("bench"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	root := d.Topic("")
	got := make(chan struct{}, 1)
	warmed := make(chan struct{}, 1)
	c.Subscribe(root+"cmd/res/+", 1, func(_ mqtt.Client, m mqtt.Message) {
		if strings.HasPrefix(m.Topic(), root+"cmd/res/w") {
			select {
			case warmed <- struct{}{}:
			default:
			}
			return
		}
		got <- struct{}{}
	}).Wait()
	if !testwait.For(10*time.Second, d.client.IsConnected) {
		b.Fatal("the agent never connected")
	}
	req, _ := json.Marshal(Request{Method: "diag.ping"})
	// The agent answers once its subscriptions are in place: ping until it
	// does (warm-up answers are told apart by their id).
	n := 0
	if !testwait.For(10*time.Second, func() bool {
		n++
		c.Publish(fmt.Sprintf("%scmd/req/w%d", root, n), 1, false, req)
		select {
		case <-warmed:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	}) {
		b.Fatal("the agent never answered")
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c.Publish(fmt.Sprintf("%scmd/req/b%d", root, i), 1, false, req)
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			b.Fatal("no answer")
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkTelemetry is the cost of publishing one telemetry message the
// size of a four-line wall's (JSON encoding and the QoS 0 publish).
func BenchmarkTelemetry(b *testing.B) {
	addr := freeAddr(&testing.T{})
	startBroker(&testing.T{}, addr)
	d, cancel, done := newDiag(&testing.T{}, addr, 90002, 10, nil)
	defer func() { cancel(); <-done }()
	if !testwait.For(10*time.Second, d.client.IsConnected) {
		b.Fatal("the agent never connected")
	}
	line := map[string]any{"line": 1, "product": "Helles", "state": "idle", "flow_ml10_per_s": 0, "poured_ml10": 0,
		"keg_remaining_ml10": 498765, "keg_permille": 997, "k_milli": 5400000, "pulses_total": 123456}
	msg := map[string]any{"at": time.Now(), "lines": []any{line, line, line, line}, "outbox": map[string]int{"waiting": 3},
		"cpu_usage": 3.2, "mem_used": 1 << 28, "mem_available": 1 << 30, "uptime": 12345}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Telemetry(msg)
	}
}

// BenchmarkFlood1MB is a broker client sending 1 MB commands at 1,000 per
// second (-benchtime 2000x is two seconds of it) to an agent behind an
// in-process broker. It reports the peak heap of the whole process
// (broker, agent and flooding client together; on a controller the broker
// runs elsewhere) and how many of the requests were answered (QoS 0: the
// broker drops what the agent's connection cannot take).
func BenchmarkFlood1MB(b *testing.B) {
	addr := os.Getenv("TAPAGENT_TEST_MQTT")
	if addr == "" {
		addr = freeAddr(&testing.T{})
		startBroker(&testing.T{}, addr)
	}
	d, cancel, done := newDiag(&testing.T{}, addr, 90003, 20, map[string]Handler{
		"diag.ping": func(context.Context, json.RawMessage) (int, any) { return 200, "pong" },
	})
	defer func() { cancel(); <-done }()
	if !testwait.For(10*time.Second, d.client.IsConnected) {
		b.Fatal("the agent never connected")
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("flood"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	var answered atomic.Int64
	c.Subscribe(d.Topic("cmd/res/+"), 0, func(mqtt.Client, mqtt.Message) { answered.Add(1) }).Wait()
	big := append(append([]byte(`{"method": "`), bytes.Repeat([]byte("x"), 1<<20)...), `"}`...)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		c.Publish(fmt.Sprintf("%scmd/req/f%d", d.Topic(""), i), 0, false, big)
	}
	time.Sleep(500 * time.Millisecond) // let the last answers arrive
	b.StopTimer()
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(answered.Load())/float64(b.N)*100, "answered-%")
}

// BenchmarkSignedCommand is what a signed command costs the agent before
// and after its handler: parsing, the Ed25519 check against four operator
// keys and the two bbolt commits that keep its id until it expires.
func BenchmarkSignedCommand(b *testing.B) {
	st := openStore(&testing.T{}, filepath.Join(b.TempDir(), "db"))
	defer st.Close()
	var keys []ed25519.PublicKey
	for n := byte(10); n < 13; n++ {
		pub, _ := operatorKey(n)
		keys = append(keys, pub)
	}
	pub, priv := operatorKey(13)
	keys = append(keys, pub) // the signer's key is tried last
	d, err := New(Config{Broker: "tcp://127.0.0.1:1", DeviceID: 7, RateLimit: 1 << 30, OperatorKeys: keys}, st,
		map[string]Handler{"line.unlock": func(context.Context, json.RawMessage) (int, any) { return 200, "ok" }})
	if err != nil {
		b.Fatal(err)
	}
	payloads := make([][]byte, b.N)
	for i := range payloads {
		r := Request{Method: "line.unlock", Params: json.RawMessage(`{"line":1}`), ExpiresAt: time.Now().Add(time.Minute)}
		Sign(priv, 7, fmt.Sprint("s", i), &r)
		payloads[i], _ = json.Marshal(r)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := d.handle(context.Background(), fmt.Sprint("s", i), job{payload: payloads[i], size: len(payloads[i]), at: time.Now()}); r.Status != 200 {
			b.Fatalf("%+v", r)
		}
	}
}

// BenchmarkVerify is the signature check alone, the signer's key last of four.
func BenchmarkVerify(b *testing.B) {
	var keys []ed25519.PublicKey
	for n := byte(20); n < 23; n++ {
		pub, _ := operatorKey(n)
		keys = append(keys, pub)
	}
	pub, priv := operatorKey(23)
	keys = append(keys, pub)
	r := Request{Method: "valve.test", Params: json.RawMessage(`{"line":1,"seconds":3}`), ExpiresAt: time.Now().Add(time.Minute)}
	Sign(priv, 7, "v1", &r)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !Verify(keys, 7, "v1", r) {
			b.Fatal("does not verify")
		}
	}
}
