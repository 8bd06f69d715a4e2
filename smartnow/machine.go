package smartnow

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/tapagent/tapagent/flow"
)

// Bounds on what a machine's configuration replies may hold: a tap wall
// has a few lines, a vending machine a few hundred selections.
const (
	maxProducts     = 10000
	maxOpeningHours = 7 * 24
	maxCommands     = 1000
	maxParams       = 16
	assortmentPage  = 100 // the reference's list limit
)

// Product is one entry of a machine's assortment: PLU, name, price in
// minor units.
type Product struct {
	PLU   int    `json:"plu"`
	Name  string `json:"name"`
	Price int64  `json:"price"`
}

// DecodeProducts parses one page of GET /machine/{id}/product: a list of
// product objects (fields beyond plu, name and price are ignored). A
// negative price, a PLU outside 1..2^31-1, an empty name or a PLU twice
// refuses the whole page: a half-read assortment is never applied.
func DecodeProducts(b []byte) ([]Product, error) {
	var raw []struct {
		PLU   *int64  `json:"plu"`
		Name  *string `json:"name"`
		Price *int64  `json:"price"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: products: %w", ErrMalformed, err)
	}
	if len(raw) > maxProducts {
		return nil, fmt.Errorf("%w: %d products, at most %d", ErrMalformed, len(raw), maxProducts)
	}
	out := make([]Product, 0, len(raw))
	seen := map[int64]bool{}
	for i, p := range raw {
		switch {
		case p.PLU == nil || *p.PLU < 1 || *p.PLU > math.MaxInt32:
			return nil, fmt.Errorf("%w: product %d: plu missing or outside 1..%d", ErrMalformed, i, math.MaxInt32)
		case p.Price == nil || *p.Price < 0 || *p.Price > flow.MaxPrice:
			return nil, fmt.Errorf("%w: product %d (PLU %d): price missing or outside 0..%d cents", ErrMalformed, i, *p.PLU, flow.MaxPrice)
		case p.Name == nil || strings.TrimSpace(*p.Name) == "":
			return nil, fmt.Errorf("%w: product %d (PLU %d): no name", ErrMalformed, i, *p.PLU)
		case seen[*p.PLU]:
			return nil, fmt.Errorf("%w: PLU %d twice", ErrMalformed, *p.PLU)
		}
		seen[*p.PLU] = true
		out = append(out, Product{PLU: int(*p.PLU), Name: clip(*p.Name), Price: *p.Price})
	}
	return out, nil
}

// OpeningHour is one opening interval in the wall's zone: Day 0 is
// Sunday; Start and End are seconds since local midnight, End up to
// 86400 (24:00:00).
type OpeningHour struct {
	Day   int `json:"day"`
	Start int `json:"start_s"`
	End   int `json:"end_s"`
}

// DecodeOpeningHours parses GET /openinghours/machine/{id}: a list of
// {day, startTime, endTime}, times as HH:MM:SS (HH:MM taken too; 24:00:00
// as an end is midnight). An interval that is empty or runs backwards
// refuses the reply.
func DecodeOpeningHours(b []byte) ([]OpeningHour, error) {
	var raw []struct {
		Day       *int   `json:"day"`
		StartTime string `json:"startTime"`
		EndTime   string `json:"endTime"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: opening hours: %w", ErrMalformed, err)
	}
	if len(raw) > maxOpeningHours {
		return nil, fmt.Errorf("%w: %d opening hours, at most %d", ErrMalformed, len(raw), maxOpeningHours)
	}
	out := make([]OpeningHour, 0, len(raw))
	for i, h := range raw {
		if h.Day == nil || *h.Day < 0 || *h.Day > 6 {
			return nil, fmt.Errorf("%w: opening hour %d: day must be 0 (Sunday) to 6", ErrMalformed, i)
		}
		start, err1 := clockSeconds(h.StartTime, false)
		end, err2 := clockSeconds(h.EndTime, true)
		if err1 != nil || err2 != nil || start >= end {
			return nil, fmt.Errorf("%w: opening hour %d: %q to %q is not an interval of the day", ErrMalformed, i, clip(h.StartTime), clip(h.EndTime))
		}
		out = append(out, OpeningHour{Day: *h.Day, Start: start, End: end})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		return out[i].Start < out[j].Start
	})
	return out, nil
}

