package diag

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// aclBroker is the Mosquitto that .ci/run starts with a password file and
// packaging/mosquitto/tapagent.acl, and the accounts' passwords (a file of
// user:password lines). Without it, an in-process broker enforces the same
// file, read by ledger.
func aclBroker(t *testing.T) (addr string, passwords map[string]string) {
	addr = os.Getenv("TAPAGENT_TEST_MQTT_ACL")
	if addr == "" {
		passwords = map[string]string{"1001": "pw-1001", "1002": "pw-1002", "tech-anna": "pw-anna", "homeassistant": "pw-ha"}
		return startACLBroker(t, ledger(t, filepath.Join("..", "packaging", "mosquitto", "tapagent.acl"), passwords)), passwords
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
	for _, u := range []string{"1001", "1002", "tech-anna", "homeassistant"} {
		if passwords[u] == "" {
			t.Fatalf("no password for %s in TAPAGENT_TEST_MQTT_USERS", u)
		}
	}
	return addr, passwords
}

// ledger turns a Mosquitto acl_file (pattern, user and topic lines) into
// mochi's rules for these accounts: each user gets the patterns with %u
// replaced by the username, then the topics of its own user block.
func ledger(t *testing.T, path string, passwords map[string]string) *auth.Ledger {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	access := map[string]auth.Access{"read": auth.ReadOnly, "write": auth.WriteOnly, "readwrite": auth.ReadWrite}
	var patterns [][2]string
	own := map[string][][2]string{}
	user := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "user" && len(f) == 2:
			user = f[1]
		case (f[0] == "pattern" || f[0] == "topic") && len(f) == 3 && access[f[1]] != 0:
			if f[0] == "pattern" {
				patterns = append(patterns, [2]string{f[1], f[2]})
			} else {
				own[user] = append(own[user], [2]string{f[1], f[2]})
			}
		default:
			t.Fatalf("%s: cannot read %q", path, line)
		}
	}
	l := &auth.Ledger{}
	for u, pw := range passwords {
		l.Auth = append(l.Auth, auth.AuthRule{Username: auth.RString(u), Password: auth.RString(pw), Allow: true})
		filters := auth.Filters{"#": auth.Deny} // Mosquitto denies what no line allows; mochi allows it
		for _, p := range append(patterns, own[u]...) {
			topic := auth.RString(strings.ReplaceAll(p[1], "%u", u))
			filters[topic] |= access[p[0]] // read and write lines for one topic add up to readwrite
		}
		l.ACL = append(l.ACL, auth.ACLRule{Username: auth.RString(u), Filters: filters})
	}
	return l
}

func startACLBroker(t *testing.T, l *auth.Ledger) string {
	t.Helper()
	addr := freeAddr(t)
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.Hook), &auth.Options{Ledger: l}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "acl", Address: addr})); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	b := &broker{addr: addr, srv: srv}
	t.Cleanup(b.quietClose)
	return addr
}

// TestBrokerACL: with the shipped ACL, device 1002 (its own account, as a
// device an intruder took over would have) can neither read 1001's topics
// nor command it, configure it or speak for it; the technician can, and
// 1001 itself receives its desired configuration and publishes its
// reported configuration, telemetry and events.
// The technician's subscription to everything under 1001 is the witness:
// Mosquitto delivers to it, in order, whatever it accepted there.
func TestBrokerACL(t *testing.T) {
	addr, pw := aclBroker(t)
	root := rootOf(1001)
	tech := watchAs(t, addr, "tech-anna", pw["tech-anna"], root+"/#")
	var unlocked, desired, fromTech atomic.Int32
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	d, err := New(Config{Broker: "tcp://" + addr, DeviceID: 1001, Username: "1001", Password: pw["1001"],
		Open: []string{"diag.ping", "line.unlock"}, // open here: the broker alone must keep 1002 out
		Desired: func(doc []byte, _ bool) (int, any) {
			desired.Add(1)
			if strings.Contains(string(doc), tech.nonce) {
				fromTech.Add(1)
			}
			return 202, map[string]string{"status": "accepted", "doc": string(doc)}
		}},
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
	spy.subscribe("tapagent/v1/1002/status") // its own: allowed, for the round trip below
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
		// A broker may acknowledge a refused publish and drop it (Mosquitto)
		// or drop the client (mochi, as MQTT 3.1.1 allows): a connection each.
		w := watchAs(t, addr, "1002", pw["1002"], "tapagent/v1/1002/status")
		w.c.Publish(m.topic, 1, m.retained, m.payload).WaitTimeout(5 * time.Second)
		w.c.Disconnect(0)
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
			if strings.Contains(topic, "-evil") || strings.Contains(string(m), "forged") || strings.Contains(string(m), `"version": 9`) ||
				(topic == root+"/status" && strings.Contains(string(m), `"session": 1}`)) {
				t.Errorf("the broker took 1002's %s: %s", topic, m)
			}
		}
	}
	tech.mu.Unlock()
	if unlocked.Load() != 1 || desired.Load() != 0 {
		t.Fatalf("1001 ran line.unlock %d times (want the technician's once) and took %d desired documents", unlocked.Load(), desired.Load())
	}

	// What 1001 itself must be allowed: read its desired configuration,
	// publish the reported one, telemetry and events.
	doc := `{"version": 10, "toml": "# ` + tech.nonce + `\n[[line]]\nid = 1\n"}`
	tech.c.Publish(root+"/config/desired", 1, true, []byte(doc)).Wait()
	t.Cleanup(func() {
		for _, sub := range []string{"config/desired", "config/reported"} {
			tech.c.Publish(root+"/"+sub, 1, true, []byte{}).Wait()
		}
	})
	tech.wait(t, root+"/config/reported", func(b []byte) bool { return strings.Contains(string(b), tech.nonce) })
	d.Telemetry(map[string]string{"probe": tech.nonce})
	tech.wait(t, root+"/telemetry", func(b []byte) bool { return strings.Contains(string(b), tech.nonce) })
	d.Event(map[string]string{"type": "probe", "nonce": tech.nonce})
	tech.wait(t, root+"/events", func(b []byte) bool { return strings.Contains(string(b), tech.nonce) })
	if fromTech.Load() != 1 {
		t.Fatalf("1001 received the technician's desired configuration %d times", fromTech.Load())
	}
}

