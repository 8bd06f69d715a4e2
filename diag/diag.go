// Package diag is field diagnostics over MQTT: a retained status with a
// last will, events from the durable record, and commands answered on
// cmd/res/{id}. Topics live under {prefix}/v1/{device_id}. The paho
// callbacks never block: messages are handed to a worker.
package diag

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/tapagent/tapagent/internal/clip"
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
	// RateLimit is the most commands per second (burst the same); default
	// 20. Every command counts, unknown and malformed ones included, and
	// so does every desired document.
	RateLimit int
	// OperatorKeys authorise the methods not in Open: a request for one
	// must carry an Ed25519 signature (SignedRequest) by one of them.
	OperatorKeys []ed25519.PublicKey
	// Open are the methods anyone with broker access may call (read-only
	// diagnostics); every other method needs an operator's signature.
	Open []string
	// Desired, when set, receives each retained config/desired document
	// (signed false: it came with broker access alone) and each config.set
	// command (signed true: the command carried an operator's signature);
	// the report it returns is published, retained, as config/reported,
	// and status answers the command.
	Desired func(doc []byte, signed bool) (status int, report any)
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
	ExpiresAt time.Time       `json:"expires_at,omitzero"`
	// Signature is an operator key's Ed25519 signature of SignedRequest,
	// base64; methods outside Config.Open need it.
	Signature string `json:"signature,omitempty"`
}

// Response is published on cmd/res/{id}.
type Response struct {
	Status int `json:"status"`
	Body   any `json:"body,omitempty"`
}

// Limits on what a broker client can make the device hold or send.
const (
	// MaxRequest is the largest command or desired document, in bytes;
	// a larger one is refused unread (413), its payload not kept.
	MaxRequest = 64 << 10
	// MaxID bounds a command id: it is echoed in the answer's topic.
	MaxID = 128
	// DefaultExpiry is how long a request that names no expires_at is
	// valid (and its answer kept for duplicates), from its arrival.
	DefaultExpiry = 5 * time.Minute
	// MaxLifetime is the furthest expires_at a signed request may name:
	// its id is remembered, across restarts, until then.
	MaxLifetime = time.Hour
	// maxEcho bounds any piece of a request quoted in an answer.
	maxEcho = 64
)

// Diag is the agent's MQTT side.
type Diag struct {
	cfg     Config
	root    string
	session uint64
	methods map[string]Handler
	open    map[string]bool
	client  mqtt.Client
	work    chan job
	refused chan string // ids to answer 503 (the worker is busy)
	lost    chan struct{}
	events  chan []byte
	dropped atomic.Int64
	ignored atomic.Int64 // retained commands and overflow, not run
	log     *commandLog

	// retained holds what Retain publishes, again after every reconnect.
	retainMu sync.Mutex
	retained map[string][]byte

	mu      sync.Mutex
	cache   map[string]cachedAnswer // answered command ids
	order   []string
	linkErr error
	bucket
}

// job is one message for the worker: the payload is kept only when it is
// within MaxRequest, so a flood of large messages holds no memory.
type job struct {
	topic   string
	payload []byte
	size    int
	at      time.Time // arrival: a request without expires_at expires DefaultExpiry after it
}

// bucket is a token bucket for the command rate limit.
type bucket struct {
	tokens float64
	last   time.Time
}

const cacheSize = 256

// cachedAnswer is an answer kept for duplicates, with the SHA-256 of the
// request it answered: only the same request again gets it, so nobody can
// take an id first and make the operator's request under it a no-op.
type cachedAnswer struct {
	sum [sha256.Size]byte
	r   Response
}

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
	d := &Diag{cfg: cfg, root: fmt.Sprintf("%s/v1/%d", cfg.Prefix, cfg.DeviceID), methods: methods, open: map[string]bool{},
		work: make(chan job, 64), refused: make(chan string, 64), lost: make(chan struct{}, 1),
		events: make(chan []byte, 1024), cache: map[string]cachedAnswer{}, log: &commandLog{st: st, now: cfg.Now}}
	for _, m := range cfg.Open {
		d.open[m] = true
	}
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
	if err := d.log.load(); err != nil {
		return nil, fmt.Errorf("diag: command log: %w", err)
	}
	d.client = d.newClient()
	return d, nil
}

// clientID names this run's connection: device and session for the
// broker's log, and 64 random bits. MQTT lets a new connection under a
// client id close the one that holds it, and ACLs do not bind ids to
// accounts, so an id another account could guess (the device id and a
// small session counter) would let any broker client knock the device
// off the broker again and again.
func clientID(device int64, session uint64) string {
	var r [8]byte
	_, _ = crand.Read(r[:]) // crypto/rand.Read does not fail (Go 1.24+)
	return fmt.Sprintf("tapagent-%d-%d-%x", device, session, r)
}

