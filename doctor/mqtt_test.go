package doctor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/doctor"
	"github.com/tapagent/tapagent/internal/mqtttest"
)

// TestMQTTProbeSaysWhy: a broker that refuses the credentials is reported
// with the reason and the keys to check, not as a bare connect failure.
func TestMQTTProbeSaysWhy(t *testing.T) {
	addr := mqtttest.BrokerWithUsers(t, map[string]string{"1001": "right"})
	for _, c := range []struct{ password, want string }{{"right", ""}, {"wrong", "refused mqtt.username and mqtt.password"}} {
		cfg, err := config.Parse([]byte("[mqtt]\nbroker = \"tcp://" + addr + "\"\nusername = \"1001\"\npassword = \"" + c.password + "\"\n[[line]]\nid = 1\n"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = doctor.MQTTProbe(cfg)(ctx)
		cancel()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("password %q: %v, want %q", c.password, err, c.want)
		}
	}
}
