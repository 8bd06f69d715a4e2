package diagcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/diag"
	"github.com/tapagent/tapagent/flow"
)

// HADiscoveryPrefix is Home Assistant's default MQTT discovery prefix.
const HADiscoveryPrefix = "homeassistant"

// haLineState is the retained state document of one line, which the
// discovered entities read with their value templates.
// Figures stay integers (the entities' templates scale them for display).
type haLineState struct {
	State        string   `json:"state"`
	Product      string   `json:"product"`
	KegPermille  int64    `json:"keg_permille"`
	KegLeft      flow.Vol `json:"keg_remaining_ml10"`
	LastPour     flow.Vol `json:"last_pour_ml10"`
	LastPourAt   string   `json:"last_pour_at,omitempty"`
	LastAmount   int64    `json:"last_pour_amount_minor"`
	LastPourKind string   `json:"last_pour_kind,omitempty"`
}

// homeAssistant keeps Home Assistant's view of the wall: discovery
// documents once per connection (Diag.Retain repeats them), line states
// whenever an event may have changed one.
type homeAssistant struct {
	d      *diag.Diag
	agent  Wall
	dev    int64
	ver    string
	status string // the availability topic (the agent's retained status)
	dirty  chan struct{}

	mu   sync.Mutex
	last map[int]device.Event // each line's last booked pour
}

// startHomeAssistant publishes the discovery documents and keeps the
// states current until ctx ends; the returned function takes the agent's
// events and never blocks (they come from the pour path, under line locks).
func startHomeAssistant(ctx context.Context, d *diag.Diag, a Wall, dev int64, version string) func(device.Event) {
	h := &homeAssistant{d: d, agent: a, dev: dev, ver: version, status: d.Topic("status"),
		dirty: make(chan struct{}, 1), last: map[int]device.Event{}}
	for _, line := range a.Lines() {
		for _, doc := range h.discovery(line) {
			_ = d.Retain(doc.topic, doc.body)
		}
	}
	// The states follow the first event (agent_started, once the kegs are loaded).
	go h.run(ctx)
	return h.observe
}

func (h *homeAssistant) observe(ev device.Event) {
	switch ev.Type {
	case device.EvCheckpoint:
		return
	case device.EvBooked:
		h.mu.Lock()
		h.last[ev.Line] = ev
		h.mu.Unlock()
	}
	select {
	case h.dirty <- struct{}{}:
	default:
	}
}

// run publishes the states after changes, at most twice a second.
func (h *homeAssistant) run(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.dirty:
			h.publish()
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (h *homeAssistant) stateTopic(line int) string {
	return h.d.Topic("ha/line/" + strconv.Itoa(line))
}

func (h *homeAssistant) publish() {
	status := map[int]device.LineStatus{}
	for _, s := range h.agent.Status() {
		status[s.Line] = s
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range h.agent.Kegs() {
		s := status[k.Line]
		st := haLineState{State: s.State, Product: k.Product, KegPermille: k.Keg.FillPermille(), KegLeft: k.Keg.Remaining}
		switch {
		case k.Disabled != "":
			st.State = "disabled (" + k.Disabled + ")"
		case k.Locked:
			st.State = "locked"
		}
		if ev, ok := h.last[k.Line]; ok {
			st.LastPour, st.LastAmount, st.LastPourKind = ev.Volume, ev.Amount, ev.Kind
			st.LastPourAt = ev.Time.UTC().Format(time.RFC3339)
		}
		if b, err := json.Marshal(st); err == nil {
			_ = h.d.Retain(h.stateTopic(k.Line), b)
		}
	}
}

type haDoc struct {
	topic string
	body  []byte
}

// discovery is the three entities of a line: keg level, line state, last pour.
func (h *homeAssistant) discovery(line int) []haDoc {
	node := fmt.Sprintf("tapagent_%d", h.dev)
	device := map[string]any{"identifiers": []string{node}, "name": fmt.Sprintf("Tap wall %d", h.dev),
		"manufacturer": "tapagent", "model": "self-pour tap wall", "sw_version": h.ver}
	entity := func(key, name, template string, extra map[string]any) haDoc {
		id := fmt.Sprintf("%s_line%d_%s", node, line, key)
		cfg := map[string]any{"name": fmt.Sprintf("Line %d %s", line, name), "unique_id": id, "object_id": id,
			"state_topic": h.stateTopic(line), "value_template": template, "json_attributes_topic": h.stateTopic(line),
			"availability_topic": h.status, "availability_template": "{{ value_json.state }}",
			"payload_available": "online", "payload_not_available": "offline", "device": device}
		for k, v := range extra {
			cfg[k] = v
		}
		b, _ := json.Marshal(cfg)
		return haDoc{topic: fmt.Sprintf("%s/sensor/%s/line%d_%s/config", HADiscoveryPrefix, node, line, key), body: b}
	}
	return []haDoc{
		entity("keg", "keg level", "{{ (value_json.keg_permille / 10) | round(1) }}", map[string]any{"unit_of_measurement": "%",
			"state_class": "measurement", "icon": "mdi:keg"}),
		entity("state", "state", "{{ value_json.state }}", map[string]any{"icon": "mdi:beer"}),
		entity("last_pour", "last pour", "{{ (value_json.last_pour_ml10 / 10) | round(1) }}", map[string]any{"unit_of_measurement": "mL",
			"device_class": "volume", "icon": "mdi:glass-mug-variant"}),
	}
}
