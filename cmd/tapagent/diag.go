package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/diag"
)

const diagUsage = `tapagent diag COMMAND --broker URL [--prefix tapagent]

  devices                         devices with a retained status on the broker
  status --device N               a device's status and latest telemetry
  watch --device N                its events as they happen (Ctrl-C ends)
  call --device N METHOD [JSON]   run a command and print the answer`

func cmdDiag(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, diagUsage)
		return fmt.Errorf("%w: a command is needed", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("diag "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "", "MQTT broker, e.g. tcp://127.0.0.1:1883 (default: mqtt.broker of --config)")
	prefix := fs.String("prefix", "tapagent", "topic prefix")
	device := fs.Int64("device", 0, "device id")
	cfgPath := fs.String("config", "", "configuration file for the broker settings")
	wait := fs.Duration("timeout", 10*time.Second, "how long to wait for answers")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *broker == "" && *cfgPath != "" {
		cfg, err := loadSimConfig(*cfgPath)
		if err != nil {
			return err
		}
		*broker = cfg.MQTT.Broker
	}
	if *broker == "" {
		return fmt.Errorf("%w: --broker URL is required", errUsage)
	}
	if sub != "devices" && *device <= 0 {
		return fmt.Errorf("%w: --device N is required", errUsage)
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(*broker).
		SetClientID(fmt.Sprintf("tapagent-diag-%d", time.Now().UnixNano())).SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(*wait) || tok.Error() != nil {
		return fmt.Errorf("connecting to %s: %v", *broker, tok.Error())
	}
	defer c.Disconnect(100)
	root := fmt.Sprintf("%s/v1/%d", *prefix, *device)
	switch sub {
	case "devices":
		return diagDevices(c, *prefix, stdout)
	case "status":
		return diagStatus(c, root, *wait, stdout)
	case "watch":
		return diagWatch(ctx, c, root, stdout)
	case "call":
		if fs.NArg() < 1 {
			return fmt.Errorf("%w: call METHOD [JSON]", errUsage)
		}
		params := "{}"
		if fs.NArg() > 1 {
			params = fs.Arg(1)
		}
		return diagCall(c, root, fs.Arg(0), params, *wait, stdout)
	}
	fmt.Fprintln(stderr, diagUsage)
	return fmt.Errorf("%w: unknown diag command %q", errUsage, sub)
}

// collect subscribes and gathers messages for d (retained ones arrive at once).
func collect(c mqtt.Client, filter string, d time.Duration, stop func(topic string, b []byte) bool) map[string][]byte {
	var mu sync.Mutex
	got := map[string][]byte{}
	done := make(chan struct{})
	var once sync.Once
	c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got[m.Topic()] = append([]byte(nil), m.Payload()...)
		mu.Unlock()
		if stop != nil && stop(m.Topic(), m.Payload()) {
			once.Do(func() { close(done) })
		}
	}).Wait()
	select {
	case <-done:
	case <-time.After(d):
	}
	c.Unsubscribe(filter).Wait()
	mu.Lock()
	defer mu.Unlock()
	return got
}

func diagDevices(c mqtt.Client, prefix string, out io.Writer) error {
	got := collect(c, prefix+"/v1/+/status", time.Second, nil)
	topics := make([]string, 0, len(got))
	for t := range got {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		var s diag.Status
		json.Unmarshal(got[t], &s)
		dev := strings.TrimSuffix(strings.TrimPrefix(t, prefix+"/v1/"), "/status")
		fmt.Fprintf(out, "%s\t%s\tsession %d\tversion %s\tsince %s\n", dev, s.State, s.Session, s.Version,
			time.UnixMilli(s.At).Format(time.RFC3339))
	}
	fmt.Fprintf(out, "%d devices\n", len(topics))
	return nil
}

func diagStatus(c mqtt.Client, root string, d time.Duration, out io.Writer) error {
	got := collect(c, root+"/#", d, func(topic string, _ []byte) bool { return strings.HasSuffix(topic, "/telemetry") })
	st, ok := got[root+"/status"]
	if !ok {
		return fmt.Errorf("no status for %s on the broker", root)
	}
	fmt.Fprintf(out, "status: %s\n", st)
	if tel, ok := got[root+"/telemetry"]; ok {
		fmt.Fprintf(out, "telemetry: %s\n", tel)
	} else {
		fmt.Fprintf(out, "telemetry: none within %s\n", d)
	}
	return nil
}

func diagWatch(ctx context.Context, c mqtt.Client, root string, out io.Writer) error {
	var mu sync.Mutex
	c.Subscribe(root+"/events", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		fmt.Fprintf(out, "%s\n", m.Payload())
		mu.Unlock()
	}).Wait()
	<-ctx.Done()
	return nil
}

func diagCall(c mqtt.Client, root, method, params string, d time.Duration, out io.Writer) error {
	if !json.Valid([]byte(params)) {
		return fmt.Errorf("%w: params %q are not JSON", errUsage, params)
	}
	id := fmt.Sprintf("cli-%d", time.Now().UnixNano())
	res := make(chan []byte, 1)
	c.Subscribe(root+"/cmd/res/"+id, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case res <- append([]byte(nil), m.Payload()...):
		default:
		}
	}).Wait()
	req, _ := json.Marshal(map[string]any{"method": method, "params": json.RawMessage(params), "expires_at": time.Now().Add(d)})
	c.Publish(root+"/cmd/req/"+id, 1, false, req).Wait()
	select {
	case b := <-res:
		var r diag.Response
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("malformed answer: %s", b)
		}
		body, _ := json.MarshalIndent(r.Body, "", "  ")
		fmt.Fprintf(out, "%d\n%s\n", r.Status, body)
		if r.Status >= 400 {
			return fmt.Errorf("%s answered %d", method, r.Status)
		}
		return nil
	case <-time.After(d):
		return fmt.Errorf("no answer from %s within %s (is the device online?)", root, d)
	}
}
