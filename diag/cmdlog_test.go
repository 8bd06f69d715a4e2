package diag

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestClockRollbackReopensNothing: a controller without a real-time clock
// that starts with its clock back (fake-hwclock) does not take a signed
// command again whose id was pruned as expired.
func TestClockRollbackReopensNothing(t *testing.T) {
	pub, priv := operatorKey(5)
	t0 := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	var runs atomic.Int32
	methods := map[string]Handler{"line.unlock": func(context.Context, json.RawMessage) (int, any) { runs.Add(1); return 200, "unlocked" }}
	dbPath := filepath.Join(t.TempDir(), "db")
	start := func() (*Diag, func()) {
		st := openStore(t, dbPath)
		d, err := New(Config{Broker: "tcp://127.0.0.1:1", DeviceID: 7, OperatorKeys: []ed25519.PublicKey{pub}, Now: clock, RateLimit: 1000}, st, methods)
		if err != nil {
			t.Fatal(err)
		}
		return d, func() { st.Close() }
	}
	signed := func(id string, expires time.Time) job {
		r := Request{Method: "line.unlock", Params: json.RawMessage(`{"line":1}`), ExpiresAt: expires}
		Sign(priv, 7, id, &r)
		b, _ := json.Marshal(r)
		return job{topic: "x", payload: b, size: len(b), at: clock()}
	}
	d, stop := start()
	first := signed("a", t0.Add(time.Minute))
	for _, step := range []struct {
		name   string
		at     time.Time
		id     string
		job    job
		status int
		runs   int32
	}{
		{"first", t0, "a", first, 200, 1},
		{"another, after the first expired (prunes it)", t0.Add(10 * time.Minute), "b", signed("b", t0.Add(20*time.Minute)), 200, 2},
	} {
		now.Store(step.at.UnixNano())
		if r := d.handle(context.Background(), step.id, step.job); r.Status != step.status || runs.Load() != step.runs {
			t.Fatalf("%s: %+v, %d runs", step.name, r, runs.Load())
		}
	}
	stop()
	// The controller restarts with its clock back at t0: the first
	// command would be within its expiry by the wall clock.
	now.Store(t0.UnixNano())
	d, stop = start()
	defer stop()
	if r := d.handle(context.Background(), "a", first); r.Status != 410 || runs.Load() != 2 {
		t.Fatalf("replay after a clock rollback: %+v, %d runs", r, runs.Load())
	}
	// A fresh command still runs: its expiry is judged at the latest time seen.
	if r := d.handle(context.Background(), "c", signed("c", t0.Add(30*time.Minute))); r.Status != 200 || runs.Load() != 3 {
		t.Fatalf("a fresh command after the rollback: %+v, %d runs", r, runs.Load())
	}
	// So does an unsigned one without expires_at: it expires from the same clock.
	d.methods["diag.ping"] = func(context.Context, json.RawMessage) (int, any) { return 200, "pong" }
	d.open["diag.ping"] = true
	ping := []byte(`{"method":"diag.ping"}`)
	if r := d.handle(context.Background(), "p", job{payload: ping, size: len(ping), at: d.log.clock()}); r.Status != 200 {
		t.Fatalf("unsigned ping after the rollback: %+v", r)
	}
}
