package ttg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
)

// Store is what the syncer needs from storage.
type Store interface {
	Outbox(after uint64, n int) ([]storage.Record, error)
	Ack(seqs ...uint64) error
	Bury(seq uint64, reason string, at int64) error
	PutCache(key string, v []byte) error
	Cache(key string) ([]byte, error)
}

// Notice is something the syncer reports: link changes, refreshed
// configuration, dead letters.
type Notice struct {
	Kind     NoticeKind
	Detail   string
	RecordID string
	Count    int
}

// NoticeKind says what a Notice reports; the agent turns each kind into
// its own event type.
type NoticeKind int

// Kinds of notice.
const (
	// NoticeLinkUp: the server answers again (Detail is its URL).
	NoticeLinkUp NoticeKind = iota + 1
	// NoticeLinkDown: the link broke (Detail says how).
	NoticeLinkDown
	// NoticeConfig: the configuration was refreshed (Count products).
	NoticeConfig
	// NoticeDeadLetter: the server refused a record for good.
	NoticeDeadLetter
	// NoticeDelivered: Count records reached the server.
	NoticeDelivered
)

// SyncConfig tunes the syncer.
type SyncConfig struct {
	DeviceID   int64
	LocationID int64
	Lines      []int
	// Refresh re-reads the whole configuration this often; StampPoll checks
	// the cheap config-export timestamp and refreshes when it changed.
	Refresh   time.Duration
	StampPoll time.Duration
	// Batch is how many transactions go in one request.
	Batch int
	// Idle is how long the uploader sleeps with an empty outbox (a Kick wakes it).
	Idle time.Duration
	// MaxBackoff caps the wait between attempts while the server is down.
	MaxBackoff time.Duration
	Loc        *time.Location
	Now        func() time.Time
	Log        *slog.Logger
}

// Link states.
const (
	LinkUnknown = iota
	LinkUp
	LinkDown
)

// Syncer keeps the catalog fresh and drains the outbox. Pouring never waits
// for it: bookings only Kick it.
type Syncer struct {
	c      *Client
	st     Store
	cfg    SyncConfig
	notify func(Notice)

	kick    chan struct{}
	refresh chan struct{}
	cat     atomic.Pointer[Catalog]
	link    atomic.Int32

	mu      sync.Mutex // one upload pass at a time (Run and Flush)
	lastErr atomic.Pointer[string]
	noted   string // the failure last handed to an ErrorNoter; uploadLoop only
}

const catalogKey = "ttg/catalog"

