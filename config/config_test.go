package config

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsAFourLineWall(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Lines) != 4 || len(c.Sim.Lines) != 4 || c.Device.ID != 1001 {
		t.Fatalf("default: %d lines, %d sim lines, device %d", len(c.Lines), len(c.Sim.Lines), c.Device.ID)
	}
	l2, _ := c.Line(2)
	if l2.Price != 700 || l2.KMilli() != 5_400_000 || l2.IdleTimeout.Duration != 3*time.Second {
		t.Fatalf("line 2 did not inherit [defaults] and override price: %+v", l2)
	}
	fc := l2.FlowConfig()
	if fc.Meter.KMilli != 5_400_000 || fc.RefillMax != 30 || fc.FoamRateMilliHz != 600_000 || !fc.Predictive {
		t.Fatalf("flow config %+v", fc)
	}
	if p := l2.UnitPrice(); p.Minor != 700 || p.PerVol != 5000 {
		t.Fatalf("price %+v", p)
	}
	l3, _ := c.Line(3)
	if len(l3.FlowConfig().Meter.Correction) != 3 || l3.KegSize() != 300000 {
		t.Fatalf("line 3: %+v", l3)
	}
}

func TestMinimalFileGetsBaseRules(t *testing.T) {
	c, err := Parse([]byte("[[line]]\nid = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := c.Line(1)
	if l.KFactor != 5400 || l.MaxDuration.Duration != 90*time.Second || c.Board.Profile != "rpi4" {
		t.Fatalf("base rules not applied: %+v", l)
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	cases := []struct{ name, toml, want string }{
		{"unknown top key", "colour = 1\n[[line]]\nid = 1\n", `unknown key "colour"`},
		{"unknown line key", "[[line]]\nid = 1\nk_facter = 5\n", `unknown key "line.k_facter"`},
		{"unknown sim key", "[[line]]\nid = 1\n[[sim.line]]\nid = 1\nk_true = 5\nwobble = 1\n", `unknown key "sim.line.wobble"`},
		{"bad toml", "[[line]\n", "config:"},
		{"no lines", "", "line: at least one"},
		{"firmware timeout", "[firmware]\nflush_timeout = \"0s\"\n[[line]]\nid = 1\n", "firmware.flush_timeout"},
		{"firmware installer", "[firmware]\ninstaller = [\"\"]\n[[line]]\nid = 1\n", "firmware.installer"},
		{"reader twice", "[reader]\nport = \"/dev/ttyUSB0\"\ni2c = \"/dev/i2c-1\"\n[[line]]\nid = 1\n", "reader.i2c"},
		{"reader line", "[reader]\nport = \"/dev/ttyUSB0\"\nlines = [2]\n[[line]]\nid = 1\n", "reader.lines"},
		{"card key", "[cards]\ntap_key = \"0011\"\n[[line]]\nid = 1\n", "cards.tap_key"},
		{"card aid", "[cards]\naid = 0\n[[line]]\nid = 1\n", "cards.aid"},
		{"uid order", "[cards]\nuid_order = \"middle\"\n[[line]]\nid = 1\n", "cards.uid_order"},
		{"release key", "[firmware]\npublic_key = \"c2hvcnQ=\"\n[[line]]\nid = 1\n", "firmware.public_key"},
		{"manifest url", "[firmware]\nmanifest_url = \"ftp://x/m.json\"\n[[line]]\nid = 1\n", "firmware.manifest_url"},
		{"duplicate line", "[[line]]\nid = 1\n[[line]]\nid = 1\n", "line[1].id: line 1 is configured twice"},
		{"k factor", "[[line]]\nid = 1\nk_factor = 0\n", "line[0].k_factor"},
		{"negative duration", "[[line]]\nid = 1\nidle_timeout = \"-1s\"\n", "must not be negative"},
		{"bad duration", "[[line]]\nid = 1\nidle_timeout = \"soon\"\n", "idle_timeout"},
		{"unbounded valve", "[[line]]\nid = 1\nmax_duration = \"0s\"\n", "line[0].max_duration"},
		{"correction order", "[[line]]\nid = 1\ncorrection = [[300.0, 1.0], [100.0, 1.0]]\n", "line[0].correction[1]"},
		{"correction factor", "[[line]]\nid = 1\ncorrection = [[100.0, 3.0]]\n", "line[0].correction[0]"},
		{"checkpoint", "[storage]\ncheckpoint_interval = \"1s\"\n[[line]]\nid = 1\n", "storage.checkpoint_interval"},
		{"log level", "[log]\nlevel = \"loud\"\n[[line]]\nid = 1\n", "log.level"},
		{"exe item twice", "[[exe.item]]\nselection = 1\nplu = 5\nprice = 100\n[[exe.item]]\nselection = 1\nplu = 6\nprice = 100\n[[line]]\nid = 1\n", "exe.item[1].selection: selection 1 is listed twice"},
		{"exe item plu", "[[exe.item]]\nselection = 1\nprice = 100\n[[line]]\nid = 1\n", "exe.item[0].plu"},
		{"exe no-request byte", "[[exe.item]]\nselection = 254\nplu = 5\nprice = 100\n[[line]]\nid = 1\n", "exe.item[0].selection"},
		{"exe port without items", "[exe]\nport = \"/dev/ttyUSB1\"\n[[line]]\nid = 1\n", "exe.item"},
		{"device id", "[device]\ndevice_id = 0\n[[line]]\nid = 1\n", "device.device_id"},
		{"sim line without line", "[[line]]\nid = 1\n[[sim.line]]\nid = 2\nk_true = 5\n", "sim.line[0].id"},
		{"sim jitter", "[[line]]\nid = 1\n[[sim.line]]\nid = 1\nk_true = 5\njitter = 2.0\n", "sim.line[0].jitter"},
		{"wrong type", "[[line]]\nid = \"one\"\n", "config:"},
		{"article plu", "[[pos.article]]\nplu = 0\nname = \"x\"\nportion_ml = 300\n[[line]]\nid = 1\n", "pos.article[0].plu: must be > 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestExposedListenerRefusesToStart: a cash-register or control listener
// anyone on the network can reach needs a real credential.
func TestExposedListenerRefusesToStart(t *testing.T) {
	const line = "\n[[line]]\nid = 1\n"
	const key = "0123456789abcdef0123"
	cases := []struct{ name, toml, want string }{
		{"pos on all interfaces without key", "[pos]\nlisten = \"0.0.0.0:8080\"", `pos.api_key: is empty; a key is required because pos.listen "0.0.0.0:8080"`},
		{"pos on LAN without key", "[pos]\nlisten = \"192.168.0.20:8080\"", "pos.api_key: is empty"},
		{"pos on a port only", "[pos]\nlisten = \":8080\"", "pos.api_key: is empty"},
		{"pos placeholder", "[pos]\nlisten = \"0.0.0.0:8080\"\napi_key = \"change-me\"", `pos.api_key: is the example placeholder "change-me"`},
		{"pos placeholder on loopback", "[pos]\nlisten = \"127.0.0.1:8080\"\napi_key = \"change-me\"", "pos.api_key: is the example placeholder"},
		{"pos short key", "[pos]\nlisten = \"0.0.0.0:8080\"\napi_key = \"s3cret\"", "pos.api_key: is shorter than 16"},
		{"pos bad address", "[pos]\nlisten = \"8080\"", "pos.listen"},
		{"control on all interfaces", "[control]\nlisten = \"0.0.0.0:8081\"", `control.token: control.listen "0.0.0.0:8081" is reachable from the network`},
		{"control placeholder", "[control]\nlisten = \"0.0.0.0:8081\"\ntoken = \"change-me\"", "control.token: is the example placeholder"},
		{"control allow by name", "[control]\nlisten = \"0.0.0.0:8081\"\nallow = [\"ttg-server\"]", `control.allow: [0] "ttg-server"`},
		{"control allows everyone", "[control]\nlisten = \"0.0.0.0:8081\"\nallow = [\"0.0.0.0/0\"]", "control.allow: [0] 0.0.0.0/0 admits more than a /16"},
		{"control allows every IPv6", "[control]\nlisten = \"[::]:8081\"\nallow = [\"::/0\"]", "control.allow: [0] ::/0 admits more than a /48"},
		{"control allow masked to everyone", "[control]\nlisten = \"0.0.0.0:8081\"\nallow = [\"192.168.0.13\", \"10.0.0.5/0\"]", "control.allow: [1] 0.0.0.0/0"},
		{"control allow wide on loopback", "[control]\nlisten = \"127.0.0.1:8081\"\nallow = [\"10.0.0.0/8\"]", "control.allow: [0] 10.0.0.0/8"},
		{"control allow mapped too short", "[control]\nlisten = \"0.0.0.0:8081\"\nallow = [\"::ffff:10.0.0.0/80\"]", "control.allow: [0]"},
		{"control short token", "[control]\nlisten = \"0.0.0.0:8081\"\ntoken = \"s3cret\"\nallow = [\"192.168.0.13\"]", "control.token: is shorter than 16"},
		{"control restart interval", "[control]\nlisten = \"127.0.0.1:8081\"\nrestart_interval = \"0s\"", "control.restart_interval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml + line))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{
		"[pos]\nlisten = \"127.0.0.1:8080\"",
		"[pos]\nlisten = \"localhost:8080\"",
		"[pos]\nlisten = \"[::1]:8080\"",
		"[pos]\nlisten = \"0.0.0.0:8080\"\napi_key = \"" + key + "\"",
		"[control]\nlisten = \"127.0.0.1:8081\"",
		"[control]\nlisten = \"0.0.0.0:8081\"\ntoken = \"" + key + "\"",
		"[control]\nlisten = \"0.0.0.0:8081\"\nallow = [\"192.168.0.13\", \"10.20.0.0/16\", \"2001:db8:1::/48\"]",
		"[control]\nlisten = \"0.0.0.0:8081\"\nallow = [\"::ffff:192.168.0.0/120\"]",
		"[control]\nlisten = \"0.0.0.0:8081\"\nallow = [\"0.0.0.0/0\"]\ntoken = \"" + key + "\"",
	} {
		if _, err := Parse([]byte(ok + line)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(string(simTOML))
	f.Add("[[line]]\nid = 1\n")
	f.Add("[defaults]\nk_factor = 1e300\n[[line]]\nid = 1\n")
	f.Add("[[line]]\nid = 2\ncorrection = [[1.0, 1.0]]\n[[sim.line]]\nid = 2\nk_true = 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse([]byte(s))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config fails validation: %v", err)
		}
		for _, l := range c.Lines {
			fc := l.FlowConfig()
			if fc.Meter.KMilli <= 0 || fc.MaxDuration <= 0 {
				t.Fatalf("accepted line without a K-factor or time limit: %+v", fc)
			}
		}
	})
}

func TestExampleFileParses(t *testing.T) {
	c, err := Load("../examples/tapagent.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.ID != 2001 || len(c.Lines) != 2 || c.Board.Profile != "rpi4" {
		t.Fatalf("example: %+v", c.Device)
	}
}

// TestPackagedFileParses: the file the .deb installs must start the agent
// as it is, before anyone edits it.
func TestPackagedFileParses(t *testing.T) {
	c, err := Load("../packaging/tapagent.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.DataDir != "/var/lib/tapagent" || len(c.Lines) != 2 || c.TTG.URL != "" || c.POS.Listen != "" || c.Control.Listen != "" {
		t.Fatalf("packaged config: %+v", c)
	}
}

// TestPackagedListenersAreSafeUncommented: whoever uncomments the packaged
// [pos] or [control] section as it stands gets a refusal naming the key,
// not a listener open to the network.
func TestPackagedListenersAreSafeUncommented(t *testing.T) {
	settingLine := regexp.MustCompile(`^# [a-z_]+ = `)
	raw, err := os.ReadFile("../packaging/tapagent.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ section, want string }{
		{"[pos]", "pos.api_key"},
		{"[control]", "control.token: is shorter"},
	} {
		var out []string
		in := false
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(l, "# [") {
				in = l == "# "+c.section
			}
			setting := strings.HasPrefix(l, "# [") || settingLine.MatchString(l)
			if in && setting {
				l = strings.TrimPrefix(l, "# ")
			}
			out = append(out, l)
		}
		_, err := Parse([]byte(strings.Join(out, "\n")))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("packaged %s uncommented: %v, want an error naming %s", c.section, err, c.want)
		}
	}
}

// TestSecuritySettings: malformed operator keys stop the agent; a password
// in clear and a file:// manifest parse (an upgraded wall keeps pouring)
// and are refused by the one part they concern.
func TestSecuritySettings(t *testing.T) {
	const key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	cases := []struct{ name, toml, want, refused string }{
		{"operator key", "[mqtt]\noperator_keys = [\"c2hvcnQ=\"]\n", "mqtt.operator_keys[0]", ""},
		{"operator key twice", "[mqtt]\noperator_keys = [\"" + key + "\", \"" + key + "\"]\n", "mqtt.operator_keys[1]: listed twice", ""},
		{"password in clear", "[mqtt]\nbroker = \"tcp://mqtt.example.net:1883\"\nusername = \"1001\"\npassword = \"pw\"\n", "", "mqtt.password would cross the network in clear"},
		{"file manifest", "[firmware]\nmanifest_url = \"file:///tmp/m.json\"\n", "", "firmware.allow_file_urls"},
		{"password on loopback", "[mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\nusername = \"1001\"\npassword = \"pw\"\n", "", ""},
		{"password over tls", "[mqtt]\nbroker = \"ssl://mqtt.example.net:8883\"\nusername = \"1001\"\npassword = \"pw\"\n", "", ""},
		{"file manifest allowed", "[firmware]\nmanifest_url = \"file:///tmp/m.json\"\nallow_file_urls = true\n", "", ""},
		{"good key", "[mqtt]\noperator_keys = [\"" + key + "\"]\n", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.toml + "[[line]]\nid = 1\n"))
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if keys, err := cfg.MQTT.Operators(); err != nil || len(keys) != len(cfg.MQTT.OperatorKeys) {
				t.Fatalf("operators %v %v", keys, err)
			}
			refused := errors.Join(cfg.MQTT.LinkRefusal(), cfg.Firmware.ManifestRefusal())
			if (c.refused == "") != (refused == nil) || (refused != nil && !strings.Contains(refused.Error(), c.refused)) {
				t.Fatalf("refused %v, want %q", refused, c.refused)
			}
		})
	}
}

func TestSecurityChanges(t *testing.T) {
	base := "[[line]]\nid = 1\n"
	running, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, toml string
		want       []string
	}{
		{"harmless keys", "[log]\nlevel = \"debug\"\n[mqtt]\ntelemetry = \"5s\"\n[ttg]\ntimeout = \"3s\"\n[[line]]\nid = 1\nproduct = \"Dunkel\"\nidle_timeout = \"9s\"\nauth_timeout = \"20s\"\nkeg_size_l = 30\n", nil},
		{"a line added", "[[line]]\nid = 1\n[[line]]\nid = 2\n", []string{"line"}},
		{"money, beer and age", "[ttg]\nonline_card_alcohol = \"refuse\"\n[device]\ndecimals = 3\n[[line]]\nid = 1\nprice = 900\nk_factor = 6000\nnon_alcoholic = true\nsafety_cap_ml = 5000\ncorrection = [[10.0, 1.1]]\n",
			[]string{"device.decimals", "ttg.online_card_alcohol", "line.non_alcoholic", "line.k_factor", "line.correction", "line.price", "line.safety_cap_ml"}},
		{"whose records", "[device]\nlocation_id = 9\n[ttg]\ntime_zone = \"UTC\"\n[audit]\ncomm_id = \"XYZ0000001\"\n" + base,
			[]string{"device.location_id", "ttg.time_zone", "audit.comm_id"}},
		{"defaults reach the lines", "[defaults]\nprice = 1\n" + base, []string{"line.price"}},
		{"device paths and the rate limit", "[reader]\nport = \"/dev/ttyS0\"\n[mdb]\nport = \"/dev/ttyUSB9\"\n[dex]\nport = \"/dev/ttyUSB7\"\n[mqtt]\nrate_limit = 1000\n" + base,
			[]string{"reader.port", "mdb.port", "dex.port", "mqtt.rate_limit"}},
		{"empty installer list", "[firmware]\ninstaller = []\n" + base, nil},
		{"installer", "[firmware]\ninstaller = [\"/bin/sh\", \"-c\", \"id\"]\n" + base, []string{"firmware.installer"}},
		{"attack", "[firmware]\ninstaller = [\"/bin/sh\"]\n[pos]\napi_key = \"attacker-chosen-key-0123\"\nlisten = \"0.0.0.0:8080\"\n[ttg]\nurl = \"http://evil.example\"\npassword = \"x\"\n" + base,
			[]string{"firmware.installer", "pos.listen", "pos.api_key", "ttg.url", "ttg.password"}},
		{"keys and files", "[mqtt]\noperator_keys = [\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"]\nca_file = \"/tmp/ca\"\n[device]\ndevice_id = 7\n" + base,
			[]string{"device.device_id", "mqtt.operator_keys", "mqtt.ca_file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proposed, err := Parse([]byte(c.toml))
			if err != nil {
				t.Fatal(err)
			}
			if got := SecurityChanges(running, proposed); strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("changes %v, want %v", got, c.want)
			}
		})
	}
}

