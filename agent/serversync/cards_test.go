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

// FuzzOnlineCard: any cardinfo reply converts without a panic, and an
// expiry is either read exactly as ttg.ParseTime reads it or left unset.
func FuzzOnlineCard(f *testing.F) {
	f.Add("2026-12-01 23:30:00", 1, int64(500), 0)
	f.Add("", 0, int64(-1), 1)
	f.Add("2026-02-30 25:61:00", 7, int64(0), 0)
	f.Fuzz(func(t *testing.T, expires string, alcohol int, credit int64, blocked int) {
		in := ttg.CardInfo{Expires: expires, AlcoholAllowed: &alcohol, Credit: credit, IsBlocked: blocked}
		got := onlineCard(in, time.UTC)
		want, err := ttg.ParseTime(expires, time.UTC)
		switch {
		case expires == "" || err != nil:
			if !got.Expires.IsZero() {
				t.Fatalf("expiry %q read as %v", expires, got.Expires)
			}
		case !got.Expires.Equal(want):
			t.Fatalf("expiry %q read as %v, want %v", expires, got.Expires, want)
		}
		if *got.AlcoholAllowed != (alcohol == 1) || got.Blocked != (blocked != 0) || got.Credit != credit {
			t.Fatalf("%+v from %+v", got, in)
		}
	})
}