// NewSyncer builds a syncer and loads the cached catalog, if any.
func NewSyncer(c *Client, st Store, cfg SyncConfig, notify func(Notice)) *Syncer {
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Minute
	}
	if cfg.StampPoll <= 0 {
		cfg.StampPoll = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Idle <= 0 {
		cfg.Idle = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Loc == nil {
		cfg.Loc = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if notify == nil {
		notify = func(Notice) {}
	}
	s := &Syncer{c: c, st: st, cfg: cfg, notify: notify, kick: make(chan struct{}, 1), refresh: make(chan struct{}, 1)}
	if b, err := st.Cache(catalogKey); err == nil && b != nil {
		var cat Catalog
		if json.Unmarshal(b, &cat) == nil && cat.Prepare() == nil {
			cat.SetZone(cfg.Loc)
			s.cat.Store(&cat)
		} else {
			cfg.Log.Warn("cached TTG catalog unreadable; waiting for the server")
		}
	}
	return s
}

// Catalog is the current configuration, or nil before the first fetch.
func (s *Syncer) Catalog() *Catalog { return s.cat.Load() }

// Token is the bearer token the syncer's client holds now.
func (s *Syncer) Token() string { return s.c.Token() }

// Link is the last known state of the server link.
func (s *Syncer) Link() int { return int(s.link.Load()) }

// LastError is the last upload or refresh error, or "".
func (s *Syncer) LastError() string {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Kick wakes the uploader: a booking has just landed.
func (s *Syncer) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// RequestRefresh re-reads the configuration soon (config-update notification).
func (s *Syncer) RequestRefresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Run syncs until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.refreshLoop(ctx) }()
	go func() { defer wg.Done(); s.uploadLoop(ctx) }()
	wg.Wait()
}

func (s *Syncer) setLink(err error) {
	if err == nil {
		if s.link.Swap(LinkUp) != LinkUp {
			s.notify(Notice{Kind: NoticeLinkUp, Detail: s.c.cfg.BaseURL})
		}
		return
	}
	msg := err.Error()
	s.lastErr.Store(&msg)
	if s.link.Swap(LinkDown) != LinkDown {
		s.notify(Notice{Kind: NoticeLinkDown, Detail: msg})
	}
}

func (s *Syncer) refreshLoop(ctx context.Context) {
	fails := 0
	stampTick := time.NewTicker(s.cfg.StampPoll)
	defer stampTick.Stop()
	full := time.After(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-full:
		case <-s.refresh:
		case <-stampTick.C:
			if cur := s.Catalog(); cur != nil {
				st, err := s.c.ConfigStamp(ctx)
				if err != nil || st.EpochSecond == cur.Stamp {
					continue
				}
			}
		}
		if err := s.Refresh(ctx); err != nil {
			fails++
			full = time.After(Backoff(fails, time.Second, s.cfg.MaxBackoff, rand.Float64))
			continue
		}
		fails = 0
		full = time.After(s.cfg.Refresh)
	}
}

// Refresh fetches the whole configuration now and caches it.
func (s *Syncer) Refresh(ctx context.Context) error {
	cat, err := s.fetch(ctx)
	if err != nil {
		s.setLink(err)
		s.cfg.Log.Warn("TTG configuration refresh failed; pouring on from cache", "err", err)
		return err
	}
	b, err := json.Marshal(cat)
	if err == nil {
		err = s.st.PutCache(catalogKey, b)
	}
	if err != nil {
		return fmt.Errorf("caching TTG configuration: %w", err)
	}
	s.cat.Store(cat)
	s.setLink(nil)
	s.notify(Notice{Kind: NoticeConfig, Count: len(cat.Products),
		Detail: fmt.Sprintf("%d products, %d items, %d happy hours", len(cat.Products), len(cat.Items), len(cat.HappyHours))})
	return nil
}

func (s *Syncer) fetch(ctx context.Context) (*Catalog, error) {
	cat := &Catalog{Lines: map[int]LinePortions{}, FetchedAt: s.cfg.Now().UnixMilli(), zone: s.cfg.Loc}
	stamp, err := s.c.ConfigStamp(ctx)
	if err != nil {
		return nil, err
	}
	cat.Stamp = stamp.EpochSecond
	if cat.Config, err = s.c.ServerConfig(ctx); err != nil {
		return nil, err
	}
	if cat.Products, err = s.c.Products(ctx); err != nil {
		return nil, err
	}
	if cat.Items, err = s.c.Items(ctx); err != nil {
		return nil, err
	}
	if cat.Portions, err = s.c.Portions(ctx); err != nil {
		return nil, err
	}
	if cat.HappyHours, err = s.c.HappyHours(ctx); err != nil {
		return nil, err
	}
	for _, l := range s.cfg.Lines {
		lp, err := s.c.LinePortions(ctx, s.cfg.DeviceID, l)
		if err != nil {
			return nil, err
		}
		cat.Lines[l] = lp
	}
	return cat, cat.Prepare()
}