// TestEveryListenerKeyIsClassified walks the fields of [pos], [control] and [web]:
// each must be security-critical (an unsigned desired config may not change
// it, and changing it is reported) or explicitly safe. A secret, an
// allow-list, a listener or a rate limit left out would let an unsigned
// document open the listener to everyone.
func TestEveryListenerKeyIsClassified(t *testing.T) {
	critical := map[string]bool{}
	for _, k := range securityKeys {
		critical[k.key] = true
	}
	sections := []struct {
		name string
		get  func(*Config) reflect.Value
	}{
		{"pos", func(c *Config) reflect.Value { return reflect.ValueOf(&c.POS).Elem() }},
		{"control", func(c *Config) reflect.Value { return reflect.ValueOf(&c.Control).Elem() }},
		{"web", func(c *Config) reflect.Value { return reflect.ValueOf(&c.Web).Elem() }},
	}
	for _, sec := range sections {
		typ := sec.get(&Config{}).Type()
		for i := range typ.NumField() {
			f := typ.Field(i)
			key := sec.name + "." + strings.Split(f.Tag.Get("toml"), ",")[0]
			t.Run(key, func(t *testing.T) {
				_, safe := safeKeys[key]
				if critical[key] == safe {
					t.Fatalf("%s must be listed exactly once: in securityKeys (critical %v) or safeKeys (safe %v)", key, critical[key], safe)
				}
				running, err := Parse([]byte("[[line]]\nid = 1\n"))
				if err != nil {
					t.Fatal(err)
				}
				proposed := *running
				mutate(t, sec.get(&proposed).Field(i))
				got := SecurityChanges(running, &proposed)
				if reported := slices.Contains(got, key); reported != critical[key] || len(got) > 1 {
					t.Fatalf("changing %s reports %v, want it reported: %v", key, got, critical[key])
				}
			})
		}
	}
}

