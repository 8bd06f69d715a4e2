package config

import "github.com/tapagent/tapagent/flow"

// Money prints an amount in minor units with this device's currency and
// decimals, as a person reads it: 1687 -> "16.87 EUR".
func (d Device) Money(minor int64) string { return flow.Money(minor, d.Decimals, d.Currency) }
