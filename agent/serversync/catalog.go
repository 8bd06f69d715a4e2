package serversync

import (
	"github.com/tapagent/tapagent/device"
	"github.com/tapagent/tapagent/ttg"
)

// Catalog is the server's catalogue (products, portions, happy hours) in
// the agent's terms: prices and portions as the sync engine caches them,
// and products converted here, at the boundary, from TTG's product list.
func (u *Uplink) Catalog() device.Catalog { return catalog{u.Syncer} }

type catalog struct{ *ttg.Syncer }

// Product converts the cached TTG product for plu.
func (c catalog) Product(plu int) (device.Product, bool) {
	p, ok := c.Syncer.Product(plu)
	if !ok {
		return device.Product{}, false
	}
	return product(p), true
}

// product converts a product-list entry; the type's name comes from the
// spec's table of product types.
func product(p ttg.Product) device.Product {
	return device.Product{PLU: p.PLU, Name: p.Name, Type: p.ProductType, TypeName: ttg.ProductTypeNames[p.ProductType], Alcoholic: p.Alcoholic()}
}
