package flow

import "time"

// Keg is the keg on a line as the agent tracks it.
type Keg struct {
	ID        string `json:"id,omitempty"`
	Size      Vol    `json:"size_ml10"`
	Remaining Vol    `json:"remaining_ml10"`
	// TappedAt is when the keg was connected, UTC epoch milliseconds.
	TappedAt int64 `json:"tapped_at"`
	// LowPercent raises keg_low when the fill level drops to or below it.
	LowPercent int64 `json:"low_percent"`
	Low        bool  `json:"low,omitempty"`
	Empty      bool  `json:"empty,omitempty"`
	// Kicked is set when the meter saw foam: the keg is physically empty,
	// whatever the registry says. The line stays disabled until a keg change.
	Kicked bool `json:"kicked,omitempty"`
	// PLU and Product name what the keg holds when a keg change connected
	// another product than the line's configured one; 0 and "" otherwise.
	PLU     int    `json:"plu,omitempty"`
	Product string `json:"product,omitempty"`
}

// NewKeg returns a full keg tapped at the given time.
func NewKeg(id string, size Vol, lowPercent int64, tapped time.Time) Keg {
	return Keg{ID: id, Size: size, Remaining: size, TappedAt: tapped.UnixMilli(), LowPercent: lowPercent}
}

// FillPermille is the fill level in tenths of a percent.
func (k Keg) FillPermille() int64 {
	if k.Size <= 0 {
		return 0
	}
	return max(int64(k.Remaining), 0) * 1000 / int64(k.Size)
}

// Draw takes v out of the keg and reports level crossings. Remaining may go
// negative: the registry is an estimate and the meter is the truth.
func (k *Keg) Draw(v Vol) (becameLow, becameEmpty bool) {
	if v <= 0 || k.Size <= 0 {
		return false, false
	}
	k.Remaining -= v
	if !k.Low && k.FillPermille() <= k.LowPercent*10 {
		k.Low, becameLow = true, true
	}
	if !k.Empty && k.Remaining <= 0 {
		k.Empty, becameEmpty = true, true
	}
	return becameLow, becameEmpty
}
