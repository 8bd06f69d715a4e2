package ttgserver

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tapagent/tapagent/internal/clip"
	"github.com/tapagent/tapagent/sim/cloudemu"
	"github.com/tapagent/tapagent/ttg"
)

// Options configure a server.
type Options struct {
	// DataDir holds ttg-server.db; it is created if missing.
	DataDir string
	// Users maps user names to passwords; default tapagent/tapagent.
	Users map[string]string
	// TokenTTL is how long a token stays valid; default 24 h.
	TokenTTL time.Duration
	// Seed is used when the database is new; default DefaultSeed().
	Seed *Seed
	Now  func() time.Time
	// Loc is the zone a new database's time_zone starts with; afterwards
	// the server's time_zone setting (3.24) is its zone.
	Loc *time.Location
	// Zone, when set, is the IANA name the time_zone setting is set to on
	// every start, whatever the database holds: an emulator embedded in
	// the agent reads the wire on the agent's clock (ttg.time_zone). It
	// must name a real zone; "Local" names none and is refused.
	Zone string
	Log  *slog.Logger
}

// Faults are injected into requests, for tests of a misbehaving server.
type Faults struct {
	// Fail500 answers the next N requests with 500; FailAll answers every one.
	Fail500 int  `json:"fail_500"`
	FailAll bool `json:"fail_all"`
	// Latency delays every request before it is processed.
	Latency time.Duration `json:"latency"`
	// ReplyDelay processes a request at once but holds its reply back: the
	// data is stored while the client still waits.
	ReplyDelay time.Duration `json:"reply_delay"`
	// Drop closes the connection without a reply for the next N requests.
	Drop int `json:"drop"`
	// ExpireTokens invalidates every issued token once.
	ExpireTokens bool `json:"expire_tokens"`
	// Malformed answers the next N requests with broken JSON.
	Malformed int `json:"malformed"`
	// LoseReply processes the next N requests, then closes the connection
	// without answering: the client cannot know its data was stored.
	LoseReply int `json:"lose_reply"`
	// RefuseCardResend answers a resent card create (111/121) as
	// malformatted, "card N exists", as a server without resend detection
	// does, instead of counting it in records_skipped.
	RefuseCardResend bool `json:"refuse_card_resend"`
	// FailCommit makes the database commit of the next N uploads fail, as
	// a full disk would: the upload is answered 500 and nothing of it is
	// kept, in the database or in memory.
	FailCommit int `json:"fail_commit"`
	// CardInfoAlcohol adds alcohol_allowed (0/1) to cardinfo replies, as a
	// server may beyond 3.40; without it the reply is exactly the spec's.
	CardInfoAlcohol bool `json:"cardinfo_alcohol"`
}

// Server is the emulated TTG server.
type Server struct {
	o   Options
	db  *bolt.DB
	log *slog.Logger

	mu      sync.Mutex
	st      state
	loc     *time.Location // from st.Config["time_zone"]
	faults  Faults
	txKeys  map[string]bool
	cpKeys  map[string]bool
	txs     []StoredTx
	cps     []StoredCP
	devices map[int64]time.Time // tap devices by their last device call
	notes   []string            // notifications sent to clients (firmware, restart, ...)
	logins  map[string]int64    // remote-login transaction id -> device
}

// state is the configuration side, persisted as one document.
type state struct {
	UUID        string              `json:"uuid"`
	Config      map[string]string   `json:"config"`
	Products    map[int]ttg.Product `json:"products"`
	Items       []ttg.Item          `json:"items"`
	Portions    []ttg.Portion       `json:"portions"`
	HappyHours  []ttg.HappyHour     `json:"happyhours"`
	NextHappyID int                 `json:"next_happy_id"`
	Cards       map[int64]*Card     `json:"cards"`
	Devices     map[int64]*Device   `json:"devices"`
	Logos       map[int]int         `json:"logos"` // plu -> image bytes
	ExportStamp int64               `json:"export_stamp"`
	Licences    []map[string]any    `json:"licences"`
	// ClientURLs are the client-control listeners of connected agents.
	ClientURLs map[int64]string `json:"client_urls"`
	// ClientTokens are the bearer tokens those listeners require (if any).
	ClientTokens map[int64]string `json:"client_tokens,omitempty"`
	// TokenSecret signs the JWTs; rotating it invalidates every token.
	TokenSecret []byte                     `json:"token_secret"`
	Extra       map[string]json.RawMessage `json:"extra,omitempty"`
}

// StoredTx is a transaction as the server keeps it.
type StoredTx struct {
	DeviceID   int64           `json:"device_id"`
	LocationID string          `json:"location_id"`
	Received   int64           `json:"received"`
	StartEpoch int64           `json:"start_epoch"`
	StopEpoch  int64           `json:"stop_epoch"`
	Tx         ttg.Transaction `json:"tx"`
}

