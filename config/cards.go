package config

import (
	"encoding/hex"
	"slices"
)

// validate checks [cards].
func (c Cards) validate(bad badFunc) {
	if a := c.AID; a <= 0 || a > 0xFFFFFF {
		bad("cards.aid", "must be a 24-bit application id other than 0")
	}
	for _, k := range []struct {
		key, v string
		sizes  []int
	}{{"cards.picc_key", c.PICCKey, []int{8, 16}}, {"cards.issuer_key", c.IssuerKey, []int{16}},
		{"cards.tap_key", c.TapKey, []int{16}}, {"cards.charger_key", c.ChargerKey, []int{16}}} {
		if k.v == "" {
			continue
		}
		if b, err := hex.DecodeString(k.v); err != nil || !slices.Contains(k.sizes, len(b)) {
			if len(k.sizes) == 2 {
				bad(k.key, "must be 16 (DES) or 32 (AES) hex digits")
			} else {
				bad(k.key, "must be 32 hex digits (AES-128)")
			}
		}
	}
	switch c.UIDOrder {
	case "big-endian", "little-endian":
	default:
		bad("cards.uid_order", "must be big-endian or little-endian")
	}
	if len(c.SystemID) > 21 {
		bad("cards.system_id", "at most 21 bytes (AN10922 input is UID, AID and this, 31 bytes at most)")
	}
}