// mutate gives v a value different from any default.
func mutate(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "changed")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 7)
	case reflect.Slice:
		v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), reflect.Zero(v.Type().Elem())))
		if v.Index(0).Kind() == reflect.String {
			v.Index(0).SetString("changed")
		}
	case reflect.Struct:
		mutate(t, v.Field(0))
	default:
		t.Fatalf("no way to change a %s", v.Type())
	}
}

// TestHarmlessLineKeysExist: every key an unsigned document may change on
// a line is a real line key (a misspelt one would protect nothing less,
// but would hide that a key meant to be harmless is not).
func TestHarmlessLineKeysExist(t *testing.T) {
	typ := reflect.TypeFor[Line]()
	for _, k := range harmlessLineKeys {
		if !slices.ContainsFunc(reflect.VisibleFields(typ), func(f reflect.StructField) bool { return f.Tag.Get("toml") == k }) {
			t.Errorf("%s is not a [[line]] key", k)
		}
	}
}

// TestServedLines: a part with lines of its own serves those, else every
// configured line.
func TestServedLines(t *testing.T) {
	c, err := Parse([]byte("[[line]]\nid = 1\n[[line]]\nid = 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Served(nil); !slices.Equal(got, []int{1, 4}) {
		t.Fatalf("no lines of its own: %v, want every line", got)
	}
	if got := c.Served([]int{4}); !slices.Equal(got, []int{4}) {
		t.Fatalf("lines [4]: %v", got)
	}
}
