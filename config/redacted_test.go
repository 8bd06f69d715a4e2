package config

import (
	"encoding/json"
	"reflect"
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

// TestRedactedCoversEverySecretField walks the whole configuration: every
// string field whose TOML name says it is a password, secret, token or a
// private key is hidden by Redacted, so a section added later with a
// secret cannot leak through config.get unnoticed. Public keys and key
// names (public_key, key_header, operator_keys) are not secrets.
func TestRedactedCoversEverySecretField(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	c.Telemetron.Clients = []TelemetronClient{{ID: "tool"}}
	c.TouchTopUp.Accounts = []TouchTopUpAccount{{Card: 1}}
	var secrets []string
	fill(reflect.ValueOf(c).Elem(), "", &secrets)
	if len(secrets) < 10 {
		t.Fatalf("found only %d secret fields: %v", len(secrets), secrets)
	}
	b, err := json.Marshal(c.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(b), `"`+s+`"`) {
			t.Errorf("config.get shows %s", s)
		}
	}
}

// secretName reports a TOML key that names a secret (a file's path is
// not one: the file's mode protects it).
func secretName(key string) bool {
	switch {
	case key == "public_key", key == "key_header", key == "operator_keys", key == "tls_key", strings.HasSuffix(key, "_file"):
		return false
	}
	for _, w := range []string{"password", "secret", "token", "key"} {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

// fill sets every string field to its own path and collects the paths of
// the secret ones.
func fill(v reflect.Value, path string, secrets *[]string) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				name = f.Name
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.String && secretName(name) {
				fv.SetString("s:" + path + name)
				*secrets = append(*secrets, "s:"+path+name)
				continue
			}
			fill(fv, path+name+".", secrets)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), path, secrets)
		}
	}
}