// newClient sets up paho: clean session, the last will, and onConnect for
// status and subscriptions. Connecting and reconnecting are Run's, so
// every failure is seen and its reason kept (paho's own retry is silent).
func (d *Diag) newClient() mqtt.Client {
	o := mqtt.NewClientOptions().AddBroker(d.cfg.Broker).
		SetClientID(clientID(d.cfg.DeviceID, d.session)).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetStore(newPacketStore()).
		SetConnectTimeout(10*time.Second).SetKeepAlive(10*time.Second).SetOrderMatters(false).
		SetBinaryWill(d.Topic("status"), d.status("offline"), 1, true).
		SetOnConnectHandler(d.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			d.cfg.Log.Warn("MQTT connection lost; reconnecting", "err", err)
			select {
			case d.lost <- struct{}{}:
			default:
			}
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
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); d.connect(ctx) }()
	go func() { defer wg.Done(); d.worker(ctx) }()
	go func() { defer wg.Done(); d.publisher(ctx) }()
	go func() { defer wg.Done(); d.refuser(ctx) }()
	<-ctx.Done()
	wg.Wait()
	if !d.client.IsConnected() {
		// Shutdown must not wait on a broker that is away (the will says
		// offline when it comes back).
		d.client.Disconnect(0)
		return nil
	}
	t := d.client.Publish(d.Topic("status"), 1, true, d.status("offline"))
	t.WaitTimeout(2 * time.Second)
	d.client.Disconnect(250)
	return nil
}

// connect keeps the client connected: each failed attempt is logged with
// its reason (a refused certificate or password is not a network blip)
// and retried after a backoff of 1 s doubling to 30 s, plus jitter.
func (d *Diag) connect(ctx context.Context) {
	backoff := time.Second
	for {
		tok := d.client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return
		}
		if err := tok.Error(); err != nil {
			d.failed(err)
			if !sleep(ctx, backoff+d.jitter()) {
				return
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		d.setLinkErr(nil)
		select {
		case <-d.lost:
		case <-ctx.Done():
			return
		}
		// paho's backoff is the same on every device; the jitter spreads them.
		if !sleep(ctx, d.jitter()) {
			return
		}
	}
}

func (d *Diag) jitter() time.Duration {
	if j := d.cfg.ReconnectJitter; j > 0 {
		return rand.N(j)
	}
	return 0
}

// sleep waits for d or the end of ctx; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// failed logs a connection failure: a warning when the reason is new,
// then quietly, so a broker away for a day does not fill the journal.
func (d *Diag) failed(err error) {
	d.mu.Lock()
	same := d.linkErr != nil && d.linkErr.Error() == err.Error()
	d.linkErr = err
	d.mu.Unlock()
	level := slog.LevelWarn
	if same {
		level = slog.LevelDebug
	}
	d.cfg.Log.Log(context.Background(), level, "MQTT connection failed; retrying", "broker", d.cfg.Broker,
		"reason", Explain(err), "err", err)
}

func (d *Diag) setLinkErr(err error) {
	d.mu.Lock()
	d.linkErr = err
	d.mu.Unlock()
}

// LinkError is why the last connection attempt failed; nil once connected.
func (d *Diag) LinkError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.linkErr
}

// onConnect runs on every (re)connection (paho calls it on a goroutine of
// its own): subscriptions first, then the online status, so a technician
// who sees "online" and sends a command at once is already listened to.
func (d *Diag) onConnect(c mqtt.Client) {
	topics := map[string]byte{d.Topic("cmd/req/+"): 1, d.Topic("status"): 1}
	if d.cfg.Desired != nil {
		topics[d.Topic("config/desired")] = 1
	}
	tok := c.SubscribeMultiple(topics, d.enqueue)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		d.cfg.Log.Warn("diag: subscribing", "err", tok.Error())
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for topic, code := range st.Result() {
			if code == 0x80 {
				d.cfg.Log.Warn("diag: the broker refused a subscription (check the ACL)", "topic", topic)
			}
		}
	}
	c.Publish(d.Topic("status"), 1, true, d.status("online"))
	d.retainMu.Lock()
	for topic, b := range d.retained {
		c.Publish(topic, 1, true, b)
	}
	d.retainMu.Unlock()
}

// MaxRetained bounds the topics Retain keeps.
const MaxRetained = 256

