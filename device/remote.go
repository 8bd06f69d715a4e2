package device

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// Remote-control events.
const (
	EvRemoteLogin = "remote_login"
	EvBacklight   = "backlight"
	EvRestart     = "restart_requested"
)

// loginTTL is how long a remote login waits for its payment confirmation.
const loginTTL = 2 * time.Minute

type pendingLogin struct {
	req     ttg.RemoteLoginRequest
	resp    ttg.RemoteLoginResponse
	item    ttg.LineItem
	expires time.Time
}

// remote is the client-control state: pending remote logins, backlight.
type remote struct {
	// txn serialises remote logins and purchases, so that a replay never
	// slips between a purchase taking its login and recording it as done.
	txn       sync.Mutex
	mu        sync.Mutex
	pending   map[string]pendingLogin // by transaction id
	backlight int
}

func clientErr(code int, msg string) ttg.ClientError {
	return ttg.ClientError{Error: code, CodeClient: code, DescriptionClnt: msg}
}

// RemoteLogin preselects a portion for a customer paying through an app;
// the line is held until RemoteLoginPurchase confirms (or refuses) payment.
// A transaction id that already completed is answered with its first
// result and holds nothing.
func (a *Agent) RemoteLogin(r ttg.RemoteLoginRequest) ttg.RemoteLoginResponse {
	a.rc.txn.Lock()
	defer a.rc.txn.Unlock()
	out := ttg.RemoteLoginResponse{CardID: r.CardID, TransactionID: r.TransactionID, DeviceID: r.DeviceID, Line: r.Line}
	if r.TransactionID != "" {
		done, found, err := a.completedLogin(r.TransactionID)
		switch {
		case err != nil:
			out.ClientError = clientErr(ttg.RLWorkflow, err.Error())
			return out
		case found:
			a.event(Event{Type: EvRemoteLogin, Line: done.Login.Line, Detail: "transaction " + strconv.Quote(r.TransactionID) + " already completed: first answer repeated"})
			return done.Login
		}
	}
	item, e := a.checkRemoteLogin(r, &out)
	if e.Error != ttg.RLOK {
		out.ClientError = e
		a.event(Event{Type: EvRemoteLogin, Line: r.Line, Detail: fmt.Sprintf("refused %d: %s", e.Error, e.DescriptionClnt)})
		return out
	}
	a.rc.mu.Lock()
	a.rc.pending[r.TransactionID] = pendingLogin{req: r, resp: out, item: item, expires: a.clk.Now().Add(loginTTL)}
	a.rc.mu.Unlock()
	a.event(Event{Type: EvRemoteLogin, Line: r.Line, Detail: fmt.Sprintf("%s preselected, waiting for payment", item.Name)})
	return out
}

// maxRemoteVolume bounds a remote login's volumes (units with 3 decimals:
// 100,000 litres or centilitres), far above any portion and far below
// where converting them could overflow.
const maxRemoteVolume int64 = 100_000_000

