package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRedactedHidesEverySecret: the snapshot shows that a secret is set,
// never the secret, and leaves the running configuration as it was.
func TestRedactedHidesEverySecret(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	c.TTG.Password, c.POS.APIKey, c.MQTT.Password, c.Control.Token = "s-ttg", "s-pos", "s-mqtt", "s-control"
	c.Cards.TapKey, c.Cards.ChargerKey, c.Cards.IssuerKey = "s-tap", "s-charger", "s-issuer"
	c.SmartNow.Password, c.Web.MetricsToken = "s-smartnow", "s-metrics"
	c.Telemetron.ClientSecret, c.Telemetron.Password = "s-tm-client", "s-tm-password"
	c.Telemetron.Clients = []TelemetronClient{{ID: "tool", Secret: "s-tm-api-client"}}
	b, err := json.Marshal(c.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"s-`) || strings.Contains(string(b), c.Cards.PICCKey) {
		t.Fatalf("a secret shows: %s", b)
	}
	if !strings.Contains(string(b), `{"ID":"tool","Secret":"(set)"}`) && !strings.Contains(string(b), `{"id":"tool","secret":"(set)"}`) {
		t.Fatal("the API client is not named")
	}
	if sec, _ := c.Telemetron.Client("tool"); sec != "s-tm-api-client" || c.SmartNow.Password != "s-smartnow" {
		t.Fatal("Redacted changed the running configuration")
	}
}
