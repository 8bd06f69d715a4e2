package config

import (
	"strings"
)

// validate checks [mqtt]'s broker and client certificate; its operator
// keys are checked with the other security settings (validateSecurity).
func (m MQTT) validate(bad badFunc) {
	if b := m.Broker; b != "" && !strings.HasPrefix(b, "tcp://") && !strings.HasPrefix(b, "ssl://") && !strings.HasPrefix(b, "tls://") {
		bad("mqtt.broker", "%q must start with tcp://, ssl:// or tls://", b)
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		bad("mqtt.cert_file", "cert_file and key_file go together")
	}
}
