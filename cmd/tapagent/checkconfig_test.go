package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfig: `tapagent run --check-config` says whether the agent
// would start and names what it would keep off, touching no hardware.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, toml string
		fails      bool
		says       string
	}{
		{"good", "[[line]]\nid = 1\n", false, "the agent starts"},
		{"password in clear: only the link is off", "[mqtt]\nbroker = \"tcp://mqtt.example.net:1883\"\nusername = \"1001\"\npassword = \"pw\"\n[[line]]\nid = 1\n",
			false, "warning: mqtt.password would cross the network in clear"},
		{"file manifest", "[firmware]\nmanifest_url = \"file:///tmp/m.json\"\n[[line]]\nid = 1\n", false, "warning: firmware.manifest_url"},
		{"unknown key", "[device]\nidd = 1\n[[line]]\nid = 1\n", true, "idd"},
		{"dashboard on the network without a user", "[device]\ndata_dir = \"" + dir + "\"\n[web]\nlisten = \"0.0.0.0:8080\"\n[[line]]\nid = 1\n",
			true, "tapagent web user add"},
		{"dashboard on loopback without a user", "[device]\ndata_dir = \"" + dir + "\"\n[web]\nlisten = \"127.0.0.1:8080\"\n[[line]]\nid = 1\n",
			false, "the agent starts"},
		{"two listeners on one address", "[pos]\nlisten = \"127.0.0.1:8080\"\n[web]\nlisten = \"127.0.0.1:8080\"\n[[line]]\nid = 1\n",
			true, "web.listen: \"127.0.0.1:8080\" is also pos.listen"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".toml")
			writeFile(t, path, c.toml)
			var out bytes.Buffer
			err := cmdRun(context.Background(), []string{"--check-config", "--config", path}, &out)
			if msg := out.String() + errString(err); (err != nil) != c.fails || !strings.Contains(msg, c.says) {
				t.Fatalf("err %v, output %q; want fails %v with %q", err, out.String(), c.fails, c.says)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestCheckConfigPassesTheExample: the example the docs point a new user
// at passes --check-config, its listeners on distinct addresses.
func TestCheckConfigPassesTheExample(t *testing.T) {
	var out bytes.Buffer
	if err := cmdRun(context.Background(), []string{"--check-config", "--config", "../../examples/tapagent.toml"}, &out); err != nil {
		t.Fatalf("example refused: %v (%s)", err, out.String())
	}
}