// Retain publishes payload, retained, on topic (any topic: Home
// Assistant's discovery prefix too), now when connected and again after
// every reconnect, so the broker holds the latest even after it lost its
// store. It never waits for the broker. Beyond MaxRetained topics a new
// one is refused with an error.
func (d *Diag) Retain(topic string, payload []byte) error {
	if topic == "" || strings.ContainsAny(topic, "+#\x00") {
		return fmt.Errorf("diag: retained topic %q is not a topic name", topic)
	}
	d.retainMu.Lock()
	if d.retained == nil {
		d.retained = map[string][]byte{}
	}
	if _, ok := d.retained[topic]; !ok && len(d.retained) >= MaxRetained {
		d.retainMu.Unlock()
		return fmt.Errorf("diag: more than %d retained topics", MaxRetained)
	}
	d.retained[topic] = payload
	d.retainMu.Unlock()
	if d.client != nil && d.client.IsConnected() {
		d.client.Publish(topic, 1, true, payload)
	}
	return nil
}

// enqueue is the paho callback: it only hands the message on. A retained
// command is one sent before we connected, maybe long ago: commands run
// once, when they are sent, so it is dropped unanswered.
func (d *Diag) enqueue(_ mqtt.Client, m mqtt.Message) {
	id, isCmd := strings.CutPrefix(m.Topic(), d.Topic("cmd/req/"))
	if isCmd && m.Retained() {
		d.ignored.Add(1)
		d.cfg.Log.Warn("diag: retained command ignored (commands are never retained)", "topic", clip.String(m.Topic(), MaxID+64))
		return
	}
	j := job{topic: m.Topic(), size: len(m.Payload()), at: d.log.clock()}
	if j.size <= MaxRequest {
		j.payload = m.Payload()
	}
	select {
	case d.work <- j:
	default:
		d.ignored.Add(1)
		if isCmd {
			select {
			case d.refused <- id:
			default: // the answers are backed up too: the sender's timeout tells
			}
		}
	}
}

// refuser answers the commands a busy worker had no room for.
func (d *Diag) refuser(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-d.refused:
			if validID(id) == nil {
				d.respond(id, Response{Status: 503, Body: "agent busy; retry"})
			}
		}
	}
}

func (d *Diag) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-d.work:
			switch j.topic {
			case d.Topic("status"):
				d.correctWill(j.payload)
				continue
			case d.Topic("config/desired"):
				d.desired(j)
				continue
			}
			id, _ := strings.CutPrefix(j.topic, d.Topic("cmd/req/"))
			if validID(id) != nil {
				d.ignored.Add(1)
				continue // no topic to answer on that we would publish to
			}
			d.respond(id, d.handle(ctx, id, j))
		}
	}
}

// desired hands a config/desired document over, if it is within the
// limits, and retains the report.
func (d *Diag) desired(j job) {
	switch {
	case j.size == 0:
		return // the document was cleared: nothing to apply
	case j.size > MaxRequest:
		d.report(map[string]any{"status": "rejected", "errors": []string{fmt.Sprintf("desired document is %d bytes, more than %d", j.size, MaxRequest)}})
	case !d.allow():
		d.report(map[string]any{"status": "rejected", "errors": []string{"too many commands and documents per second; publish it again"}})
	default:
		_, report := d.cfg.Desired(j.payload, false)
		d.report(report)
	}
}

