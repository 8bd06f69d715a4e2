package simwall

import (
	"fmt"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/web"
)

// simTelemetronAPIClient is the OAuth2 client id the simulator's Telemetron
// API takes (with a fresh secret at every start).
const simTelemetronAPIClient = "tapagent-sim"

// serveTelemetronAPI turns on, with --telemetron (Options.Telemetron),
// the machine's own Telemetron API on a free loopback port (unless the
// configuration chose an address) with a fresh login: the user "demo"
// and a client secret, both random at every start. It returns how to
// log in, printed beside the API's address.
func serveTelemetronAPI(cfg *config.Config, o Options) (string, error) {
	if !o.Telemetron {
		return "", nil
	}
	t := &cfg.Telemetron
	if t.Listen == "" {
		t.Listen = "127.0.0.1:0"
	}
	secret := web.NewPassword() + web.NewPassword()
	t.Clients = append(t.Clients, config.TelemetronClient{ID: simTelemetronAPIClient, Secret: secret})
	pw := web.NewPassword()
	if err := web.SetUser(t.UsersFile(cfg.Device.DataDir), "demo", web.RoleOperator, []byte(pw)); err != nil {
		return "", fmt.Errorf("telemetron API login: %w", err)
	}
	return fmt.Sprintf("(user demo, password %s; client_id %s, client_secret %s)", pw, simTelemetronAPIClient, secret), nil
}