// StoredCP is a card purchase as the server keeps it.
type StoredCP struct {
	DeviceID int64            `json:"device_id"`
	Received int64            `json:"received"`
	Epoch    int64            `json:"epoch"`
	CP       ttg.CardPurchase `json:"cp"`
}

var (
	bState = []byte("state")
	bTx    = []byte("transactions")
	bCP    = []byte("cardpurchases")
	kState = []byte("state")
)

// New opens (or seeds) the server's database.
func New(o Options) (*Server, error) {
	if o.Users == nil {
		o.Users = map[string]string{"tapagent": "tapagent"}
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Zone != "" {
		loc, err := ianaZone(o.Zone)
		if err != nil {
			return nil, fmt.Errorf("ttg server: %w", err)
		}
		o.Loc = loc
	}
	if o.Loc == nil {
		o.Loc = time.UTC
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("ttg server: %w", err)
	}
	db, err := bolt.Open(filepath.Join(o.DataDir, "ttg-server.db"), 0o640, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("ttg server: %w", err)
	}
	s := &Server{o: o, db: db, log: o.Log, txKeys: map[string]bool{}, logins: map[string]int64{},
		cpKeys: map[string]bool{}, devices: map[int64]time.Time{}}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.followZone(); err != nil {
		db.Close()
		return nil, err
	}
	s.loc = s.zoneFromConfig()
	return s, nil
}

// ianaZone loads a zone by its IANA name; "Local" (Go's name for the
// host's zone) and "" name no zone a server or another host could share.
func ianaZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("time zone %q is not an IANA name such as Europe/Berlin", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (an IANA name such as Europe/Berlin): %w", name, err)
	}
	return loc, nil
}

// followZone sets the stored time_zone to Options.Zone when one is given
// and it differs, and marks the configuration changed so that clients
// re-read it.
func (s *Server) followZone() error {
	if s.o.Zone == "" || s.st.Config["time_zone"] == s.o.Zone {
		return nil
	}
	s.log.Info("ttg emulator: time_zone follows the agent", "was", s.st.Config["time_zone"], "now", s.o.Zone)
	s.st.Config["time_zone"] = s.o.Zone
	s.st.ExportStamp = max(s.o.Now().Unix(), s.st.ExportStamp+1)
	if err := s.persist(); err != nil {
		return fmt.Errorf("ttg server: setting time_zone: %w", err)
	}
	return nil
}

// zoneFromConfig is the zone wire timestamps are read and written in: the
// time_zone setting, or Options.Loc while it is unset or unknown.
func (s *Server) zoneFromConfig() *time.Location {
	if tz := s.st.Config["time_zone"]; tz != "" {
		if l, err := ianaZone(tz); err == nil {
			return l
		}
		s.log.Warn("ttg emulator: unknown time_zone; using the default", "time_zone", tz, "default", s.o.Loc)
	}
	return s.o.Loc
}

// load creates the buckets, seeds a new database and reads it.
func (s *Server) load() error {
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bState, bTx, bCP} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if tx.Bucket(bState).Get(kState) != nil {
			return nil
		}
		seed := DefaultSeed()
		if s.o.Seed != nil {
			seed = *s.o.Seed
		}
		s.seed(seed)
		return s.saveState(tx)
	}); err != nil {
		return fmt.Errorf("ttg server: %w", err)
	}
	return s.reload()
}

// reload replaces the in-memory state with what the database holds: after
// a failed commit, memory must not keep what was never stored, or a resend
// would be answered "skipped" for a record the server does not have.
func (s *Server) reload() error {
	var st state
	var txs []StoredTx
	var cps []StoredCP
	txKeys, cpKeys := map[string]bool{}, map[string]bool{}
	if err := s.db.View(func(tx *bolt.Tx) error {
		if err := json.Unmarshal(tx.Bucket(bState).Get(kState), &st); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		if err := tx.Bucket(bTx).ForEach(func(_, v []byte) error {
			var t StoredTx
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			txs = append(txs, t)
			txKeys[txKey(t.DeviceID, t.Tx)] = true
			return nil
		}); err != nil {
			return fmt.Errorf("transactions: %w", err)
		}
		return tx.Bucket(bCP).ForEach(func(_, v []byte) error {
			var c StoredCP
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("card purchases: %w", err)
			}
			cps = append(cps, c)
			cpKeys[cpKey(c.DeviceID, c.CP)] = true
			return nil
		})
	}); err != nil {
		return fmt.Errorf("ttg server: %w", err)
	}
	s.st, s.txs, s.cps, s.txKeys, s.cpKeys = st, txs, cps, txKeys, cpKeys
	return nil
}

