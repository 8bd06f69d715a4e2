// Package diag is field diagnostics over MQTT: a retained status with a
// last will, events from the durable record, and commands answered on
// cmd/res/{id}. Topics live under {prefix}/v1/{device_id}. The paho
// callbacks never block: messages are handed to a worker.
package diag

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/storage"
)

// Config says where the broker is and who we are.
type Config struct {
	Broker   string // tcp://host:1883 or ssl://host:8883
	Prefix   string // default "tapagent"
	DeviceID int64
	Username string
	Password string
	TLS      *tls.Config
	Version  string
	BootID   string
	// RateLimit is the most commands per second (burst the same); default 20.
	RateLimit int
	// Desired, when set, receives each retained config/desired document
	// and each config.set command; the report it returns is published,
	// retained, as config/reported, and status answers the command.
	Desired func(doc []byte) (status int, report any)
	// ReconnectJitter is the most random delay added before each
	// reconnection, so a fleet does not return to a restarted broker in
	// one wave; default 2 s, negative turns it off.
	ReconnectJitter time.Duration
	Log             *slog.Logger
	Now             func() time.Time
}

// Handler runs a command; status is HTTP-like (200, 400, 404, ...).
type Handler func(ctx context.Context, params json.RawMessage) (status int, body any)

// Status is the retained status document (also the last will).
type Status struct {
	State   string `json:"state"` // online, offline
	Session uint64 `json:"session"`
	Version string `json:"version,omitempty"`
	BootID  string `json:"boot_id,omitempty"`
	At      int64  `json:"at"` // epoch ms
}

// Request is a command on cmd/req/{id}.
type Request struct {
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params,omitempty"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// Response is published on cmd/res/{id}.
type Response struct {
	Status int `json:"status"`
	Body   any `json:"body,omitempty"`
}

// Diag is the agent's MQTT side.
type Diag struct {
	cfg     Config
	root    string
	session uint64
	methods map[string]Handler
	client  mqtt.Client
	work    chan mqtt.Message
	events  chan []byte
	dropped atomic.Int64

	mu    sync.Mutex
	cache map[string]Response // answered command ids
	order []string
	bucket
}

// bucket is a token bucket for the command rate limit.
type bucket struct {
	tokens float64
	last   time.Time
}

const cacheSize = 256

// New prepares the client: the session counter is incremented durably so
// a status or will from an older connection can always be told apart.
func New(cfg Config, st *storage.Store, methods map[string]Handler) (*Diag, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "tapagent"
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReconnectJitter == 0 {
		cfg.ReconnectJitter = 2 * time.Second
	}
	d := &Diag{cfg: cfg, root: fmt.Sprintf("%s/v1/%d", cfg.Prefix, cfg.DeviceID), methods: methods,
		work: make(chan mqtt.Message, 64), events: make(chan []byte, 1024), cache: map[string]Response{}}
	d.bucket = bucket{tokens: float64(cfg.RateLimit), last: cfg.Now()}
	if cfg.Desired != nil {
		d.addConfigSet()
	}
	err := st.Update("diag", func(b storage.Bucket) error {
		if v := b.Get([]byte("session")); len(v) == 8 {
			d.session = binary.BigEndian.Uint64(v)
		}
		d.session++
		return b.Put([]byte("session"), binary.BigEndian.AppendUint64(nil, d.session))
	})
	if err != nil {
		return nil, fmt.Errorf("diag: session counter: %w", err)
	}
	d.client = d.newClient()
	return d, nil
}

// newClient sets up paho: clean session, automatic reconnection with
// backoff, the last will, and onConnect for status and subscriptions.
func (d *Diag) newClient() mqtt.Client {
	o := mqtt.NewClientOptions().AddBroker(d.cfg.Broker).
		SetClientID(fmt.Sprintf("tapagent-%d-%d", d.cfg.DeviceID, d.session)).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetStore(newPacketStore()).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(30*time.Second).
		SetKeepAlive(10*time.Second).SetOrderMatters(false).
		SetBinaryWill(d.Topic("status"), d.status("offline"), 1, true).
		SetOnConnectHandler(d.onConnect).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			// paho's backoff is the same on every device; this spreads them.
			if j := d.cfg.ReconnectJitter; j > 0 {
				time.Sleep(rand.N(j))
			}
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			d.cfg.Log.Warn("MQTT connection lost; reconnecting", "err", err)
		})
	if d.cfg.Username != "" {
		o.SetUsername(d.cfg.Username).SetPassword(d.cfg.Password)
	}
	if d.cfg.TLS != nil {
		o.SetTLSConfig(d.cfg.TLS)
	}
	return mqtt.NewClient(o)
}

