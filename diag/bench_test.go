package diag

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
	c.Subscribe(root+"cmd/res/+", 1, func(mqtt.Client, mqtt.Message) { got <- struct{}{} }).Wait()
	for !d.client.IsConnected() {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // subscriptions in place
	req, _ := json.Marshal(Request{Method: "diag.ping"})
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
	for !d.client.IsConnected() {
		time.Sleep(10 * time.Millisecond)
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
