package smartnowsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/smartnow"
)

// Settings are the keys of the machine configuration (the "config" text
// of GET /machine/hostname/{hostname}/config, a JSON object) that map to
// tapagent. Every other key is ignored and named in one event.
type Settings struct {
	// Prices false suspends the assortment's prices (the configured ones
	// apply); nil keeps [smartnow] prices. It cannot turn them on where
	// [smartnow] prices is false.
	Prices *bool `json:"prices,omitempty"`
	// OpeningHours false ignores the opening hours (always open); nil is
	// true.
	OpeningHours *bool `json:"opening_hours,omitempty"`
	// Closed are lines closed whatever the hours (0: every line).
	Closed []int `json:"closed,omitempty"`
}

// maxConfig bounds the configuration text (the reply is bounded too);
// maxIgnored the ignored keys named.
const (
	maxConfig  = 64 << 10
	maxIgnored = 32
)

// ParseSettings reads the configuration text: "" is no settings; keys
// that do not map come back in ignored, sorted. Text that is not a JSON
// object is an error (nothing applied from it).
func ParseSettings(text string, lines []int) (Settings, []string, error) {
	var st Settings
	if strings.TrimSpace(text) == "" {
		return st, nil, nil
	}
	if len(text) > maxConfig {
		return st, nil, fmt.Errorf("machine config over %d bytes", maxConfig)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil || raw == nil {
		return st, nil, errors.New("machine config is not a JSON object")
	}
	var ignored []string
	for k, v := range raw {
		var err error
		switch k {
		case "prices":
			err = json.Unmarshal(v, &st.Prices)
		case "opening_hours":
			err = json.Unmarshal(v, &st.OpeningHours)
		case "closed":
			err = json.Unmarshal(v, &st.Closed)
			for _, l := range st.Closed {
				if l != 0 && !slices.Contains(lines, l) {
					err = fmt.Errorf("no line %d", l)
				}
			}
		default:
			ignored = append(ignored, keyName(k))
			continue
		}
		if err != nil {
			return Settings{}, nil, fmt.Errorf("machine config %q: %w", k, err)
		}
	}
	sort.Strings(ignored)
	if len(ignored) > maxIgnored {
		ignored = append(ignored[:maxIgnored], fmt.Sprintf("(and %d more)", len(ignored)-maxIgnored))
	}
	return st, ignored, nil
}

// keyName is an ignored key as the event names it: printable, short.
func keyName(k string) string {
	q := strconv.QuoteToGraphic(k)
	q = q[1 : len(q)-1]
	if r := []rune(q); len(r) > 64 {
		q = string(r[:64]) + "…"
	}
	return q
}

// Refresh fetches the machine configuration and, with a machine id, the
// assortment and opening hours, and applies what changed. A part that
// cannot be fetched keeps what was applied last; the error says which.
// summary says what was applied ("" when nothing changed).
func (s *Sync) Refresh(ctx context.Context) (summary string, err error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	old := s.state.Load()
	next := *old
	var errs []error
	mc, err := s.client.MachineConfig(ctx, s.cfg.Hostname)
	if err == nil {
		var st Settings
		var ignored []string
		st, ignored, err = ParseSettings(mc.Config, s.lineIDs())
		if err == nil {
			next.Settings, next.Ignored = st, append(ignored, mc.Others...)
			sort.Strings(next.Ignored)
		}
	}
	errs = append(errs, err)
	if id := s.cfg.MachineID; id > 0 {
		if prods, err := s.client.Assortment(ctx, id); err == nil {
			next.Assortment = make(map[int]smartnow.Product, len(prods))
			for _, p := range prods {
				next.Assortment[p.PLU] = p
			}
		} else {
			errs = append(errs, err)
		}
		if hours, err := s.client.OpeningHours(ctx, id); err == nil {
			next.Hours, next.HaveHours = hours, true
		} else {
			errs = append(errs, err)
		}
	}
	err = errors.Join(errs...)
	if reflect.DeepEqual(comparable(old), comparable(&next)) {
		return "", err
	}
	next.At = s.now().UTC()
	if serr := s.saveApplied(&next); serr != nil {
		return "", errors.Join(err, fmt.Errorf("smartnowsync: storing the applied configuration: %w", serr))
	}
	s.state.Store(&next)
	return s.announce(old, &next), err
}

// comparable is a without its time stamp.
func comparable(a *Applied) Applied {
	c := *a
	c.At = time.Time{}
	return c
}

func (s *Sync) lineIDs() []int {
	ids := make([]int, 0, len(s.lines))
	for _, l := range s.lines {
		ids = append(ids, l.ID)
	}
	return ids
}

// announce applies the names and reports what was applied and ignored:
// the config-applied event is SmartNow's TA_CONFIG_APPLIED log.
func (s *Sync) announce(old, next *Applied) string {
	renamed := s.applyNames(next)
	applied := map[string]any{}
	if next.Assortment != nil {
		prices, kept := s.linePrices(next)
		applied["assortment"] = len(next.Assortment)
		if len(prices) > 0 {
			applied["prices"] = prices
		}
		if len(kept) > 0 {
			applied["prices_kept"] = kept
		}
		if len(renamed) > 0 {
			applied["names"] = renamed
		}
	}
	if next.HaveHours {
		applied["opening_hours"] = hoursText(next.Hours)
	}
	if v := next.Settings.OpeningHours; v != nil {
		applied["opening_hours_on"] = *v
	}
	if v := next.Settings.Prices; v != nil {
		applied["prices_on"] = *v && s.cfg.Prices
	}
	if len(next.Settings.Closed) > 0 {
		applied["closed"] = next.Settings.Closed
	}
	ignored := next.Ignored
	if ignored == nil {
		ignored = []string{}
	}
	if len(next.Ignored) > 0 && !slices.Equal(old.Ignored, next.Ignored) {
		s.report(device.Event{Type: device.EventSmartNowConfigIgnored, Detail: strings.Join(next.Ignored, ", ")})
	}
	b, _ := json.Marshal(map[string]any{"applied": applied, "ignored": ignored})
	s.report(device.Event{Type: device.EventSmartNowConfigApplied, Detail: string(b)})
	return string(b)
}

// linePrices are the lines priced from the assortment (line → minor
// units) and the lines that keep their configured price, each reported.
func (s *Sync) linePrices(a *Applied) (map[string]int64, []int) {
	if !s.pricesOn(a) {
		return nil, nil
	}
	prices := map[string]int64{}
	var kept []int
	for _, l := range s.currentLines() {
		if p, ok := s.priceFor(a, l.plu); ok {
			prices[strconv.Itoa(l.id)] = p.Minor
			continue
		}
		kept = append(kept, l.id)
		why := "is not in the SmartNow assortment"
		if _, in := a.Assortment[l.plu]; in {
			why = "is on no configured line (its price_per_ml is unknown)"
		}
		s.report(device.Event{Type: device.EventPriceKept, Line: l.id,
			Detail: fmt.Sprintf("PLU %d %s: the configured price stays", l.plu, why)})
	}
	return prices, kept
}

// unpriced reports, when the assortment is the price authority but none
// was ever fetched, that every line keeps its configured price until one
// arrives: the configured prices never return silently.
func (s *Sync) unpriced(a *Applied) {
	if !s.pricesOn(a) || a.Assortment != nil {
		return
	}
	for _, l := range s.currentLines() {
		s.report(device.Event{Type: device.EventPriceKept, Line: l.id,
			Detail: fmt.Sprintf("PLU %d: no SmartNow assortment fetched yet: the configured price stays", l.plu)})
	}
}

type linePLU struct{ id, plu int }

// currentLines are the lines with the PLU they pour now (a keg change
// may have put another product on one).
func (s *Sync) currentLines() []linePLU {
	var out []linePLU
	if w := s.getWall(); w != nil {
		for _, k := range w.Kegs() {
			out = append(out, linePLU{k.Line, k.PLU})
		}
		return out
	}
	for _, l := range s.lines {
		out = append(out, linePLU{l.ID, l.PLU})
	}
	return out
}

// applyNames names the lines' products from the assortment (when prices
// come from it: names and prices are one authority).
func (s *Sync) applyNames(a *Applied) []int {
	w := s.getWall()
	if w == nil || !s.pricesOn(a) || a.Assortment == nil {
		return nil
	}
	names := make(map[int]string, len(a.Assortment))
	for plu, p := range a.Assortment {
		names[plu] = p.Name
	}
	return w.SetProductNames(names)
}

// pricesOn says whether the assortment prices the lines.
func (s *Sync) pricesOn(a *Applied) bool {
	return s.cfg.Prices && (a.Settings.Prices == nil || *a.Settings.Prices)
}

// days are the weekdays' short names, Sunday (0) first, three letters each.
const days = "SunMonTueWedThuFriSat"

func hoursText(hs []smartnow.OpeningHour) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, fmt.Sprintf("%s %s-%s", days[3*h.Day:3*h.Day+3], clock(h.Start), clock(h.End)))
	}
	return out
}

func clock(s int) string { return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60) }