// checkRemoteLogin applies the spec's checks in the order of its error list.
func (a *Agent) checkRemoteLogin(r ttg.RemoteLoginRequest, out *ttg.RemoteLoginResponse) (ttg.LineItem, ttg.ClientError) {
	switch {
	case r.Type < 1 || r.Type > 5:
		return ttg.LineItem{}, clientErr(ttg.RLBadType, "type must be 1..5")
	case r.DeviceID != a.cfg.Device.ID:
		return ttg.LineItem{}, clientErr(ttg.RLClientNotFound, fmt.Sprintf("this is device %d", a.cfg.Device.ID))
	case r.VolumeLimit <= 0 || r.VolumeLimit > maxRemoteVolume || r.VolumeLimit != r.VolumeLimitSession:
		return ttg.LineItem{}, clientErr(ttg.RLInvalidJSON, fmt.Sprintf("volumeLimit must be 1..%d and equal volumeLimitSession", maxRemoteVolume))
	case r.Credit < -1:
		return ttg.LineItem{}, clientErr(ttg.RLInvalidJSON, "credit must be >= 0, or -1 for bill pay")
	case r.VolumeConsumed < 0 || r.VolumeConsumed > maxRemoteVolume*1000:
		return ttg.LineItem{}, clientErr(ttg.RLInvalidJSON, fmt.Sprintf("volumeConsumed must be 0..%d", maxRemoteVolume*1000))
	case r.CardID == "":
		return ttg.LineItem{}, clientErr(ttg.RLBadCard, "cardId missing")
	case r.TransactionID == "":
		return ttg.LineItem{}, clientErr(ttg.RLBadTransaction, "transactionId missing")
	}
	l, err := a.line(r.Line)
	if err != nil {
		return ttg.LineItem{}, clientErr(ttg.RLBadLine, err.Error())
	}
	if a.catalog == nil {
		return ttg.LineItem{}, clientErr(ttg.RLBadPortion, "no portions: this device has no server catalog")
	}
	l.mu.Lock()
	keg, busy := l.keg, l.fl.Active() || l.locked || l.fl.Disabled() != "" || len(l.unbooked) > 0
	l.mu.Unlock()
	item, p, u, ok := a.remoteItem(l, r.VolumeLimit, keg)
	if !ok {
		return ttg.LineItem{}, clientErr(ttg.RLBadPortion, fmt.Sprintf("no portion of %d (3 decimals) on line %d", r.VolumeLimit, r.Line))
	}
	out.RequestedPortion, out.Volume, out.VolumeUnit, out.MoneyAmount = item.Name, r.VolumeLimit, u.Unit, item.Price
	out.ProductName, out.ProductPLU, out.ProductType = p.Name, p.PLU, p.ProductType
	out.ProductTypeName, out.Description = ttg.ProductTypeNames[p.ProductType], p.Name+" – "+item.Name
	switch {
	case busy || a.linePending(r.Line, r.TransactionID):
		return item, clientErr(ttg.RLBusy, "the line is in use")
	case r.AlcoholAllowed == 0 && p.Alcoholic():
		return item, clientErr(ttg.RLAlcohol, p.Name+" is alcoholic")
	case keg.Size > 0 && keg.Remaining < item.Volume:
		return item, clientErr(ttg.RLKegLow, fmt.Sprintf("%s left in the keg", keg.Remaining))
	case r.Credit >= 0 && r.Credit < item.Price:
		return item, clientErr(ttg.RLFunds, fmt.Sprintf("credit %d < price %d", r.Credit, item.Price))
	}
	if lim, ok := a.catalog.ServingsLimit(l.plu(), 0); ok && p.Alcoholic() && u.ToVol(r.VolumeConsumed, 3)+item.Volume > lim {
		return item, clientErr(ttg.RLServings, "servings limit reached")
	}
	return item, clientErr(ttg.RLOK, "")
}

// remoteItem finds the line's item whose portion is volume (units, 3 decimals).
func (a *Agent) remoteItem(l *line, volume int64, keg flow.Keg) (ttg.LineItem, ttg.Product, ttg.Units, bool) {
	u, ok := a.catalog.Units()
	if !ok {
		return ttg.LineItem{}, ttg.Product{}, u, false
	}
	p, _ := a.catalog.Product(l.plu())
	items, err := a.lineItems(l, keg)
	if err != nil {
		return ttg.LineItem{}, p, u, false
	}
	want := u.ToVol(volume, 3)
	for _, it := range items {
		if d := it.Volume - want; d >= -5 && d <= 5 {
			return it, p, u, true
		}
	}
	return ttg.LineItem{}, p, u, false
}

// LineItems lists the portions offered on a line, priced now for the keg
// on it (fill level and age for keg-triggered happy hours), as a remote
// login prices them; nil without a server catalog.
func (a *Agent) LineItems(lineID int) ([]ttg.LineItem, error) {
	l, err := a.line(lineID)
	if err != nil || a.catalog == nil {
		return nil, err
	}
	l.mu.Lock()
	keg := l.keg
	l.mu.Unlock()
	return a.lineItems(l, keg)
}

func (a *Agent) lineItems(l *line, keg flow.Keg) ([]ttg.LineItem, error) {
	return a.catalog.LineItems(l.id, l.plu(), a.clk.Now(), keg)
}

func (a *Agent) linePending(line int, except string) bool {
	a.rc.mu.Lock()
	defer a.rc.mu.Unlock()
	now := a.clk.Now()
	for id, p := range a.rc.pending {
		if now.After(p.expires) {
			delete(a.rc.pending, id)
			continue
		}
		if p.req.Line == line && id != except {
			return true
		}
	}
	return false
}

