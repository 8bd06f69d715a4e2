package doctor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/nfc/pn532"
	"github.com/tapagent/tapagent/payment/exe"
	"github.com/tapagent/tapagent/payment/mdb"
	"github.com/tapagent/tapagent/touchtopup"
	"github.com/tapagent/tapagent/transport"
	"github.com/tapagent/tapagent/ttg"
)

// TTGProbe logs in to the configured TTG server and reads its
// configuration stamp: the first two calls the agent makes.
func TTGProbe(cfg *config.Config, log *slog.Logger) Probe {
	return func(ctx context.Context) (string, error) {
		c := ttg.NewClient(ttg.ClientConfig{BaseURL: cfg.TTG.URL, Username: cfg.TTG.Username, Password: cfg.TTG.Password,
			ClientID: cfg.Device.ID, ClientName: cfg.TTG.ClientName, Timeout: cfg.TTG.Timeout.Duration, Log: log})
		if err := c.Authenticate(ctx); err != nil {
			return "", fmt.Errorf("login: %w", err)
		}
		if _, err := c.ConfigStamp(ctx); err != nil {
			return "", fmt.Errorf("after login: %w", err)
		}
		return "", nil
	}
}

// TouchTopUpProbe reads company_details of every company the configured
// accounts belong to, with the API key in its header: a wrong key or
// company is TouchTopUp's refusal, word for word.
func TouchTopUpProbe(cfg *config.Config) Probe {
	return func(ctx context.Context) (string, error) {
		t := cfg.TouchTopUp
		zone, err := t.Location()
		if err != nil {
			return "", err
		}
		c := touchtopup.NewClient(touchtopup.Config{BaseURL: t.URL, APIKey: t.APIKey, KeyHeader: t.KeyHeader, Zone: zone, Timeout: t.Timeout.Duration})
		var names []string
		seen := map[int64]bool{}
		for _, a := range t.Accounts {
			co := a.CompanyID
			if a.LinkKey != "" {
				if co, _, err = touchtopup.ParseLinkKey(a.LinkKey); err != nil {
					return "", err
				}
			}
			if seen[co] {
				continue
			}
			seen[co] = true
			info, err := c.Company(ctx, co)
			if err != nil {
				return "", fmt.Errorf("company %d: %w", co, err)
			}
			names = append(names, fmt.Sprintf("company %d %q", co, info.Name))
		}
		if len(names) == 0 {
			return "no accounts configured", nil
		}
		return strings.Join(names, ", "), nil
	}
}

// MQTTProbe connects to the broker with the agent's credentials and
// certificates, under its own client id so a running agent keeps its
// session.
func MQTTProbe(cfg *config.Config) Probe {
	return func(ctx context.Context) (string, error) {
		tcfg, err := transport.MQTTTLS(cfg.MQTT)
		if err != nil {
			return "", err
		}
		o := mqtt.NewClientOptions().AddBroker(cfg.MQTT.Broker).
			SetClientID(fmt.Sprintf("%s-%d-doctor", cfg.MQTT.Prefix, cfg.Device.ID)).
			SetUsername(cfg.MQTT.Username).SetPassword(cfg.MQTT.Password).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false)
		if tcfg != nil {
			o.SetTLSConfig(tcfg)
		}
		if dl, ok := ctx.Deadline(); ok {
			o.SetConnectTimeout(timeUntil(dl))
		}
		c := mqtt.NewClient(o)
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if err := tok.Error(); err != nil {
			return "", fmt.Errorf("connect: %s: %w", diag.Explain(err), err)
		}
		if !c.IsConnected() {
			return "", errors.New("connect: not connected")
		}
		c.Disconnect(100)
		return "", nil
	}
}

// ReaderProbe opens the configured PN532 and asks for its firmware, the
// way the agent starts it (wake-up, GetFirmwareVersion, SAMConfiguration).
// A running agent holds the port: stop it first.
func ReaderProbe(cfg *config.Config) Probe {
	return func(ctx context.Context) (string, error) {
		t, err := transport.ReaderPort(cfg.Reader, "")
		if err != nil {
			return "", err
		}
		d := pn532.NewDevice(t, pn532.Options{})
		defer d.Close()
		return transport.AskReader(ctx, d)
	}
}

// MDBProbe opens the configured MDB transport and runs the power-up
// sequence with the cashless reader, the way the agent starts it, then
// disables it again. A running agent holds the port: stop it first.
func MDBProbe(cfg *config.Config) Probe {
	return func(ctx context.Context) (string, error) {
		bus, err := transport.OpenMDB(ctx, cfg.MDB, "")
		if err != nil {
			return "", err
		}
		defer bus.Close()
		return AskTerminal(ctx, transport.MDBMaster(cfg, bus, ""))
	}
}

// EXEProbe opens the configured EXE bridge and asks the machine for its
// STATUS. A running agent holds the port: stop it first.
func EXEProbe(cfg *config.Config) Probe {
	return func(ctx context.Context) (string, error) {
		m, err := transport.OpenEXE(cfg.EXE, "")
		if err != nil {
			return "", err
		}
		defer m.P.Close()
		return AskMachine(ctx, m)
	}
}

// AskMachine is the EXE check on a master: the machine's STATUS.
func AskMachine(ctx context.Context, m *exe.Master) (string, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return "", err
	}
	s := "answers STATUS"
	if st.Inhibited {
		s += ", inhibited (sales off at the machine)"
	}
	if st.FreeVend {
		s += ", set to free vend"
	}
	return s, nil
}

// AskTerminal is the MDB check on a master: reset, set up, identify.
func AskTerminal(ctx context.Context, m *mdb.Master) (string, error) {
	if m.Poll <= 0 {
		m.Poll = 50 * time.Millisecond
	}
	m.Tries = 20
	if err := m.Init(ctx); err != nil {
		return "", err
	}
	_ = m.Enable(ctx, false)
	p, c := m.Periph, m.Config
	return fmt.Sprintf("%s %s (serial %s), level %d, currency %04X, scale %d, %d decimals",
		strings.TrimSpace(p.Manufacturer), strings.TrimSpace(p.Model), strings.TrimSpace(p.Serial), c.Level, c.Currency, c.Scale, c.Decimals), nil
}
