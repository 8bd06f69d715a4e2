// Package ttgserver is a TTG-compatible server for bench runs and tests: it
// implements every call of the TTG server control API rev 1.2 with the
// strict validation, duplicate detection, card locks and keg levels a real
// server applies, persists to a bbolt file, and can inject faults (500s,
// latency, dropped connections, token expiry, malformed replies).
package ttgserver

import "github.com/tapagent/tapagent/ttg"

// Card is an online card on the server.
type Card struct {
	ID               int64  `json:"id"`
	Type             int    `json:"type"`
	Name             string `json:"name"`
	Credit           int64  `json:"credit"`  // remaining credit, cents (prepay)
	Balance          int64  `json:"balance"` // consumed money, cents
	ConsumedServings int64  `json:"consumed_servings"`
	ServingsLimit    int64  `json:"servings_limit"`
	VolumeConsumed   int64  `json:"volume_consumed"` // base units with the server's dp
	AlcoholAllowed   bool   `json:"alcohol_allowed"`
	Created          int64  `json:"created"` // epoch s
	Last             int64  `json:"last"`
	Expires          int64  `json:"expires"` // epoch s, 0 = never
	Blocked          bool   `json:"blocked"`
	BlockedAt        int64  `json:"blocked_at"`
	BlockedComment   string `json:"blocked_comment"`
	Staff            string `json:"staff"`
	LockedBy         int64  `json:"locked_by"` // device holding a cardinfo login
	LastTap          int64  `json:"last_tap"`
}

// LineSetup is what a device's line pours.
type LineSetup struct {
	Line     int      `json:"line"`
	PLU      int      `json:"plu"`
	KegML    int64    `json:"keg_ml"`
	TappedAt int64    `json:"tapped_at"` // epoch s
	Items    []string `json:"items"`     // item ids offered in portion mode
}

// Device is a tap client known to the server.
type Device struct {
	ID    int64       `json:"id"`
	Name  string      `json:"name"`
	Lines []LineSetup `json:"lines"`
}

// Seed is the data a new server starts with.
type Seed struct {
	Config     map[string]string `json:"config"`
	Products   []ttg.Product     `json:"products"`
	Items      []ttg.Item        `json:"items"`
	Portions   []ttg.Portion     `json:"portions"`
	HappyHours []ttg.HappyHour   `json:"happyhours"`
	Cards      []Card            `json:"cards"`
	Devices    []Device          `json:"devices"`
}

// beer is a product priced per centilitre, the base unit of the default
// seed: whole cents per unit and a 50 cl serving both fit its integers.
func beer(plu int, name string, style string, centsPerCl int64, abv int) ttg.Product {
	return ttg.Product{PLU: plu, IsActive: 1, IsInUse: 1, VolumeUnit: "cl", VolumeUnitDP: 1, VolumeBaseUnitDivider: 1,
		PricePerUnit: centsPerCl, PricePerUnitHH1: centsPerCl * 8 / 10, PricePerUnitHH2: centsPerCl / 2,
		PricePerUnitHH1Pct: 20, PricePerUnitHH2Pct: 50, UnitsPerServing: 50, Name: name, Style: style,
		Brewery: "Simulated Brewery", ABV: abv, IBU: -1, ProductType: 1}
}

// piece is a non-alcoholic product sold by the piece by a vending machine.
func piece(plu int, name string) ttg.Product {
	return ttg.Product{PLU: plu, IsActive: 1, IsInUse: 1, VolumeUnit: "cl", VolumeUnitDP: 1, VolumeBaseUnitDivider: 1,
		Name: name, Brewery: "Simulated Vending", ABV: 0, IBU: -1, ProductType: 4}
}

// DefaultSeed matches the embedded four-line wall of `tapagent sim`
// (device 1001, PLUs 101..104, the same prices as its configuration:
// 13 cents per cl is 6.50 per half litre).
func DefaultSeed() Seed {
	cider := beer(104, "Cider", "Dry", 11, 50)
	cider.ProductType = 7
	// The EXE vending machine beside the wall sells these by the piece.
	cola, water := piece(201, "Cola 0.33"), piece(202, "Water 0.5")
	return Seed{
		Config: map[string]string{
			"volume_base_unit": "cl", "volume_base_unit_dp": "1", "currency_unit_prefix": "",
			"currency_unit_suffix": " EUR", "servings_per_patron": "400", "daystart_offset": "2",
			"decimal_sep": ".", "legal_drinking_age": "18", "default_language": "en", "time_zone": "UTC",
			"week_date_conventions": "ISO", "domain": "tapagent_sim", "version": "1",
			"license_key": "SIMULATED", "uuid": "", "hide_keg_level": "0", "show_unit_price": "1",
		},
		Products: []ttg.Product{beer(101, "Helles", "Lager", 13, 48), beer(102, "Pils", "Pilsner", 14, 49),
			beer(103, "Weizen", "Hefeweizen", 13, 54), cider, cola, water},
		Portions: []ttg.Portion{{Name: "Small 0.3 L", Quantity: 300, QuantityDP: 1}, {Name: "Pint 0.5 L", Quantity: 500, QuantityDP: 1}},
		Items: []ttg.Item{
			{ItemID: "101-03", ProductPLU: 101, PortionName: "Small 0.3 L", Price: 390, PriceDP: 2, PriceHH1: 300, PriceHH1DP: 2, PriceHH1Pct: 20},
			{ItemID: "102-03", ProductPLU: 102, PortionName: "Small 0.3 L", Price: 390, PriceDP: 2, PriceHH1: 300, PriceHH1DP: 2, PriceHH1Pct: 20},
			{ItemID: "102-05", ProductPLU: 102, PortionName: "Pint 0.5 L", Price: 700, PriceDP: 2, PriceHH1: 550, PriceHH1DP: 2, PriceHH1Pct: 20},
		},
		Cards: []Card{
			{ID: 1000001, Type: ttg.CardOnlinePre, Name: "Alex", Credit: 2000, AlcoholAllowed: true, Staff: "seed"},
			{ID: 1000002, Type: ttg.CardOnlineBill, Name: "Table 7", AlcoholAllowed: true, Staff: "seed"},
			{ID: 1000003, Type: ttg.CardOnlinePre, Name: "Sam (under age)", Credit: 1000, Staff: "seed"},
			{ID: 1000004, Type: ttg.CardOnlinePre, Name: "Lost card", Credit: 500, Blocked: true, BlockedComment: "reported lost", Staff: "seed"},
		},
		Devices: []Device{{ID: 1001, Name: "Simulated tap wall", Lines: []LineSetup{
			{Line: 1, PLU: 101, KegML: 50000, Items: []string{"101-03"}},
			{Line: 2, PLU: 102, KegML: 50000, Items: []string{"102-03", "102-05"}},
			{Line: 3, PLU: 103, KegML: 30000},
			{Line: 4, PLU: 104, KegML: 20000},
		}}},
	}
}
