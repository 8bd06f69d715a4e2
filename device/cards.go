package device

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/storage"
	"github.com/tapagent/tapagent/ttg"
)

// OnlineCards looks up online cards on the server and locks them to this
// device for the length of a pour. The server's reply is converted at the
// ttg boundary (agent/serversync).
type OnlineCards interface {
	CardLogin(ctx context.Context, card int64) (OnlineCard, error)
}

// OnlineCard is an online card as the server keeps it, in the agent's terms.
type OnlineCard struct {
	Type     int // card type (ttg.Card*)
	TypeName string
	Name     string
	Credit   int64 // minor units
	// ConsumedServings and ServingsLimit count servings ×100.
	ConsumedServings, ServingsLimit int64
	// Expires is when the card stops pouring; zero for never (or an
	// expiry the server wrote unreadably).
	Expires        time.Time
	Blocked        bool
	BlockedComment string
	// AlcoholAllowed is the server's word on alcohol; nil when it sent none.
	AlcoholAllowed *bool
}

// Card events.
const (
	EvCardLogin   = "card_login"
	EvCardRefused = "card_refused"
)

// ErrCardRefused wraps every reason an online card may not pour.
var ErrCardRefused = errors.New("card refused")

// CardTap handles an online card presented at a line: the server lookup
// locks it to this device, the pour is authorised within its credit and
// servings, and a card that cannot pour is released at once with an empty
// transaction. The network call is made before any line lock is taken.
func (a *Agent) CardTap(ctx context.Context, id int, card int64) (string, error) {
	l, err := a.line(id)
	if err != nil {
		return "", err
	}
	if a.cards == nil {
		return "", fmt.Errorf("%w: online cards need a TTG server", ErrCardRefused)
	}
	info, err := a.cards.CardLogin(ctx, card)
	if err != nil {
		// The server's words may quote the UID: keep it out of events.
		why := strings.ReplaceAll(err.Error(), strconv.FormatInt(card, 10), "<card>")
		a.event(Event{Type: EvCardRefused, Line: id, Card: a.cardHash(card), Detail: "card lookup failed: " + why})
		return "", fmt.Errorf("%w: %s", ErrCardRefused, why)
	}
	ref := map[string]string{ttg.RefCardID: strconv.FormatInt(card, 10), ttg.RefCardType: strconv.Itoa(info.Type),
		ttg.RefCardName: info.Name, ttg.RefExternalID: strconv.FormatInt(card, 10)}
	a.event(Event{Type: EvCardLogin, Line: id, Card: a.cardHash(card), Detail: info.TypeName + " card"})
	req, why := a.cardRequest(l, info, ref)
	if why == "" {
		pourID, err := a.Authorise(id, req)
		if err == nil {
			return pourID, nil
		}
		why = err.Error()
	}
	a.releaseCard(l, ref, why)
	return "", fmt.Errorf("%w: %s", ErrCardRefused, why)
}

// cardRequest turns the server's card record into a pour request, or says
// why the card may not pour.
func (a *Agent) cardRequest(l *line, c OnlineCard, ref map[string]string) (Request, string) {
	prepay := c.Type == ttg.CardOnlinePre || c.Type == ttg.CardPre
	switch {
	case c.Blocked:
		return Request{}, "card blocked: " + c.BlockedComment
	case c.Type != ttg.CardOnlinePre && c.Type != ttg.CardOnlineBill:
		return Request{}, fmt.Sprintf("card type %d (%s) is not an online customer card", c.Type, c.TypeName)
	case !c.Expires.IsZero() && !a.clk.Now().Before(c.Expires):
		return Request{}, "card expired " + c.Expires.In(a.serverZone()).Format(time.DateTime)
	case prepay && c.Credit <= 0:
		return Request{}, "no credit left"
	}
	auth := flow.Auth{Mode: flow.ModeFree}
	if prepay {
		auth.CapMoney = c.Credit
	}
	if a.catalog != nil {
		if lim, ok := a.catalog.ServingsLimit(l.plu(), c.ServingsLimit); ok {
			if yes, _ := a.catalog.Alcoholic(l.plu()); yes {
				perServing, _ := a.catalog.ServingsLimit(l.plu(), 100)
				used := flow.Vol(int64(perServing) * c.ConsumedServings / 100)
				if used >= lim {
					return Request{}, "servings limit reached: staff must re-activate the card"
				}
				auth.CapVol = lim - used
			}
		}
	}
	return Request{Auth: auth, Ref: ref, NoAlcohol: !a.cardMayDrink(c)}, ""
}

// releaseCard books an empty transaction for the card, which the server
// takes as the end of its login on this device.
func (a *Agent) releaseCard(l *line, ref map[string]string, why string) {
	now := a.clk.Now().UnixMilli()
	rec := storage.Record{ID: fmt.Sprintf("%d-b%d-r%d", a.cfg.Device.ID, a.boot, a.localN.Add(1)), Kind: storage.KindPour,
		Line: l.id, Product: l.productName(), PLU: l.plu(), StartedAt: now, EndedAt: now, ClockSynced: a.synced(),
		Ref: ref, Pour: flow.Result{Reason: flow.ReasonNoPour}}
	l.mu.Lock()
	a.book(l, rec)
	l.mu.Unlock()
	uid, _ := strconv.ParseInt(ref[ttg.RefCardID], 10, 64)
	a.event(Event{Type: EvCardRefused, Line: l.id, PourID: rec.ID, Card: a.cardHash(uid), Detail: why})
}

// cardHash names a card in events and logs without its UID: a keyed hash
// with this device's secret salt, stable for one device (so a technician
// can follow one card) and useless to anyone else.
func (a *Agent) cardHash(uid int64) string { return a.hashCard(strconv.FormatInt(uid, 10)) }

// EvCardPurchase is a charger's card action booked for upload.
const EvCardPurchase = "card_purchase_booked"

// BookCardPurchase books a card action done at this device in its charger
// role (create, top up, balance an online card). ref carries the ttg.Ref*
// card-purchase fields; the record is uploaded as /m2m/api/cardpurchase.
func (a *Agent) BookCardPurchase(ref map[string]string) (uint64, error) {
	now := a.clk.Now().UnixMilli()
	rec := storage.Record{ID: fmt.Sprintf("%d-b%d-c%d", a.cfg.Device.ID, a.boot, a.localN.Add(1)),
		Kind: storage.KindCardPurchase, StartedAt: now, EndedAt: now, ClockSynced: a.synced(), Ref: ref}
	seq, err := a.store.Book(storage.Booking{Record: rec, Also: a.withHistory(rec)})
	if err != nil {
		a.event(Event{Type: EvStorageError, Detail: "card purchase: " + err.Error()})
		return 0, err
	}
	a.onBooked()
	a.event(Event{Type: EvCardPurchase, PourID: rec.ID, Seq: seq, Detail: "type " + ref[ttg.RefPurchaseType]})
	return seq, nil
}
