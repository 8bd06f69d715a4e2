package ttg

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCardCreatedCheck: whether a refused card create is already on the
// server is answered from cardinfo; a server error is an error (the record
// stays in the outbox), never a guess either way.
func TestCardCreatedCheck(t *testing.T) {
	cp := CardPurchase{CardID: 555, Type: 111, CardName: "Kim", Created: "2026-11-20 20:00:00"}
	for _, c := range []struct {
		name    string
		status  int
		info    CardInfo
		want    bool
		wantErr bool
	}{
		{"ours", 200, CardInfo{CardID: 555, Type: CardOnlinePre, Name: "Kim", Created: "2026-11-20 20:00:00"}, true, false},
		{"someone else's", 200, CardInfo{CardID: 555, Type: CardOnlinePre, Name: "Alex", Created: "2026-11-01 10:00:00"}, false, false},
		{"other type", 200, CardInfo{CardID: 555, Type: CardOnlineBill, Name: "Kim", Created: "2026-11-20 20:00:00"}, false, false},
		{"unknown card", 404, CardInfo{}, false, false},
		{"server failing", 500, CardInfo{}, false, true},
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
			got, err := s.cardCreated(context.Background(), cp)
			if got != c.want || (err != nil) != c.wantErr {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}