// Topic is a topic under the device's root.
func (d *Diag) Topic(sub string) string { return d.root + "/" + sub }

// Session is this run's session number.
func (d *Diag) Session() uint64 { return d.session }

func (d *Diag) status(state string) []byte {
	b, _ := json.Marshal(Status{State: state, Session: d.session, Version: d.cfg.Version, BootID: d.cfg.BootID,
		At: d.cfg.Now().UnixMilli()})
	return b
}

// Run connects (retrying with backoff and jitter), answers commands and
// publishes events until ctx ends, then marks the device offline.
func (d *Diag) Run(ctx context.Context) error {
	d.client.Connect() // with ConnectRetry this keeps trying in the background
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.worker(ctx) }()
	go func() { defer wg.Done(); d.publisher(ctx) }()
	<-ctx.Done()
	wg.Wait()
	if !d.client.IsConnected() {
		// Stop the reconnect loop at once: shutdown must not wait on a broker
		// that is away (the will says offline when it comes back).
		d.client.Disconnect(0)
		return nil
	}
	t := d.client.Publish(d.Topic("status"), 1, true, d.status("offline"))
	t.WaitTimeout(2 * time.Second)
	d.client.Disconnect(250)
	return nil
}

// onConnect runs on every (re)connection (paho calls it on a goroutine of
// its own): subscriptions first, then the online status, so a technician
// who sees "online" and sends a command at once is already listened to.
func (d *Diag) onConnect(c mqtt.Client) {
	topics := map[string]byte{d.Topic("cmd/req/+"): 1, d.Topic("status"): 1}
	if d.cfg.Desired != nil {
		topics[d.Topic("config/desired")] = 1
	}
	if tok := c.SubscribeMultiple(topics, d.enqueue); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		d.cfg.Log.Warn("diag: subscribing", "err", tok.Error())
	}
	c.Publish(d.Topic("status"), 1, true, d.status("online"))
}

// enqueue is the paho callback: it only hands the message on.
func (d *Diag) enqueue(_ mqtt.Client, m mqtt.Message) {
	select {
	case d.work <- m:
	default:
		d.cfg.Log.Warn("diag busy: message dropped", "topic", m.Topic())
		if id, ok := strings.CutPrefix(m.Topic(), d.Topic("cmd/req/")); ok {
			go d.respond(id, Response{Status: 503, Body: "agent busy; retry"})
		}
	}
}

func (d *Diag) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-d.work:
			switch m.Topic() {
			case d.Topic("status"):
				d.correctWill(m.Payload())
				continue
			case d.Topic("config/desired"):
				_, report := d.cfg.Desired(m.Payload())
				d.report(report)
				continue
			}
			id, _ := strings.CutPrefix(m.Topic(), d.Topic("cmd/req/"))
			d.respond(id, d.handle(ctx, id, m.Payload()))
		}
	}
}

// correctWill republishes "online" when a will from an older session lands
// on our status after we connected.
func (d *Diag) correctWill(b []byte) {
	var s Status
	if json.Unmarshal(b, &s) != nil || s.State != "offline" || s.Session >= d.session {
		return
	}
	d.client.Publish(d.Topic("status"), 1, true, d.status("online"))
}

