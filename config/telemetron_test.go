package config

import (
	"strings"
	"testing"
	"time"
)

func TestTelemetronSection(t *testing.T) {
	const line = "[[line]]\nid = 1\n"
	ok := "[telemetron]\nurl = \"https://api.telemetron.example/v2\"\nauth_url = \"https://api.telemetron.example/auth/\"\n" +
		"client_id = \"c\"\nclient_secret = \"s\"\nusername = \"u\"\npassword = \"p\"\nmachine_id = 123\n"
	for _, tc := range []struct {
		name, toml, bad string
	}{
		{"off by default", "", ""},
		{"configured", ok, ""},
		{"password in clear", strings.Replace(ok, "https://api.telemetron.example/v2", "http://10.0.0.5/v2", 1), "telemetron.url"},
		{"token endpoint in clear", strings.Replace(ok, "https://api.telemetron.example/auth/", "http://10.0.0.5/auth/", 1), "telemetron.auth_url"},
		{"loopback in clear", strings.ReplaceAll(ok, "https://api.telemetron.example", "http://127.0.0.1:8080"), ""},
		{"no auth url", strings.Replace(ok, "auth_url = \"https://api.telemetron.example/auth/\"\n", "", 1), "telemetron.auth_url"},
		{"no machine", strings.Replace(ok, "machine_id = 123\n", "", 1), "telemetron.machine_id"},
		{"no password", strings.Replace(ok, "password = \"p\"\n", "", 1), "telemetron.password"},
		{"encoding", ok + "report_encoding = \"cp1251\"\n", "telemetron.report_encoding"},
		{"encoding base64", ok + "report_encoding = \"cp1251+base64\"\n", ""},
		{"batch", ok + "batch = 5000\n", "telemetron.batch"},
		{"poll", ok + "request_poll = \"10ms\"\n", "telemetron.request_poll"},
		{"path", ok + "[telemetron.paths]\nsales = \"sales\"\n", "telemetron.paths.sales"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.toml + line))
			switch {
			case tc.bad == "" && err != nil:
				t.Fatal(err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("want an error naming %s, got %v", tc.bad, err)
			case tc.bad == "" && (c.Telemetron.Paths.Sales != "/vending_machines/{id}/sales" || c.Telemetron.Scope != "teleport" ||
				c.Telemetron.RequestPoll.Duration != time.Minute || c.Telemetron.NoSalesAfter.Duration != 24*time.Hour):
				t.Fatalf("defaults %+v", c.Telemetron)
			}
		})
	}
}

func TestTelemetronStringHidesSecrets(t *testing.T) {
	s := Telemetron{URL: "https://x/v2", Username: "u", Password: "hunter2", ClientSecret: "sesame"}.String()
	if strings.Contains(s, "hunter2") || strings.Contains(s, "sesame") {
		t.Fatal(s)
	}
}