// rollback undoes in-memory changes a failed commit did not store; mu held.
func (s *Server) rollback(cause error) {
	if err := s.reload(); err != nil {
		s.log.Error("ttg emulator: cannot reload after a failed commit; memory may hold unstored changes", "cause", cause, "err", err)
	}
	s.loc = s.zoneFromConfig()
}

func (s *Server) seed(seed Seed) {
	now := s.o.Now().Unix()
	s.st = state{UUID: newUUID(), Config: map[string]string{}, Products: map[int]ttg.Product{},
		Items: seed.Items, Portions: seed.Portions, HappyHours: seed.HappyHours, Cards: map[int64]*Card{},
		Devices: map[int64]*Device{}, Logos: map[int]int{}, ExportStamp: now, NextHappyID: 1}
	for k, v := range seed.Config {
		s.st.Config[k] = v
	}
	s.st.Config["uuid"] = s.st.UUID
	switch {
	case s.o.Zone != "":
		s.st.Config["time_zone"] = s.o.Zone
	case s.o.Loc.String() == "Local":
		// Not an IANA name: the seed's zone stays, and the log says so.
		s.log.Warn("ttg emulator: the host zone has no IANA name here; time_zone stays as seeded", "time_zone", s.st.Config["time_zone"])
	case s.o.Loc != time.UTC || s.st.Config["time_zone"] == "":
		s.st.Config["time_zone"] = s.o.Loc.String()
	}
	s.st.TokenSecret = cloudemu.RandomSecret()
	for _, p := range seed.Products {
		s.st.Products[p.PLU] = p
	}
	for _, h := range seed.HappyHours {
		s.st.NextHappyID = max(s.st.NextHappyID, h.HappyID+1)
	}
	for i := range seed.Cards {
		c := seed.Cards[i]
		if c.Created == 0 {
			c.Created = now
		}
		s.st.Cards[c.ID] = &c
	}
	for i := range seed.Devices {
		d := seed.Devices[i]
		for j := range d.Lines {
			if d.Lines[j].TappedAt == 0 {
				d.Lines[j].TappedAt = now
			}
		}
		s.st.Devices[d.ID] = &d
	}
}

func (s *Server) saveState(tx *bolt.Tx) error {
	b, err := json.Marshal(s.st)
	if err != nil {
		return err
	}
	return tx.Bucket(bState).Put(kState, b)
}

// persist writes the configuration document; call with mu held.
func (s *Server) persist() error {
	return s.db.Update(s.saveState)
}

// Close closes the database.
func (s *Server) Close() error { return s.db.Close() }

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	if f.ExpireTokens {
		s.st.TokenSecret = cloudemu.RandomSecret()
		s.faults.ExpireTokens = false
		_ = s.persist()
	}
}

// Transactions returns a copy of every stored transaction.
func (s *Server) Transactions() []StoredTx {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StoredTx(nil), s.txs...)
}

// CardPurchases returns a copy of every stored card purchase.
func (s *Server) CardPurchases() []StoredCP {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StoredCP(nil), s.cps...)
}

// Card returns a copy of a card.
func (s *Server) Card(id int64) (Card, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.Cards[id]
	if !ok {
		return Card{}, false
	}
	return *c, true
}

// Notifications lists the notifications sent to clients so far.
func (s *Server) Notifications() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.notes...)
}

// Handler is the HTTP API. Paths are matched as leniently as a real server
// matches them for real clients: any letter case, an optional trailing
// slash, and "/api/..." as well as "/m2m/api/..." (the spec's own examples
// use both). Each leniency is logged so that a client author can see it.
func (s *Server) Handler() http.Handler {
	type call struct {
		name string // as the spec spells it
		h    http.Handler
	}
	calls := map[string]call{}
	for path, h := range s.routes() {
		calls[strings.ToLower(path)] = call{path, s.wrap(path, h)}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/_emulator/faults", s.faultsHandler)
	mux.HandleFunc("/_emulator/clients", s.clientsHandler)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		name, canonical := callName(r.URL.Path)
		c, found := calls[strings.ToLower(name)]
		if !found {
			http.NotFound(w, r)
			return
		}
		if !canonical || name != c.name {
			s.log.Info("ttg emulator: accepted a non-canonical path", "path", r.URL.Path, "call", c.name)
		}
		c.h.ServeHTTP(w, r)
	})
	return mux
}