// clockSeconds reads HH:MM[:SS]; 24:00[:00] only as an end.
func clockSeconds(s string, end bool) (int, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("%q is not HH:MM:SS", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || len(p) != 2 || n < 0 {
			return 0, fmt.Errorf("%q is not HH:MM:SS", s)
		}
		v[i] = n
	}
	secs := v[0]*3600 + v[1]*60 + v[2]
	switch {
	case v[1] > 59 || v[2] > 59:
		return 0, fmt.Errorf("%q is not a time of day", s)
	case v[0] == 24 && end && secs == 86400:
		return secs, nil
	case v[0] > 23:
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return secs, nil
}

// MachineConfig is GET /machine/hostname/{hostname}/config: the stored
// configuration text and which of the other documented fields (name, apn,
// sharing, mode, encryption, encryptionKey, ssid) are set. Their values
// are not kept: tapagent has no use for them and encryptionKey is a
// secret.
type MachineConfig struct {
	Config string
	Others []string
}

// DecodeMachineConfig parses a machine configuration reply; fields the
// reference does not show are ignored.
func DecodeMachineConfig(b []byte) (MachineConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return MachineConfig{}, fmt.Errorf("%w: machine config: not a JSON object", ErrMalformed)
	}
	var mc MachineConfig
	if c, ok := raw["config"]; ok && string(c) != "null" {
		if err := json.Unmarshal(c, &mc.Config); err != nil {
			return MachineConfig{}, fmt.Errorf("%w: machine config: config is not a string", ErrMalformed)
		}
	}
	for _, k := range []string{"name", "apn", "sharing", "mode", "encryption", "encryptionKey", "ssid"} {
		var v any
		if json.Unmarshal(raw[k], &v) == nil && v != nil && v != "" {
			mc.Others = append(mc.Others, k)
		}
	}
	return mc, nil
}

// Command is one pending machine command with its integer parameters.
type Command struct {
	ID      int64   `json:"id"`
	Command string  `json:"command"`
	Params  []int64 `json:"params"`
}

// DecodeCommands parses GET /machine/{id}/commands: a list of {id,
// command, params}; other fields are ignored.
func DecodeCommands(b []byte) ([]Command, error) {
	var raw []Command
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: commands: %w", ErrMalformed, err)
	}
	if len(raw) > maxCommands {
		return nil, fmt.Errorf("%w: %d commands, at most %d", ErrMalformed, len(raw), maxCommands)
	}
	for i, c := range raw {
		if c.ID <= 0 || c.Command == "" || len(c.Params) > maxParams {
			return nil, fmt.Errorf("%w: command %d: needs an id > 0, a name and at most %d params", ErrMalformed, i, maxParams)
		}
		raw[i].Command = clip(c.Command)
	}
	return raw, nil
}

// get fetches path and returns the body of a 200.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	status, raw, err := c.Call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &HTTPError{Status: status, Path: path, Message: DecodeMessage(raw)}
	}
	return raw, nil
}

func idVar(id int64) map[string]string { return map[string]string{"id": strconv.FormatInt(id, 10)} }

// MachineConfig fetches the machine's stored configuration by hostname.
func (c *Client) MachineConfig(ctx context.Context, hostname string) (MachineConfig, error) {
	raw, err := c.get(ctx, Expand(c.cfg.Paths.Config, map[string]string{"hostname": hostname}))
	if err != nil {
		return MachineConfig{}, err
	}
	return DecodeMachineConfig(raw)
}

// Assortment fetches the machine's products, a page of 100 at a time.
func (c *Client) Assortment(ctx context.Context, machine int64) ([]Product, error) {
	var all []Product
	for skip := 0; ; skip += assortmentPage {
		q := url.Values{"limit": {strconv.Itoa(assortmentPage)}, "skip": {strconv.Itoa(skip)}}
		raw, err := c.get(ctx, Expand(c.cfg.Paths.Assortment, idVar(machine))+"?"+q.Encode())
		if err != nil {
			return nil, err
		}
		page, err := DecodeProducts(raw)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(all) > maxProducts {
			return nil, fmt.Errorf("%w: more than %d products", ErrMalformed, maxProducts)
		}
		if len(page) < assortmentPage {
			return all, nil
		}
	}
}

// OpeningHours fetches the machine's opening hours.
func (c *Client) OpeningHours(ctx context.Context, machine int64) ([]OpeningHour, error) {
	raw, err := c.get(ctx, Expand(c.cfg.Paths.OpeningHours, idVar(machine)))
	if err != nil {
		return nil, err
	}
	return DecodeOpeningHours(raw)
}

// Commands fetches the machine's pending commands.
func (c *Client) Commands(ctx context.Context, machine int64) ([]Command, error) {
	raw, err := c.get(ctx, Expand(c.cfg.Paths.Commands, idVar(machine)))
	if err != nil {
		return nil, err
	}
	return DecodeCommands(raw)
}

// CommandResult reports a command's outcome. A 409 (a result is there
// already: an earlier send whose reply was lost) counts as reported.
func (c *Client) CommandResult(ctx context.Context, machine, command int64, success bool, message string) error {
	vars := idVar(machine)
	vars["commandId"] = strconv.FormatInt(command, 10)
	path := Expand(c.cfg.Paths.CommandResult, vars)
	status, raw, err := c.Call(ctx, http.MethodPost, path, map[string]any{"success": success, "message": message})
	if err != nil {
		return err
	}
	switch status {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusConflict:
		return nil
	}
	return &HTTPError{Status: status, Path: path, Message: DecodeMessage(raw)}
}