// RemoteLoginPurchase completes a remote login once the app's payment is
// through: the preselected portion is authorised on the line. The outcome
// is recorded durably before the line opens, so a replayed purchase (or a
// replayed login and purchase) is answered with the first result and
// never authorises a second pour, across restarts too.
func (a *Agent) RemoteLoginPurchase(r ttg.RemoteLoginPurchaseRequest) ttg.RemoteLoginPurchaseResponse {
	a.rc.txn.Lock()
	defer a.rc.txn.Unlock()
	out := ttg.RemoteLoginPurchaseResponse{CardID: r.CardID, TransactionID: r.TransactionID, PaymentID: r.PaymentID}
	a.rc.mu.Lock()
	p, ok := a.rc.pending[r.TransactionID]
	if ok && p.req.CardID == r.CardID {
		delete(a.rc.pending, r.TransactionID)
	}
	a.rc.mu.Unlock()
	switch {
	case !ok || a.clk.Now().After(p.expires):
		return a.repeatedPurchase(r, out)
	case p.req.CardID != r.CardID:
		out.ClientError = clientErr(ttg.RLBadCard, "cardId does not match the remote login")
		return out
	case r.Error != 0:
		out.ClientError = clientErr(ttg.RLPayment, fmt.Sprintf("payment failed (%d): login aborted", r.Error))
		_ = a.recordCompleted(p, out) // nothing was authorised; a failure is reported as an event
		return out
	}
	// Should the agent stop between opening the line and recording the
	// result, a replay gets this answer, not a second pour.
	claim := out
	claim.ClientError = clientErr(ttg.RLWorkflow, "the agent stopped while authorising this transaction; see its pour records")
	if err := a.recordCompleted(p, claim); err != nil {
		out.ClientError = clientErr(ttg.RLWorkflow, "transaction not recorded, nothing authorised: "+err.Error())
		return out
	}
	out = a.authoriseRemote(p, r, out)
	_ = a.recordCompleted(p, out) // on failure the claim stands: a replay is refused, never poured
	return out
}

// repeatedPurchase answers a purchase with no login waiting: the first
// result again if the transaction completed, else 301.
func (a *Agent) repeatedPurchase(r ttg.RemoteLoginPurchaseRequest, out ttg.RemoteLoginPurchaseResponse) ttg.RemoteLoginPurchaseResponse {
	done, found, err := a.completedLogin(r.TransactionID)
	switch {
	case err != nil:
		out.ClientError = clientErr(ttg.RLWorkflow, err.Error())
	case !found:
		out.ClientError = clientErr(ttg.RLBadTransaction, "no remote login waits for this transactionId")
	case done.Card != r.CardID:
		out.ClientError = clientErr(ttg.RLBadCard, "cardId does not match the remote login")
	default:
		a.event(Event{Type: EvRemoteLogin, Line: done.Login.Line, Detail: "transaction " + strconv.Quote(r.TransactionID) + " already completed: first answer repeated"})
		return done.Purchase
	}
	return out
}

// authoriseRemote opens the line for a paid remote login.
func (a *Agent) authoriseRemote(p pendingLogin, r ttg.RemoteLoginPurchaseRequest, out ttg.RemoteLoginPurchaseResponse) ttg.RemoteLoginPurchaseResponse {
	card, _ := strconv.ParseInt(p.req.CardID, 10, 64)
	req := Request{Auth: flow.Auth{Mode: flow.ModePortion, PortionVol: p.item.Volume, PortionPrice: p.item.Price},
		NoAlcohol: p.req.AlcoholAllowed == 0,
		Ref: map[string]string{ttg.RefCardID: strconv.FormatInt(card, 10), ttg.RefCardType: strconv.Itoa(ttg.CardRemoteLogin),
			ttg.RefCardName: firstSet(p.req.Name, "Remote login"), ttg.RefExternalID: p.req.TransactionID,
			ttg.RefItemID: p.item.ItemID, RefPricingState: strconv.Itoa(p.item.State), "payment_id": r.PaymentID}}
	if _, err := a.Authorise(p.req.Line, req); err != nil {
		out.ClientError = clientErr(ttg.RLWorkflow, err.Error())
	}
	return out
}

