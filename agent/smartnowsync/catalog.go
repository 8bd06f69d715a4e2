package smartnowsync

import (
	"time"

	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/flow"
	"github.com/tapagent/tapagent/ttg"
)

// Catalog is the wall's price authority with [smartnow] prices = true (nil
// otherwise): a line pouring a PLU of the assortment is priced at the
// product's price for the line's price_per_ml; any other line keeps its
// configured price. The assortment is the one last applied, read from
// bbolt at start: a restart without network keeps SmartNow's prices. It
// knows nothing of the TTG-only data (units, portions, servings,
// alcohol), so those behave as without a server.
func (s *Sync) Catalog() device.Catalog {
	if !s.cfg.Prices {
		return nil
	}
	return catalog{s}
}

type catalog struct{ s *Sync }

// FreePourPrice is the assortment's price of plu for the price_per_ml of
// the line configured for it.
func (c catalog) FreePourPrice(plu int, _ time.Time, _ flow.Keg) (flow.Price, int, bool) {
	p, ok := c.s.priceFor(c.s.state.Load(), plu)
	return p, 0, ok
}

// priceFor is the assortment's price of plu in a, for the price_per_ml of
// the line configured with that PLU; ok is false when the assortment does
// not price it (prices off, PLU not in it, no line configured with it).
func (s *Sync) priceFor(a *Applied, plu int) (flow.Price, bool) {
	if !s.pricesOn(a) {
		return flow.Price{}, false
	}
	p, ok := a.Assortment[plu]
	if !ok {
		return flow.Price{}, false
	}
	for _, l := range s.lines {
		if l.PLU == plu {
			price := l.UnitPrice()
			price.Minor = p.Price
			return price, price.Valid()
		}
	}
	return flow.Price{}, false
}

// Alcoholic is unknown: the line's non_alcoholic decides.
func (catalog) Alcoholic(int) (bool, bool) { return false, false }

// ServingsLimit has no servings rule.
func (catalog) ServingsLimit(int, int64) (flow.Vol, bool) { return 0, false }

// Units is unknown: there is no server catalogue of portions.
func (catalog) Units() (ttg.Units, bool) { return ttg.Units{}, false }

// Product is the assortment's product for plu (its name for a keg change).
func (c catalog) Product(plu int) (device.Product, bool) {
	a := c.s.state.Load()
	p, ok := a.Assortment[plu]
	if !ok || !c.s.pricesOn(a) {
		return device.Product{}, false
	}
	return device.Product{PLU: plu, Name: p.Name}, true
}

// LineItems are none: portions are TTG's.
func (catalog) LineItems(int, int, time.Time, flow.Keg) ([]ttg.LineItem, error) { return nil, nil }