// validID accepts the ids a technician's tool makes: short, printable,
// and no topic separators or wildcards.
func validID(id string) error {
	if id == "" || len(id) > MaxID || strings.ContainsAny(id, "/+#") {
		return fmt.Errorf("command id must be 1..%d characters without / + #", MaxID)
	}
	for _, r := range id {
		if r < 0x21 || r == 0x7f {
			return errors.New("command id must be printable")
		}
	}
	return nil
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

// handle answers one command. Cheap refusals come first (size, cached
// duplicate, rate limit), then the request is parsed, its expiry, method
// and authorisation checked, and only then does a handler run.
func (d *Diag) handle(ctx context.Context, id string, j job) Response {
	if err := validID(id); err != nil {
		return Response{Status: 400, Body: err.Error()}
	}
	if j.size > MaxRequest {
		return Response{Status: 413, Body: fmt.Sprintf("command is %d bytes, more than %d", j.size, MaxRequest)}
	}
	sum := sha256.Sum256(j.payload)
	if r, ok := d.cached(id, sum); ok {
		return r
	}
	if !d.allow() {
		return Response{Status: 429, Body: "too many commands; slow down"} // not cached: a retry may pass
	}
	// The log's clock: never behind the latest time seen (see commandLog).
	now := d.log.clock()
	var req Request
	r, protected := d.check(j, id, now, &req)
	switch {
	case r.Status == 403:
		return r // not cached: nobody can spoil an id for the operator's request
	case r.Status == 0 && protected:
		return d.runProtected(ctx, id, sum, req)
	}
	if r.Status == 0 {
		r = d.run(ctx, req)
	}
	d.remember(id, sum, r)
	return r
}

// check parses and vets a request; a zero Status means it may run.
func (d *Diag) check(j job, id string, now time.Time, req *Request) (r Response, protected bool) {
	if err := json.Unmarshal(j.payload, req); err != nil {
		return Response{Status: 400, Body: "malformed command: " + clip.String(err.Error(), 2*maxEcho)}, false
	}
	protected = !d.open[req.Method]
	expires := req.ExpiresAt
	if expires.IsZero() {
		expires = j.at.Add(DefaultExpiry)
	}
	switch {
	case req.Method == "":
		return Response{Status: 400, Body: "method missing"}, false
	case now.After(expires):
		return Response{Status: 410, Body: "command expired at " + expires.Format(time.RFC3339)}, false
	case d.methods[req.Method] == nil:
		return Response{Status: 404, Body: "unknown method " + clip.String(req.Method, maxEcho)}, false
	case protected:
		if err := d.authorise(id, *req, now); err != nil {
			return Response{Status: 403, Body: err.Error()}, true
		}
	}
	return Response{}, protected
}

// authorise checks a protected method's signature and lifetime.
func (d *Diag) authorise(id string, req Request, now time.Time) error {
	if len(d.cfg.OperatorKeys) == 0 {
		return fmt.Errorf("%s needs a request signed by an operator key, and this device trusts none: set [mqtt] operator_keys in its configuration file", req.Method)
	}
	if req.Signature == "" {
		return fmt.Errorf("%s needs a request signed by an operator key (tapagent diag call --key FILE)", req.Method)
	}
	if req.ExpiresAt.IsZero() || req.ExpiresAt.After(now.Add(MaxLifetime)) {
		return fmt.Errorf("a signed request needs an expires_at within %s", MaxLifetime)
	}
	if !Verify(d.cfg.OperatorKeys, d.cfg.DeviceID, id, req) {
		return fmt.Errorf("the signature does not verify with any operator key of device %d for this method, params, id and expiry", d.cfg.DeviceID)
	}
	return nil
}

// runProtected runs a signed command at most once: its id is kept in the
// database until the request expires, so neither a replay nor a restart
// runs it again.
func (d *Diag) runProtected(ctx context.Context, id string, sum [sha256.Size]byte, req Request) Response {
	r, seen, err := d.log.reserve(id, req.ExpiresAt)
	switch {
	case errors.Is(err, errLogFull):
		return Response{Status: 503, Body: err.Error()}
	case errors.Is(err, errExpired):
		r = Response{Status: 410, Body: err.Error()}
		d.remember(id, sum, r)
		return r
	case err != nil:
		return Response{Status: 500, Body: "remembering the command: " + err.Error()}
	case seen:
		d.remember(id, sum, r)
		return r
	}
	// The handler learns which operator key signed it (its audit and a
	// voucher's guess counting name the key, not a name in the params).
	if k, ok := signedBy(d.cfg.OperatorKeys, SignedRequest(d.cfg.DeviceID, id, req), req.Signature); ok {
		ctx = withSigner(ctx, k)
	}
	r = d.run(ctx, req)
	if err := d.log.answered(id, req.ExpiresAt, r); err != nil {
		d.cfg.Log.Warn("diag: keeping a command's answer", "id", id, "err", err)
	}
	d.remember(id, sum, r)
	return r
}

func (d *Diag) run(ctx context.Context, req Request) Response {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	status, body := d.methods[req.Method](cctx, req.Params)
	return Response{Status: status, Body: body}
}

// cached is the answer kept for id: the same answer for the same request,
// 409 for another request under an id already answered.
func (d *Diag) cached(id string, sum [sha256.Size]byte) (Response, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.cache[id]
	switch {
	case !ok:
		return Response{}, false
	case c.sum != sum:
		return Response{Status: 409, Body: "command id already used for another request; send it under a new id"}, true
	}
	return c.r, true
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

func (d *Diag) remember(id string, sum [sha256.Size]byte, r Response) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cache[id]; ok {
		return // answered already (and in order)
	}
	d.cache[id] = cachedAnswer{sum: sum, r: r}
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
	// Only a signed request reaches it: config.set is never in Open.
	m["config.set"] = func(_ context.Context, raw json.RawMessage) (int, any) {
		status, report := d.cfg.Desired(raw, true)
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

// Ignored is how many messages were not run: retained commands, ids that
// cannot be answered, and messages that found the worker's queue full.
func (d *Diag) Ignored() int64 { return d.ignored.Load() }
