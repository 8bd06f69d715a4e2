package config

import (
	"fmt"
)

// validate checks [pos]'s articles: each is poured by a configured line
// (lineFor finds it). The listener is checked with [control]'s
// (validateListeners).
func (p POS) validate(bad badFunc, lineFor func(plu int) (Line, bool)) {
	for i, a := range p.Articles {
		k := fmt.Sprintf("pos.article[%d]", i)
		if a.PLU <= 0 {
			bad(k+".plu", "must be > 0")
		}
		if _, ok := lineFor(a.PLU); !ok {
			bad(k+".plu", "no line pours PLU %d", a.PLU)
		}
		if a.PortionML <= 0 || a.PortionML > 5000 {
			bad(k+".portion_ml", "must be between 0 and 5000")
		}
		if a.Price < 0 {
			bad(k+".price", "must not be negative")
		}
	}
}