// handle answers one command: cached duplicates, expiry, parse errors,
// unknown methods and the rate limit come before the handler.
func (d *Diag) handle(ctx context.Context, id string, payload []byte) Response {
	if id == "" || strings.Contains(id, "/") {
		return Response{Status: 400, Body: "command id missing"}
	}
	d.mu.Lock()
	if r, ok := d.cache[id]; ok {
		d.mu.Unlock()
		return r
	}
	d.mu.Unlock()
	var req Request
	var r Response
	switch err := json.Unmarshal(payload, &req); {
	case err != nil:
		r = Response{Status: 400, Body: "malformed command: " + err.Error()}
	case req.Method == "":
		r = Response{Status: 400, Body: "method missing"}
	case !req.ExpiresAt.IsZero() && d.cfg.Now().After(req.ExpiresAt):
		r = Response{Status: 410, Body: "command expired at " + req.ExpiresAt.Format(time.RFC3339)}
	case d.methods[req.Method] == nil:
		r = Response{Status: 404, Body: "unknown method " + req.Method}
	case !d.allow():
		return Response{Status: 429, Body: "too many commands; slow down"} // not cached: a retry may pass
	default:
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		status, body := d.methods[req.Method](cctx, req.Params)
		cancel()
		r = Response{Status: status, Body: body}
	}
	d.remember(id, r)
	return r
}

func (d *Diag) allow() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	rate := float64(d.cfg.RateLimit)
	d.tokens = min(rate, d.tokens+now.Sub(d.last).Seconds()*rate)
	d.last = now
	if d.tokens < 1 {
		return false
	}
	d.tokens--
	return true
}

func (d *Diag) remember(id string, r Response) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cache[id] = r
	d.order = append(d.order, id)
	if len(d.order) > cacheSize {
		delete(d.cache, d.order[0])
		d.order = d.order[1:]
	}
}

func (d *Diag) respond(id string, r Response) {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(Response{Status: 500, Body: "response not encodable: " + err.Error()})
	}
	d.client.Publish(d.Topic("cmd/res/"+id), 1, false, b)
}

// Event queues an event for the events topic without blocking; when the
// broker is away for long the oldest events give way (they stay in the
// agent's durable event log).
func (d *Diag) Event(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	for {
		select {
		case d.events <- b:
			return
		default:
		}
		select {
		case <-d.events:
			d.dropped.Add(1)
		default:
		}
	}
}

func (d *Diag) publisher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-d.events:
			for !d.client.IsConnected() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
			t := d.client.Publish(d.Topic("events"), 1, false, b)
			if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
				d.cfg.Log.Warn("event not published (timeout or error)", "err", t.Error())
			}
		}
	}
}

// report publishes the retained config/reported document.
func (d *Diag) report(v any) {
	if b, err := json.Marshal(v); err == nil {
		d.client.Publish(d.Topic("config/reported"), 1, true, b)
	}
}

// addConfigSet adds config.set, the command form of config/desired, to a
// copy of the caller's table: the same check, the same retained report.
func (d *Diag) addConfigSet() {
	m := make(map[string]Handler, len(d.methods)+1)
	for k, h := range d.methods {
		m[k] = h
	}
	m["config.set"] = func(_ context.Context, raw json.RawMessage) (int, any) {
		status, report := d.cfg.Desired(raw)
		d.report(report)
		return status, report
	}
	d.methods = m
}

// Telemetry publishes one telemetry document (QoS 0).
func (d *Diag) Telemetry(v any) {
	if d.client == nil || !d.client.IsConnected() {
		return
	}
	if b, err := json.Marshal(v); err == nil {
		d.client.Publish(d.Topic("telemetry"), 0, false, b)
	}
}

// Dropped is how many events were dropped for a full queue.
func (d *Diag) Dropped() int64 { return d.dropped.Load() }
