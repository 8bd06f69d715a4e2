package simwall

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/transport"
)

// siteFile readies a site's own configuration (tapagent sim --config
// FILE) for the simulated board, or says in one line what keeps it from
// running there: the card deck's keys and the MQTT link's certificates.
func siteFile(cfg *config.Config, o Options) error {
	if err := deckKeys(cfg, o.ReaderPort, o.Log); err != nil {
		return err
	}
	return mqttFiles(cfg.MQTT)
}

// mqttFiles checks that the certificates of [mqtt] can be read before the
// simulator starts: the link connects to the file's broker like the
// daemon would, and the agent would stop on a missing file.
func mqttFiles(m config.MQTT) error {
	if m.Broker == "" {
		return nil
	}
	if _, err := transport.MQTTTLS(m); err != nil {
		return fmt.Errorf("%w: the simulator connects to mqtt.broker %s as the configuration says; fix mqtt.ca_file, mqtt.cert_file and mqtt.key_file, or run with --mqtt off", err, m.Broker)
	}
	return nil
}

// deckKeys makes sure the simulated card deck can be issued: the
// charger's job writes the application's AES keys cards.issuer_key,
// cards.tap_key and cards.charger_key onto each card. A file that gives
// none of them (a site's file, whose cards are issued elsewhere) gets the
// simulator's demo keys of config/sim.toml, said in a log line; a file
// that gives only some is refused in one line naming the missing keys. A
// real reader (--reader) reads real cards with the file's keys as they are.
func deckKeys(cfg *config.Config, readerPort string, log *slog.Logger) error {
	if readerPort != "" {
		return nil
	}
	c := &cfg.Cards
	var missing []string
	for _, k := range []struct{ key, v string }{{"cards.issuer_key", c.IssuerKey}, {"cards.tap_key", c.TapKey}, {"cards.charger_key", c.ChargerKey}} {
		if k.v == "" {
			missing = append(missing, k.key)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 3:
		demo, err := config.Default()
		if err != nil {
			return fmt.Errorf("simulator's card keys: %w", err)
		}
		c.IssuerKey, c.TapKey, c.ChargerKey = demo.Cards.IssuerKey, demo.Cards.TapKey, demo.Cards.ChargerKey
		log.Warn("the configuration gives no cards.issuer_key, cards.tap_key, cards.charger_key: the simulated card deck is issued and read with the simulator's demo AES keys")
		return nil
	}
	return fmt.Errorf("%s not set: the simulator's card deck needs AES keys in all of cards.issuer_key, cards.tap_key and cards.charger_key (32 hex digits each), or none of them for the simulator's own", strings.Join(missing, ", "))
}