func (s *Syncer) uploadLoop(ctx context.Context) {
	fails := 0
	for ctx.Err() == nil {
		n, err := s.UploadOnce(ctx)
		wait := s.cfg.Idle
		switch {
		case err != nil:
			fails++
			wait = Backoff(fails, 500*time.Millisecond, s.cfg.MaxBackoff, rand.Float64)
			s.cfg.Log.Warn("TTG upload failed; records stay in the outbox", "err", err, "attempt", fails, "retry_in", wait.Round(time.Millisecond))
			s.noteError(err)
		case n > 0:
			fails = 0
			s.noteError(nil)
			continue
		default:
			fails = 0
			s.noteError(nil)
		}
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-time.After(wait):
		}
	}
}

// ErrorNoter is a Store that keeps the sink's last delivery failure (the
// outbox's per-sink view does), for `tapagent outbox`.
type ErrorNoter interface {
	NoteError(msg string, at int64) error
}

// noteError hands a changed failure (nil: cleared) to a Store that keeps it.
func (s *Syncer) noteError(err error) {
	en, ok := s.st.(ErrorNoter)
	if !ok {
		return
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if s.noted == msg {
		return
	}
	if e := en.NoteError(msg, s.cfg.Now().UnixMilli()); e != nil {
		s.cfg.Log.Warn("keeping the TTG sink's last error", "err", e)
		return
	}
	s.noted = msg
}

// Flush uploads until the outbox holds nothing sendable or ctx ends.
func (s *Syncer) Flush(ctx context.Context) error {
	for {
		n, err := s.UploadOnce(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// UploadOnce sends one batch from the head of the outbox and reports how
// many records it settled (delivered, kept locally or buried).
func (s *Syncer) UploadOnce(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.st.Outbox(0, s.cfg.Batch)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	cat := s.Catalog()
	if cat == nil {
		if err := s.Refresh(ctx); err != nil {
			return 0, fmt.Errorf("no server configuration yet: %w", err)
		}
		cat = s.Catalog()
	}
	b := s.classify(recs, cat.Converter(s.cfg.Loc))
	if err := s.st.Ack(b.local...); err != nil {
		return 0, err
	}
	settled := len(b.local) + len(b.buried)
	for _, part := range []struct {
		seqs   []uint64
		send   func([]int) (UploadResult, error)
		stored func(int) (bool, error)
	}{
		{b.txSeqs, func(idx []int) (UploadResult, error) { return s.sendTx(ctx, pick(b.txs, idx)) }, nil},
		{b.cpSeqs, func(idx []int) (UploadResult, error) { return s.sendCP(ctx, pick(b.cps, idx)) },
			func(i int) (bool, error) { return s.cardCreated(ctx, b.cps[i]) }},
	} {
		n, err := s.deliver(part.seqs, recs, part.send, part.stored)
		settled += n
		if err != nil {
			s.setLink(err)
			return settled, err
		}
	}
	s.setLink(nil)
	return settled, nil
}

type batch struct {
	local, buried []uint64
	txs           []Transaction
	txSeqs        []uint64
	cps           []CardPurchase
	cpSeqs        []uint64
}

// classify converts records, keeping unsendable ones aside.
func (s *Syncer) classify(recs []storage.Record, conv Converter) batch {
	var b batch
	for _, r := range recs {
		if r.Kind == storage.KindCardPurchase {
			cp, err := CardPurchaseFromRecord(r, conv.Loc)
			if err != nil {
				s.bury(r, err.Error(), &b)
				continue
			}
			b.cps, b.cpSeqs = append(b.cps, cp), append(b.cpSeqs, r.Seq)
			continue
		}
		tx, err := conv.Transaction(r)
		switch {
		case errors.Is(err, ErrNotTransaction):
			b.local = append(b.local, r.Seq)
		case err != nil:
			s.bury(r, "not sendable: "+err.Error(), &b)
		default:
			b.txs, b.txSeqs = append(b.txs, tx), append(b.txSeqs, r.Seq)
		}
	}
	return b
}

func (s *Syncer) bury(r storage.Record, reason string, b *batch) {
	if err := s.st.Bury(r.Seq, reason, s.cfg.Now().UnixMilli()); err != nil {
		s.cfg.Log.Error("burying record", "id", r.ID, "err", err)
		return
	}
	b.buried = append(b.buried, r.Seq)
	s.notify(Notice{Kind: NoticeDeadLetter, RecordID: r.ID, Detail: reason})
}

func pick[T any](all []T, idx []int) []T {
	if idx == nil {
		return all
	}
	out := make([]T, 0, len(idx))
	for _, i := range idx {
		out = append(out, all[i])
	}
	return out
}

// cardCreated reports whether a card purchase the server refused is in
// fact on the server already, as this record made it. A server that does
// not count a resend as skipped (3.39) answers "card exists" to the resend
// of a create whose reply was lost, and "card unknown" to the resend of an
// erase (199). For a create the card's type, name and creation time must
// all match, so a clash with someone else's card is still refused; for an
// erase a card the server does not know (404) is the erase's outcome, so
// it counts as delivered. Only a 404 means "not there": any other failed
// lookup (403 after re-authentication, 408, 429, 5xx, the network) is an
// error and the record stays in the outbox rather than becoming a dead
// letter on a guess.
func (s *Syncer) cardCreated(ctx context.Context, cp CardPurchase) (bool, error) {
	want := map[int]int{111: CardOnlinePre, 121: CardOnlineBill}[cp.Type]
	if want == 0 && cp.Type != CardPurchaseErase {
		return false, nil
	}
	ci, err := s.c.CardInfo(ctx, CardInfoRequest{LocationID: strconv.FormatInt(s.cfg.LocationID, 10), CardID: cp.CardID})
	var he *HTTPError
	switch {
	case errors.As(err, &he) && he.Status == http.StatusNotFound:
		return cp.Type == CardPurchaseErase, nil
	case err != nil:
		return false, fmt.Errorf("checking whether card purchase %d (type %d) is on the server: %w", cp.CardID, cp.Type, err)
	case cp.Type == CardPurchaseErase:
		return false, nil // the card is still there: the erase was refused
	}
	return ci.CardID == cp.CardID && ci.Type == want && ci.Name == cp.CardName && ci.Created == cp.Created, nil
}

// deliver sends all records as one batch; if the server does not account
// for every one, it sends them one by one so that each is either delivered
// (inserted, skipped as a duplicate, or refused although stored says the
// server has it) or buried with the server's reason.
func (s *Syncer) deliver(seqs []uint64, recs []storage.Record, send func([]int) (UploadResult, error), stored func(int) (bool, error)) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	res, err := send(nil)
	if err != nil {
		return 0, err
	}
	if res.RecordsInserted+res.RecordsSkipped == len(seqs) {
		if err := s.st.Ack(seqs...); err != nil {
			return 0, err
		}
		s.notify(Notice{Kind: NoticeDelivered, Count: len(seqs), Detail: fmt.Sprintf("%d inserted, %d duplicates", res.RecordsInserted, res.RecordsSkipped)})
		return len(seqs), nil
	}
	done := 0
	for i, q := range seqs {
		one, err := send([]int{i})
		if err != nil {
			return done, err
		}
		there := false
		if refused := one.RecordsInserted+one.RecordsSkipped != 1; refused && stored != nil {
			if there, err = stored(i); err != nil {
				return done, err
			}
		}
		switch {
		case one.RecordsInserted+one.RecordsSkipped == 1:
			err = s.st.Ack(q)
		case there:
			err = s.st.Ack(q)
			s.notify(Notice{Kind: NoticeDelivered, Count: 1, RecordID: recByID(recs, q),
				Detail: "already on the server: " + one.InfoString})
		case one.RecordsMalformatted > 0 || !one.Valid:
			r := recByID(recs, q)
			err = s.st.Bury(q, "server: "+firstNonEmpty(one.InfoString, "malformatted"), s.cfg.Now().UnixMilli())
			s.notify(Notice{Kind: NoticeDeadLetter, RecordID: r, Detail: one.InfoString})
		default:
			return done, fmt.Errorf("server neither stored nor refused record %d: %+v", q, one)
		}
		if err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

func recByID(recs []storage.Record, seq uint64) string {
	for _, r := range recs {
		if r.Seq == seq {
			return r.ID
		}
	}
	return ""
}

func (s *Syncer) sendTx(ctx context.Context, txs []Transaction) (UploadResult, error) {
	return s.c.SendTransactions(ctx, TransactionRequest{LocationID: strconv.FormatInt(s.cfg.LocationID, 10),
		DeviceID: s.cfg.DeviceID, Transactions: txs})
}

func (s *Syncer) sendCP(ctx context.Context, cps []CardPurchase) (UploadResult, error) {
	return s.c.SendCardPurchases(ctx, CardPurchaseRequest{LocationID: s.cfg.LocationID, DeviceID: s.cfg.DeviceID, CardPurchases: cps})
}

// CardLogin looks up an online card and locks it to this device.
func (s *Syncer) CardLogin(ctx context.Context, card int64) (CardInfo, error) {
	ci, err := s.c.CardInfo(ctx, CardInfoRequest{LocationID: strconv.FormatInt(s.cfg.LocationID, 10),
		DeviceID: s.cfg.DeviceID, Login: true, CardID: card})
	if err != nil {
		var he *HTTPError
		if !errors.As(err, &he) {
			s.setLink(err)
		}
		return CardInfo{}, err
	}
	return ci, nil
}

// FreePourPrice prices a line's product from the cached catalog.
func (s *Syncer) FreePourPrice(plu int, now time.Time, keg flow.Keg) (flow.Price, int, bool) {
	cat := s.Catalog()
	if cat == nil {
		return flow.Price{}, 0, false
	}
	return cat.FreePourPrice(plu, now, kegState(keg))
}

// Alcoholic says whether plu is alcohol by the cached product data.
func (s *Syncer) Alcoholic(plu int) (yes, known bool) {
	cat := s.Catalog()
	if cat == nil {
		return false, false
	}
	p, ok := cat.Product(plu)
	if !ok {
		return false, false
	}
	return p.Alcoholic(), true
}

// ServingsLimit is the volume of plu a patron may pour: the card's servings
// limit (×100) or the server's servings_per_patron, times the product's
// units per serving.
func (s *Syncer) ServingsLimit(plu int, limit100 int64) (flow.Vol, bool) {
	cat := s.Catalog()
	if cat == nil {
		return 0, false
	}
	p, ok := cat.Product(plu)
	if !ok {
		return 0, false
	}
	return cat.ServingsLimit(p, limit100)
}

// Units is the server's volume base unit from the cached catalog.
func (s *Syncer) Units() (Units, bool) {
	cat := s.Catalog()
	if cat == nil {
		return Units{}, false
	}
	return cat.Units(), true
}

// Product returns a product from the cached catalog.
func (s *Syncer) Product(plu int) (Product, bool) {
	cat := s.Catalog()
	if cat == nil {
		return Product{}, false
	}
	return cat.Product(plu)
}

// LineItems lists a line's portions priced now, in the server's zone.
func (s *Syncer) LineItems(line, plu int, now time.Time, keg flow.Keg) ([]LineItem, error) {
	cat := s.Catalog()
	if cat == nil {
		return nil, nil
	}
	return cat.LineItems(line, plu, now, kegState(keg))
}

// kegState is what happy hours see of a keg. A keg with no tapping time
// (TappedAt 0) has no age, so keg_age triggers stay off for it rather than
// counting from 1970.
func kegState(keg flow.Keg) KegState {
	ks := KegState{FillPermille: keg.FillPermille()}
	if keg.TappedAt != 0 {
		ks.TappedAt = time.UnixMilli(keg.TappedAt)
	}
	return ks
}
