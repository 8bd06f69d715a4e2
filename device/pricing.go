package device

import (
	"errors"
	"maps"
	"strconv"
	"time"

	"github.com/tapagent/tapagent/flow"
)

// ErrAlcohol refuses an alcoholic product to a card that may not have it.
var ErrAlcohol = errors.New("alcohol not allowed for this card")

// RefPricingState is the record reference naming the price level applied.
const RefPricingState = "pricing_state"

// price fills in a free pour's unit price: the server catalog's price with
// any happy hour in effect, or the configured price when there is none.
func (a *Agent) price(l *line, r Request) Request {
	if r.Auth.Mode != flow.ModeFree || r.Auth.Price.Valid() {
		return r
	}
	r.Auth.Price = l.cfg.UnitPrice()
	state := 0
	if a.catalog != nil {
		if p, st, ok := a.catalog.FreePourPrice(l.plu(), a.clk.Now(), l.keg); ok {
			r.Auth.Price, state = p, st
		}
	}
	r.Ref = maps.Clone(r.Ref)
	if r.Ref == nil {
		r.Ref = map[string]string{}
	}
	r.Ref[RefPricingState] = strconv.Itoa(state)
	return r
}

// alcoholic reports whether the line pours alcohol, by the server's product
// data when there is any, else by the line's configuration.
func (a *Agent) alcoholic(l *line) bool {
	if a.catalog != nil {
		if yes, known := a.catalog.Alcoholic(l.plu()); known {
			return yes
		}
	}
	return !l.cfg.NonAlcoholic
}

// cardMayDrink says whether an online card may pour alcohol: the server's
// alcohol_allowed when its cardinfo reply carries one, else the local rule
// ttg.online_card_alcohol, since 3.40 has no such field.
func (a *Agent) cardMayDrink(c OnlineCard) bool {
	if c.AlcoholAllowed != nil {
		return *c.AlcoholAllowed
	}
	return a.cfg.TTG.OnlineCardAlcohol != "refuse"
}

// serverZone is the zone of the server's timestamps and wall clock
// (ttg.time_zone), the one zone every price and card date is read in.
func (a *Agent) serverZone() *time.Location {
	loc, err := a.cfg.TTG.Location()
	if err != nil {
		return time.Local // config validation refuses an unknown zone
	}
	return loc
}