// callName extracts the call from a request path and says whether its
// prefix is the spec's "/m2m/api/" with no trailing slash (the caller
// compares the name's letter case).
func callName(p string) (name string, canonical bool) {
	trimmed := strings.TrimRight(p, "/")
	canonical = trimmed == p
	lower := strings.ToLower(trimmed)
	for _, prefix := range []string{"/m2m/api/", "/api/"} {
		if strings.HasPrefix(lower, prefix) {
			return trimmed[len(prefix):], canonical && strings.HasPrefix(trimmed, "/m2m/api/")
		}
	}
	return "", false
}

// reply is a handler's answer: status and a JSON body.
type reply struct {
	status int
	body   any
}

func ok(body any) reply { return reply{http.StatusOK, body} }
func bad(msg string, a ...any) reply {
	return reply{http.StatusBadRequest, map[string]string{"error": fmt.Sprintf(msg, a...)}}
}

type handler func(raw []byte) reply

func (s *Server) wrap(path string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := s.takeFault()
		if f.Latency > 0 {
			time.Sleep(f.Latency)
		}
		switch {
		case f.drop:
			cloudemu.HangUp(w)
			return
		case f.fail:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "injected failure"})
			return
		case r.Method != http.MethodPost:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
			return
		}
		raw, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if path != "authToken" && !s.authorised(r.Header.Get("Authorization")) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "invalid or expired token"})
			return
		}
		if err := checkBody(raw); err != nil && !forwardedCall(path) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if f.malformed {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `{"uuid": "`+s.st.UUID+`", "valid": tru`)
			return
		}
		rep := h(raw)
		if f.ReplyDelay > 0 {
			time.Sleep(f.ReplyDelay)
		}
		if f.loseReply {
			cloudemu.HangUp(w)
			return
		}
		writeJSON(w, rep.status, rep.body)
	})
}

// commonIntFields are the fields every call's body may carry (3.x: the API
// client's id, the device asked about), integers wherever the spec shows
// them.
var commonIntFields = []string{"id", "deviceID", "deviceId", "device_id"}

// checkBody refuses, for every call alike, what no handler could have
// meant: a body that is not one JSON object, or a common field of the
// wrong type. The calls that read nothing else from their body would
// otherwise answer 200 to anything. An empty body is a call without
// parameters.
func checkBody(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("invalid JSON request: %w", err)
	}
	for _, k := range commonIntFields {
		if v, has := m[k]; has {
			var n int64
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("%s: must be an integer, not %s", k, clip.String(string(v), 32))
			}
		}
	}
	return nil
}

type fault struct {
	fail, drop, malformed, loseReply bool
	Latency, ReplyDelay              time.Duration
}

func (s *Server) takeFault() fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := fault{Latency: s.faults.Latency, ReplyDelay: s.faults.ReplyDelay}
	switch {
	case s.faults.Drop > 0:
		s.faults.Drop--
		f.drop = true
	case s.faults.FailAll:
		f.fail = true
	case s.faults.Fail500 > 0:
		s.faults.Fail500--
		f.fail = true
	case s.faults.Malformed > 0:
		s.faults.Malformed--
		f.malformed = true
	case s.faults.LoseReply > 0:
		s.faults.LoseReply--
		f.loseReply = true
	}
	return f
}

func (s *Server) faultsHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var f Faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.SetFaults(f)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"faults": s.faults, "transactions": len(s.txs), "cardpurchases": len(s.cps)})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

// authorised checks a bearer token; the scheme name is case-insensitive
// (RFC 9110 §11.1), so "bearer" is as good as "Bearer".
func (s *Server) authorised(h string) bool {
	scheme, tok, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimSpace(tok)
	if scheme != "Bearer" {
		s.log.Info("ttg emulator: accepted a non-canonical authorization scheme", "scheme", scheme)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := cloudemu.VerifyToken(s.st.TokenSecret, tok, s.o.Now())
	return err == nil
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// decode reads a request body. Unknown fields are accepted and logged: spec
// §3 says the message definitions "only show relevant data", and real
// clients send more (a request id, a client version). Wrong types and
// broken JSON are still refused.
func (s *Server) decode(raw []byte, v any) error {
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	err := strict.Decode(v)
	if err == nil {
		return nil
	}
	if !strings.HasPrefix(err.Error(), "json: unknown field ") {
		return fmt.Errorf("invalid JSON request: %w", err)
	}
	s.log.Info("ttg emulator: ignored unknown request fields", "detail", err.Error())
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("invalid JSON request: %w", err)
	}
	return nil
}

var errNoClient = errors.New("no client")

func sortedPLUs(m map[int]ttg.Product) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func timeIn(epoch int64, loc *time.Location) string {
	return time.Unix(epoch, 0).In(loc).Format(ttg.TimeLayout)
}