// TestHomeAssistantUnderShippedACL: a device's retained Home Assistant
// discovery document and line state reach the broker under the shipped
// ACL, the read-only Home Assistant account reads them, and another
// device can write neither; Home Assistant cannot command a device.
func TestHomeAssistantUnderShippedACL(t *testing.T) {
	addr, pw := aclBroker(t)
	root := rootOf(1001)
	tech := watchAs(t, addr, "tech-anna", pw["tech-anna"], root+"/#")
	ha := watchAs(t, addr, "homeassistant", pw["homeassistant"], "homeassistant/sensor/#")
	ha.subscribe("tapagent/v1/+/ha/line/+")
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	var pinged atomic.Int32
	d, err := New(Config{Broker: "tcp://" + addr, DeviceID: 1001, Username: "1001", Password: pw["1001"], Open: []string{"diag.ping"}}, st,
		map[string]Handler{"diag.ping": func(context.Context, json.RawMessage) (int, any) { pinged.Add(1); return 200, "pong" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tech.wait(t, root+"/status", state("online", d.Session()))

	stateTopic := root + "/ha/line/1"
	discovery := "homeassistant/sensor/tapagent_1001/line1_state/config"
	self := watchAs(t, addr, "1001", pw["1001"], root+"/cmd/req/+") // 1001's account clears the retained documents after
	t.Cleanup(func() {
		for _, topic := range []string{stateTopic, discovery} {
			self.c.Publish(topic, 1, true, []byte{}).Wait()
		}
	})
	// Another device's account tries to write them first: refused.
	spy := watchAs(t, addr, "1002", pw["1002"], "tapagent/v1/1002/status")
	spy.c.Publish(discovery, 1, true, []byte(`{"forged":"`+ha.nonce+`"}`)).WaitTimeout(5 * time.Second)
	spy.c.Disconnect(0)
	w := watchAs(t, addr, "1002", pw["1002"], "tapagent/v1/1002/status")
	w.c.Publish(stateTopic, 1, true, []byte(`{"forged":"`+ha.nonce+`"}`)).WaitTimeout(5 * time.Second)
	w.c.Disconnect(0)
	// Home Assistant's account tries to command the device: refused.
	cmd, _ := json.Marshal(Request{Method: "diag.ping"})
	// (A connection of its own: mochi drops a client whose publish it refuses.)
	haw := watchAs(t, addr, "homeassistant", pw["homeassistant"], "homeassistant/status")
	haw.c.Publish(root+"/cmd/req/"+ha.nonce+"-ha", 1, false, cmd).WaitTimeout(5 * time.Second)
	haw.c.Disconnect(0)

	if err := d.Retain(discovery, []byte(`{"name":"Line 1 state","n":"`+ha.nonce+`"}`)); err != nil {
		t.Fatal(err)
	}
	if err := d.Retain(d.Topic("ha/line/1"), []byte(`{"state":"idle","n":"`+ha.nonce+`"}`)); err != nil {
		t.Fatal(err)
	}
	mine := func(b []byte) bool {
		return strings.Contains(string(b), ha.nonce) && !strings.Contains(string(b), "forged")
	}
	ha.wait(t, discovery, mine)
	ha.wait(t, stateTopic, mine)
	tech.wait(t, stateTopic, mine)
	ha.mu.Lock()
	for topic, msgs := range ha.by {
		for _, m := range msgs {
			if strings.Contains(string(m), "forged") {
				t.Errorf("the broker took 1002's %s: %s", topic, m)
			}
		}
	}
	ha.mu.Unlock()
	// The technician's ping, sent after Home Assistant's, is the witness
	// that the device had the chance to run it.
	if r := tech.call(t, root, "ping", Request{Method: "diag.ping"}); r.Status != 200 {
		t.Fatalf("technician's ping: %+v", r)
	}
	if n := pinged.Load(); n != 1 {
		t.Fatalf("the device ran %d pings, want the technician's only", n)
	}
}

// TestClientIDIsNotGuessable: MQTT lets a new connection under a client id
// close the one holding it, whatever account it uses, so another device's
// account must not be able to name the device's connection from what it
// knows (device id, a small session counter).
func TestClientIDIsNotGuessable(t *testing.T) {
	a, b := clientID(1001, 3), clientID(1001, 3)
	if a == b || !strings.HasPrefix(a, "tapagent-1001-3-") || len(a) < len("tapagent-1001-3-")+16 {
		t.Fatalf("client ids %q and %q: want the device, the session and 64 random bits", a, b)
	}
}
