package simwall_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/simwall"
	"github.com/tapagent/tapagent/web"
)

// With --telemetron the sim serves the machine's Telemetron API on a
// loopback port and prints a login that logs in.
func TestSimServesTheTelemetronAPIWithALogin(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device.DataDir = t.TempDir()
	var out bytes.Buffer
	if _, err := simwall.Run(context.Background(), simwall.Options{Config: cfg, Out: &out, Output: simwall.OutputLines, NoTTG: true,
		Duration: time.Second, Telemetron: true}); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`telemetron API http://127\.0\.0\.1:\d+/v2 \(user demo, password (\S+); client_id (\S+), client_secret (\S+)\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no login printed:\n%s", out.String())
	}
	if sec, _ := cfg.Telemetron.Client(m[2]); sec != m[3] || !regexp.MustCompile(`^127\.0\.0\.1:`).MatchString(cfg.Telemetron.Listen) {
		t.Fatalf("client %s, listen %s", m[2], cfg.Telemetron.Listen)
	}
	logins := web.NewLogins(cfg.Telemetron.UsersFile(cfg.Device.DataDir), 5, time.Now)
	if _, ok, err := logins.Check("127.0.0.1", "demo", []byte(m[1])); !ok || err != nil {
		t.Fatalf("the printed password does not log in: %v", err)
	}
}
