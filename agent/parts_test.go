package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/agent"
	"github.com/tapagent/tapagent/agent/serversync"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/internal/mqtttest"
	"github.com/tapagent/tapagent/simwall"
)

// wholeWall is the simulator's wall with every part configured: reader,
// MDB terminal and EXE machine on their ports, a DEX port, the cash
// register and client-control listeners, an MQTT broker and a TTG server.
func wholeWall(t *testing.T, broker string) *config.Config {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	cfg.Reader.Port, cfg.MDB.Port, cfg.EXE.Port, cfg.DEX.Port = "/dev/ttyNFC", "/dev/ttyMDB", "/dev/ttyEXE", "/dev/ttyDEX"
	cfg.MQTT.Broker = "tcp://" + broker
	emb, err := serversync.StartEmbedded(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	cfg.TTG.URL = emb.URL
	cfg.Telemetron.Listen, cfg.Telemetron.Clients = "127.0.0.1:0", []config.TelemetronClient{{ID: "tool", Secret: "tool-secret-0123456789"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func names(parts []agent.Part) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.Name
	}
	return out
}

// TestRunAndSimStartTheSameParts builds the daemon of `tapagent run` (the
// Linux board) and runs the one of `tapagent sim` (the simulated board and
// peers) on one configuration: the simulator, asked through diag.snapshot
// over MQTT, runs exactly the parts the daemon plans.
func TestRunAndSimStartTheSameParts(t *testing.T) {
	broker := mqtttest.Broker(t)
	cfg := wholeWall(t, broker)
	run, err := agent.New(agent.Options{Config: cfg, Hardware: agent.LinuxBoard(cfg), Peers: agent.PeersFrom(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	want := names(run.Parts())
	for _, p := range []string{agent.PartMQTT, agent.PartRegister, agent.PartControl, agent.PartDEX, agent.PartReader,
		agent.PartTerminal, agent.PartMachine, agent.PartUplink, agent.PartTelemetronAPI} {
		if !slices.Contains(want, p) {
			t.Fatalf("run plans no %s: %v", p, want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := simwall.Run(ctx, simwall.Options{Config: cfg, Speed: 1, Out: io.Discard, Output: simwall.OutputJSON}); err != nil {
			t.Error(err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	got := simParts(t, broker)
	if !slices.Equal(names(got), want) {
		t.Fatalf("sim runs %v, run plans %v", names(got), want)
	}
	for _, p := range got {
		if p.State != agent.StateRunning && !(p.Name == agent.PartWatchdog && p.State == agent.StateOff) {
			t.Errorf("sim part %s is %s", p.Name, p.State)
		}
	}
}

// simParts asks the simulator's diag.snapshot for its parts, once the
// link is online, until every one has started.
func simParts(t *testing.T, broker string) []agent.Part {
	t.Helper()
	res, online := make(chan []byte, 16), make(chan struct{})
	var once sync.Once
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker).SetClientID("tech"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe("tapagent/v1/1001/status", 1, func(_ mqtt.Client, m mqtt.Message) {
		if strings.Contains(string(m.Payload()), `"state":"online"`) {
			once.Do(func() { close(online) })
		}
	}).Wait()
	c.Subscribe("tapagent/v1/1001/cmd/res/#", 1, func(_ mqtt.Client, m mqtt.Message) { res <- m.Payload() }).Wait()
	select {
	case <-online:
	case <-time.After(15 * time.Second):
		t.Fatal("the simulator's MQTT link never came online")
	}
	var last []agent.Part
	for i := range 50 {
		c.Publish(fmt.Sprintf("tapagent/v1/1001/cmd/req/s%d", i), 1, false, `{"method": "diag.snapshot", "params": {}}`).Wait()
		var r struct {
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		}
		select {
		case raw := <-res:
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no answer to diag.snapshot")
		}
		var body struct {
			Parts []agent.Part `json:"parts"`
		}
		if r.Status == 200 && json.Unmarshal(r.Body, &body) == nil {
			if last = body.Parts; started(last) {
				return last
			}
		}
		time.Sleep(300 * time.Millisecond) // under the link's rate limit
	}
	t.Fatalf("the simulator's parts never all started: %v", last)
	return nil
}

func started(parts []agent.Part) bool {
	if len(parts) == 0 {
		return false
	}
	for _, p := range parts {
		if strings.EqualFold(p.State, agent.StatePending) {
			return false
		}
	}
	return true
}
