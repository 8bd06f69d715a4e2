package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/diag"
)

// TestDiagCallExpiry: a command's expiry is --expires (5 minutes by
// default), not the answer timeout, so a device whose clock is a few
// seconds ahead of the technician's laptop still takes it.
func TestDiagCallExpiry(t *testing.T) {
	addr := mqttBroker(t)
	reqs := make(chan diag.Request, 4)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("device-side"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe("tapagent/v1/7/cmd/req/+", 1, func(_ mqtt.Client, m mqtt.Message) {
		var r diag.Request
		json.Unmarshal(m.Payload(), &r)
		reqs <- r
	}).Wait()
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, diag.DefaultExpiry},
		{[]string{"--expires", "20m"}, 20 * time.Minute},
	} {
		args := append([]string{"call", "--broker", "tcp://" + addr, "--device", "7", "--timeout", "300ms"}, tc.args...)
		sent := time.Now()
		var out, errOut bytes.Buffer
		if err := cmdDiag(context.Background(), append(args, "diag.ping"), &out, &errOut); err == nil {
			t.Fatal("answered by nobody, yet no error")
		}
		select {
		case r := <-reqs:
			if got := r.ExpiresAt.Sub(sent); got < tc.want-time.Minute || got > tc.want+time.Minute {
				t.Fatalf("%v: expires %s after sending, want about %s", tc.args, got, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no request seen")
		}
	}
	var out, errOut bytes.Buffer
	if err := cmdDiag(context.Background(), []string{"call", "--broker", "tcp://" + addr, "--device", "7", "--expires", "2h", "diag.ping"}, &out, &errOut); err == nil {
		t.Fatal("--expires beyond the device's limit accepted")
	}
}
