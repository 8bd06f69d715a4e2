package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/smartnow"
	"github.com/tapagent/tapagent/telemetron"
)

// fixError is a probe's failure that knows which keys to fix, so the
// report names them instead of the check's general advice.
type fixError struct {
	err error
	fix string
}

func (e *fixError) Error() string { return e.err.Error() }
func (e *fixError) Unwrap() error { return e.err }

// withFix attaches the keys to fix to err.
func withFix(err error, fix string) error { return &fixError{err: err, fix: fix} }

// SmartNowProbe logs in (POST /auth/login) and fetches the machine's
// configuration by hostname: the agent's first calls. A refused login
// names the credentials, an unknown machine smartnow.hostname.
func SmartNowProbe(cfg *config.Config) Probe {
	return func(ctx context.Context) (string, error) {
		s := cfg.SmartNow
		c := smartnow.NewClient(smartnow.Config{BaseURL: s.URL, Username: s.Username, Password: s.Password, Paths: s.Paths,
			Timeout: s.Timeout.Duration, TokenLifetime: s.TokenLifetime.Duration})
		if err := c.Login(ctx); err != nil {
			if refused(err, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden) {
				return "", withFix(fmt.Errorf("login refused: %w", err), "check smartnow.username and smartnow.password")
			}
			return "", fmt.Errorf("login: %w", err)
		}
		if _, err := c.MachineConfig(ctx, s.Hostname); err != nil {
			if refused(err, http.StatusNotFound) {
				return "", withFix(fmt.Errorf("machine %q unknown: %w", s.Hostname, err), "check smartnow.hostname: it must be the machine's hostname in SmartNow")
			}
			return "", fmt.Errorf("machine configuration: %w", err)
		}
		return fmt.Sprintf("machine %q", s.Hostname), nil
	}
}

// TelemetronProbe asks for a token with the OAuth2 password grant and
// reads the machine (GET /vending_machines/{machine_id}). A refused grant
// names the credentials, an unknown machine telemetron.machine_id.
func TelemetronProbe(cfg *config.Config) Probe {
	return func(ctx context.Context) (string, error) {
		t := cfg.Telemetron
		c := telemetron.NewClient(telemetron.Config{BaseURL: t.URL, AuthURL: t.AuthURL, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
			Username: t.Username, Password: t.Password, Scope: t.Scope, Timeout: t.Timeout.Duration})
		if err := c.Login(ctx); err != nil {
			if refused(err, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden) {
				return "", withFix(fmt.Errorf("token refused: %w", err),
					"check telemetron.username, telemetron.password, telemetron.client_id, telemetron.client_secret and telemetron.scope")
			}
			return "", fmt.Errorf("token: %w", err)
		}
		m, err := c.Machine(ctx, t.MachineID)
		if err != nil {
			if refused(err, http.StatusNotFound, http.StatusForbidden) {
				return "", withFix(fmt.Errorf("machine %d unknown: %w", t.MachineID, err),
					"check telemetron.machine_id: the id GET /v2/vending_machines lists for this machine")
			}
			return "", fmt.Errorf("machine: %w", err)
		}
		return fmt.Sprintf("machine %d %q", m.ID, m.Name), nil
	}
}

// refused reports whether err is the cloud's answer with one of statuses.
func refused(err error, statuses ...int) bool {
	var status int
	var se *smartnow.HTTPError
	var te *telemetron.APIError
	switch {
	case errors.As(err, &se):
		status = se.Status
	case errors.As(err, &te):
		status = te.Status
	default:
		return false
	}
	for _, s := range statuses {
		if s == status {
			return true
		}
	}
	return false
}
