package serversync

import (
	"testing"
	"time"

	"github.com/tapagent/tapagent/ttg"
)

// TestOnlineCardConversion: the cardinfo reply reaches the agent in its own
// terms, its expiry read in the server's zone.
func TestOnlineCardConversion(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	one, zero := 1, 0
	cases := []struct {
		name    string
		in      ttg.CardInfo
		expires time.Time
		blocked bool
		alcohol *bool
	}{
		{"never expires", ttg.CardInfo{Type: ttg.CardOnlinePre, Credit: 500}, time.Time{}, false, nil},
		{"expiry in the server's zone", ttg.CardInfo{Expires: "2026-12-01 23:30:00"},
			time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC), false, nil},
		{"unreadable expiry", ttg.CardInfo{Expires: "tomorrow"}, time.Time{}, false, nil},
		{"blocked, alcohol allowed", ttg.CardInfo{IsBlocked: 1, AlcoholAllowed: &one}, time.Time{}, true, new(bool)},
		{"alcohol refused", ttg.CardInfo{AlcoholAllowed: &zero}, time.Time{}, false, new(bool)},
	}
	*cases[3].alcohol = true
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := onlineCard(c.in, kolkata)
			if !got.Expires.Equal(c.expires) || got.Blocked != c.blocked || got.Credit != c.in.Credit || got.Type != c.in.Type {
				t.Fatalf("%+v", got)
			}
			if (got.AlcoholAllowed == nil) != (c.alcohol == nil) || (c.alcohol != nil && *got.AlcoholAllowed != *c.alcohol) {
				t.Fatalf("alcohol %v, want %v", got.AlcoholAllowed, c.alcohol)
			}
		})
	}
}