func firstSet(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Restart asks the runner to restart the agent; pours are settled by the
// runner's shutdown as on SIGTERM.
func (a *Agent) Restart() error {
	if a.restart == nil {
		return fmt.Errorf("this agent cannot be restarted remotely")
	}
	a.event(Event{Type: EvRestart})
	return a.restart()
}

// SetBacklight records the display brightness (the agent has no display of
// its own; a screen attached to it reads this).
func (a *Agent) SetBacklight(percent int) (int, error) {
	if percent < 0 || percent > 100 {
		return 0, fmt.Errorf("brightness %d is not 0..100", percent)
	}
	a.rc.mu.Lock()
	a.rc.backlight = percent
	a.rc.mu.Unlock()
	a.event(Event{Type: EvBacklight, Detail: fmt.Sprintf("%d%%", percent)})
	return percent, nil
}

// Backlight is the current display brightness in percent.
func (a *Agent) Backlight() int {
	a.rc.mu.Lock()
	defer a.rc.mu.Unlock()
	return a.rc.backlight
}

// Completed remote logins are remembered in RemoteBucket for
// CompletedLoginTTL, at most MaxCompletedLogins of them (the oldest go
// first), so that a replayed pair is answered and not poured again.
const (
	RemoteBucket       = "remote"
	CompletedLoginTTL  = 24 * time.Hour
	MaxCompletedLogins = 10_000
)

// Key layout in RemoteBucket: "t/"+SHA-256(transaction id) holds a
// completedLogin (a hash: an id of any length makes a bounded key);
// "q/"+sequence holds that hash and the time, oldest first, for pruning;
// "n" is the count.
const (
	kDoneTxn   = "t/"
	kDoneOrder = "q/"
	kDoneCount = "n"
)

// completedLogin is what a replay of a finished transaction is answered with.
type completedLogin struct {
	At       int64                           `json:"at"` // UTC epoch ms
	Card     string                          `json:"card"`
	Login    ttg.RemoteLoginResponse         `json:"login"`
	Purchase ttg.RemoteLoginPurchaseResponse `json:"purchase"`
}

func doneKey(txn string) []byte {
	h := sha256.Sum256([]byte(txn))
	return append([]byte(kDoneTxn), h[:]...)
}

// completedLogin looks a transaction id up among the completed ones.
func (a *Agent) completedLogin(txn string) (completedLogin, bool, error) {
	var done completedLogin
	found := false
	err := a.store.View(RemoteBucket, func(b storage.Bucket) error {
		raw := b.Get(doneKey(txn))
		if raw == nil {
			return nil
		}
		found = true
		return json.Unmarshal(raw, &done)
	})
	if err != nil {
		return completedLogin{}, false, fmt.Errorf("completed remote logins unreadable: %w", err)
	}
	return done, found, nil
}

// recordCompleted stores (or updates) the outcome of p durably and prunes
// the oldest and expired entries in the same commit.
func (a *Agent) recordCompleted(p pendingLogin, out ttg.RemoteLoginPurchaseResponse) error {
	now := a.clk.Now()
	raw, err := json.Marshal(completedLogin{At: now.UnixMilli(), Card: p.req.CardID, Login: p.resp, Purchase: out})
	if err != nil {
		return err
	}
	err = a.store.Update(RemoteBucket, func(b storage.Bucket) error {
		return putCompleted(b, doneKey(p.req.TransactionID), raw, now, doneLimits{ttl: CompletedLoginTTL, max: MaxCompletedLogins})
	})
	if err != nil {
		a.event(Event{Type: EvStorageError, Line: p.req.Line, Detail: "remote login " + strconv.Quote(p.req.TransactionID) + ": " + err.Error()})
		return fmt.Errorf("recording remote login: %w", err)
	}
	return nil
}

// doneLimits bound the completed logins kept.
type doneLimits struct {
	ttl time.Duration
	max uint64
}

// putCompleted stores raw under k, indexing a new k by time, then prunes.
func putCompleted(b storage.Bucket, k, raw []byte, now time.Time, lim doneLimits) error {
	n := doneCount(b)
	if b.Get(k) == nil {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		entry := binary.BigEndian.AppendUint64(append([]byte(nil), k[len(kDoneTxn):]...), uint64(now.UnixMilli()))
		if err := b.Put(binary.BigEndian.AppendUint64([]byte(kDoneOrder), seq), entry); err != nil {
			return err
		}
		n++
	}
	if err := b.Put(k, raw); err != nil {
		return err
	}
	n, err := pruneCompleted(b, n, now.Add(-lim.ttl).UnixMilli(), lim.max)
	if err != nil {
		return err
	}
	return b.Put([]byte(kDoneCount), binary.BigEndian.AppendUint64(nil, n))
}

func doneCount(b storage.Bucket) uint64 {
	if v := b.Get([]byte(kDoneCount)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// errStop ends a ForEach early.
var errStop = errors.New("stop")

// pruneCompleted drops entries, oldest first, while there are more than
// most or the oldest was recorded before cutoff (UTC epoch ms); it returns
// the count left.
func pruneCompleted(b storage.Bucket, n uint64, cutoff int64, most uint64) (uint64, error) {
	var drop [][]byte
	err := b.ForEach(func(k, v []byte) error {
		switch {
		case string(k) < kDoneOrder: // the count
			return nil
		case !bytes.HasPrefix(k, []byte(kDoneOrder)) || len(v) != sha256.Size+8:
			return errStop // past the order index
		case n <= most && int64(binary.BigEndian.Uint64(v[sha256.Size:])) >= cutoff:
			return errStop
		}
		drop = append(drop, append([]byte(nil), k...), append([]byte(kDoneTxn), v[:sha256.Size]...))
		n--
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return n, nil
}
