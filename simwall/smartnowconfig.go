package simwall

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tapagent/tapagent/config"
	"github.com/tapagent/tapagent/sim"
	snemu "github.com/tapagent/tapagent/sim/smartnow"
	"github.com/tapagent/tapagent/smartnow"
)

// seedMachine gives the simulated machine in SmartNow what the agent
// fetches besides its assortment (docs/clouds.md, "SmartNow:
// configuration and commands"): opening hours every day from 00:00:00 to
// 23:59:59 (the emulator takes no 24:00:00, so the last second of each
// day is closed), a machine configuration that maps ("opening_hours") and
// one key that does not ("display"), and one queued command, report.
func seedMachine(ctx context.Context, c *smartnow.Client, cfg *config.Config) error {
	host, id := cfg.SmartNow.Hostname, cfg.SmartNow.MachineID
	hours := make([]snemu.OpeningHour, 0, 7)
	for d := range 7 {
		hours = append(hours, snemu.OpeningHour{Day: d, StartTime: "00:00:00", EndTime: "23:59:59"})
	}
	for _, call := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPut, fmt.Sprintf("/openinghours/machine/%d", id), hours},
		{http.MethodPut, "/machine/hostname/" + url.PathEscape(host) + "/config", map[string]string{"config": `{"opening_hours": true, "display": "dark"}`}},
		{http.MethodPost, "/command/report/hostname/" + url.PathEscape(host), map[string][]int64{"params": {}}},
	} {
		if err := operatorCall(ctx, c, call.method, call.path, call.body); err != nil {
			return fmt.Errorf("smartnow emulator: %w", err)
		}
	}
	return nil
}

// operatorCall is one request to the emulator as an operator makes it.
func operatorCall(ctx context.Context, c *smartnow.Client, method, path string, body any) error {
	status, raw, err := c.Call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return &smartnow.HTTPError{Status: status, Path: path, Message: smartnow.DecodeMessage(raw)}
	}
	return nil
}

// smartnowCommand is the scenario action smartnow_command: an operator
// queues command with params for this machine in SmartNow, which the
// agent fetches at its next command poll.
func smartnowCommand(ctx context.Context, cfg *config.Config, st sim.Step) error {
	sn := cfg.SmartNow
	if sn.URL == "" {
		return fmt.Errorf("smartnow_command needs SmartNow: run with --smartnow")
	}
	c := smartnow.NewClient(smartnow.Config{BaseURL: sn.URL, Username: sn.Username, Password: sn.Password, Timeout: 5 * time.Second})
	params := st.Params
	if params == nil {
		params = []int64{}
	}
	return operatorCall(ctx, c, http.MethodPost, "/command/"+url.PathEscape(st.Command)+"/hostname/"+url.PathEscape(sn.Hostname),
		map[string][]int64{"params": params})
}
