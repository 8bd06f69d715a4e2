package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/agent/diagcmd"
	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/transport"
)

const diagUsage = `tapagent diag COMMAND --broker URL [--prefix tapagent] [--username U] [--ca-file PEM]

  devices                         devices with a retained status on the broker
  status --device N               a device's status and latest telemetry
  watch --device N                its events as they happen (Ctrl-C ends)
  call --device N [--key FILE] [--expires 5m] METHOD [JSON]
                                  run a command and print the answer; --key (or
                                  $TAPAGENT_OPERATOR_KEY) signs it with the technician's
                                  operator key, which every command but the read-only
                                  diagnostics needs; the command stays valid --expires
                                  (default 5m, at most 50m), apart from --timeout
  desired --device N --key FILE --version V CONFIG.toml
                                  sign a configuration file with the operator key, retain
                                  it on config/desired and print the device's report
  keygen --out FILE               make an operator key: the private key goes to FILE
                                  (0600), the public key (for [mqtt] operator_keys) to stdout

The broker password comes from $TAPAGENT_MQTT_PASSWORD (never the command line).`

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
	expires := fs.Duration("expires", diag.DefaultExpiry, fmt.Sprintf("call: how long the command stays valid, at most %s "+
		"(longer than --timeout, so a device whose clock is a little ahead still takes it)", maxExpires))
	user := fs.String("username", "", "broker username (password: $TAPAGENT_MQTT_PASSWORD)")
	caFile := fs.String("ca-file", "", "CA certificate (PEM) the broker's certificate is checked against")
	keyFile := fs.String("key", os.Getenv("TAPAGENT_OPERATOR_KEY"), "call: operator key file that signs the command")
	out := fs.String("out", "", "keygen: file for the private key")
	version := fs.Int64("version", 0, "desired: the document's version (higher than the last accepted)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *expires <= 0 || *expires > maxExpires {
		return fmt.Errorf("%w: --expires must be more than 0 and at most %s (the device refuses a signed request valid longer than %s)",
			errUsage, maxExpires, diag.MaxLifetime)
	}
	if sub == "keygen" {
		if *out == "" {
			return fmt.Errorf("%w: keygen needs --out FILE", errUsage)
		}
		return keygen(*out, stdout)
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
	var key ed25519.PrivateKey
	if (sub == "call" || sub == "desired") && *keyFile != "" {
		k, err := readPrivateKey(*keyFile)
		if err != nil {
			return fmt.Errorf("operator %w", err)
		}
		key = k
	}
	o := mqtt.NewClientOptions().AddBroker(*broker).
		SetClientID(fmt.Sprintf("tapagent-diag-%d", time.Now().UnixNano())).SetCleanSession(true)
	if *user != "" {
		o.SetUsername(*user).SetPassword(os.Getenv("TAPAGENT_MQTT_PASSWORD"))
	}
	if *caFile != "" {
		tcfg, err := transport.MQTTTLS(config.MQTT{CAFile: *caFile})
		if err != nil {
			return err
		}
		o.SetTLSConfig(tcfg)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(*wait) || tok.Error() != nil {
		return fmt.Errorf("connecting to %s: %s: %v", *broker, diag.Explain(tok.Error()), tok.Error())
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
		return diagCall(c, callee{root: root, device: *device, key: key}, fs.Arg(0), params, time.Now().Add(*expires), *wait, stdout)
	case "desired":
		if fs.NArg() != 1 || key == nil || *version <= 0 {
			return fmt.Errorf("%w: desired --key FILE --version V CONFIG.toml", errUsage)
		}
		return diagDesired(c, callee{root: root, device: *device, key: key}, fs.Arg(0), *version, *wait, stdout)
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

// diagDesired retains a signed configuration for the device and prints the
// report it answers with.
func diagDesired(c mqtt.Client, to callee, path string, version int64, d time.Duration, out io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if _, err := config.Parse(b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	doc := diagcmd.Desired{Version: version, TOML: string(b)}
	diagcmd.SignDesired(to.key, to.device, &doc)
	payload, _ := json.Marshal(doc)
	if tok := c.Publish(to.root+"/config/desired", 1, true, payload); !tok.WaitTimeout(d) || tok.Error() != nil {
		return fmt.Errorf("publishing: %v", tok.Error())
	}
	want := fmt.Sprintf(`"version":%d,`, version)
	got := collect(c, to.root+"/config/reported", d, func(_ string, b []byte) bool { return strings.Contains(string(b), want) })
	rep, ok := got[to.root+"/config/reported"]
	if !ok || !strings.Contains(string(rep), want) {
		return fmt.Errorf("no report on version %d within %s (is the device online?)", version, d)
	}
	fmt.Fprintf(out, "%s\n", rep)
	if !strings.Contains(string(rep), `"status":"accepted"`) {
		return fmt.Errorf("version %d rejected", version)
	}
	return nil
}

// callee is the device a call goes to and the key that signs it (nil:
// unsigned, for the read-only diagnostics).
type callee struct {
	root   string
	device int64
	key    ed25519.PrivateKey
}

// maxExpires is the longest --expires: below diag.MaxLifetime, so a device
// whose clock is behind the technician's by up to the difference still
// takes a signed request.
const maxExpires = diag.MaxLifetime - 10*time.Minute

// diagCall sends one command valid until expires and waits d for the
// answer. The two are apart: a command only valid while we wait would be
// expired (410) on a device whose clock is ahead of ours by the wait.
func diagCall(c mqtt.Client, to callee, method, params string, expires time.Time, d time.Duration, out io.Writer) error {
	if !json.Valid([]byte(params)) {
		return fmt.Errorf("%w: params %q are not JSON", errUsage, params)
	}
	root := to.root
	id := fmt.Sprintf("cli-%d", time.Now().UnixNano())
	res := make(chan []byte, 1)
	c.Subscribe(root+"/cmd/res/"+id, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case res <- append([]byte(nil), m.Payload()...):
		default:
		}
	}).Wait()
	r := diag.Request{Method: method, Params: json.RawMessage(params), ExpiresAt: expires}
	if to.key != nil {
		diag.Sign(to.key, to.device, id, &r)
	}
	req, _ := json.Marshal(r)
	c.Publish(root+"/cmd/req/"+id, 1, false, req).Wait()
	select {
	case b := <-res:
		var r diag.Response
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("malformed answer: %s", b)
		}
		body, _ := json.MarshalIndent(r.Body, "", "  ")
		fmt.Fprintf(out, "%d\n%s\n", r.Status, body)
		if r.Status == 403 && to.key == nil {
			return fmt.Errorf("%s answered 403: sign it with --key FILE (an operator key the device trusts)", method)
		}
		if r.Status >= 400 {
			return fmt.Errorf("%s answered %d", method, r.Status)
		}
		return nil
	case <-time.After(d):
		return fmt.Errorf("no answer from %s within %s (is the device online?)", root, d)
	}
}
