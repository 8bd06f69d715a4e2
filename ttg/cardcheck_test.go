package ttg

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCardCreatedCheck: whether a refused card purchase is already on the
// server is answered from cardinfo. Only a 404 says "not there" (and for an
// erase that is the erase delivered); any other failed lookup is an error,
// so the record stays in the outbox, never a guess either way.
func TestCardCreatedCheck(t *testing.T) {
	create := CardPurchase{CardID: 555, Type: 111, CardName: "Kim", Created: "2026-11-20 20:00:00"}
	erase := CardPurchase{CardID: 555, Type: CardPurchaseErase, CardName: "Kim", Created: "2026-11-20 21:00:00"}
	kim := CardInfo{CardID: 555, Type: CardOnlinePre, Name: "Kim", Created: "2026-11-20 20:00:00"}
	for _, c := range []struct {
		name    string
		cp      CardPurchase
		status  int
		info    CardInfo
		want    bool
		wantErr bool
	}{
		{"ours", create, 200, kim, true, false},
		{"someone else's", create, 200, CardInfo{CardID: 555, Type: CardOnlinePre, Name: "Alex", Created: "2026-11-01 10:00:00"}, false, false},
		{"other type", create, 200, CardInfo{CardID: 555, Type: CardOnlineBill, Name: "Kim", Created: "2026-11-20 20:00:00"}, false, false},
		{"unknown card", create, 404, CardInfo{}, false, false},
		{"server failing", create, 500, CardInfo{}, false, true},
		{"forbidden after re-auth", create, 403, CardInfo{}, false, true},
		{"rate limited", create, 429, CardInfo{}, false, true},
		{"request timeout", create, 408, CardInfo{}, false, true},
		{"bad request", create, 400, CardInfo{}, false, true},
		{"erase: card gone", erase, 404, CardInfo{}, true, false},
		{"erase: card still there", erase, 200, kim, false, false},
		{"erase: rate limited", erase, 429, CardInfo{}, false, true},
		{"erase: server failing", erase, 500, CardInfo{}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/m2m/api/authToken" {
					json.NewEncoder(w).Encode(AuthResponse{AuthToken: "a.b.c", UUID: "u"})
					return
				}
				w.WriteHeader(c.status)
				json.NewEncoder(w).Encode(c.info)
			}))
			defer hs.Close()
			s := &Syncer{c: NewClient(ClientConfig{BaseURL: hs.URL, Attempts: 1})}
			got, err := s.cardCreated(context.Background(), c.cp)
			if got != c.want || (err != nil) != c.wantErr {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}
