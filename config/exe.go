package config

import (
	"fmt"
	"time"
)

// validate checks [exe] and its items.
func (e EXE) validate(bad badFunc) {
	if e.Poll.Duration < 20*time.Millisecond || e.Poll.Duration > 5*time.Second {
		bad("exe.poll", "must be between 20ms and 5s")
	}
	if e.Response.Duration < 10*time.Millisecond || e.Response.Duration > 2*time.Second {
		bad("exe.response", "must be between 10ms and 2s")
	}
	if e.VendTimeout.Duration <= 0 {
		bad("exe.vend_timeout", "must be > 0")
	}
	seen := map[int]bool{}
	for i, it := range e.Items {
		k := fmt.Sprintf("exe.item[%d]", i)
		switch {
		case it.Selection < 0 || it.Selection > 0xFD:
			bad(k+".selection", "must be 0-253 (FEh means no request)")
		case seen[it.Selection]:
			bad(k+".selection", "selection %d is listed twice", it.Selection)
		}
		seen[it.Selection] = true
		if it.Price <= 0 {
			bad(k+".price", "must be > 0 (minor units)")
		}
		if it.PLU <= 0 {
			bad(k+".plu", "must be > 0: the server books every sale by PLU")
		}
	}
	if e.Port != "" && len(e.Items) == 0 {
		bad("exe.item", "a machine on exe.port needs its selections and prices")
	}
}
