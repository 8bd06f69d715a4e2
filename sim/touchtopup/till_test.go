package touchtopup

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// fakeCash is the debits half of a Dirmeier cash interface, as the till
// sees it: GET lists, DELETE with a list removes.
type fakeCash struct {
	mu     sync.Mutex
	debits map[int64]map[string]any
}

func (f *fakeCash) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("X-API-Key") != "k" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch r.Method {
	case http.MethodGet:
		list := []map[string]any{}
		for _, d := range f.debits {
			list = append(list, d)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Debits": list})
	case http.MethodDelete:
		var body struct{ Debits []struct{ ID int64 } }
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, d := range body.Debits {
			delete(f.debits, d.ID)
		}
		_, _ = w.Write([]byte(`{}`))
	}
}

// TestTill: the till books the debits that name a customer (the
// company from the debit, else its own), leaves waiter debits alone,
// leaves a debit the account refuses for staff, and a repeated
// collection books nothing twice.
func TestTill(t *testing.T) {
	s, err := New(Options{Companies: []Company{{ID: 1, Customers: map[int64]*Customer{5: {ID: 5, Balance: 1000}}},
		{ID: 2, Customers: map[int64]*Customer{5: {ID: 5, Balance: 100}}}}})
	if err != nil {
		t.Fatal(err)
	}
	cash := &fakeCash{debits: map[int64]map[string]any{
		1: {"ID": 1, "Waiter": 3, "PLU": 101, "Amount": 420, "Count": 1},
		2: {"ID": 2, "PLU": 101, "Amount": 300, "Count": 1, "CustomerID": 5, "CompanyID": 1, "Articlename": "Helles"},
		3: {"ID": 3, "PLU": 102, "Amount": "50", "Count": 1, "CustomerID": "5"},
		4: {"ID": 4, "PLU": 102, "Amount": 5000, "Count": 1, "CustomerID": 5, "CompanyID": 1},
	}}
	hs := httptest.NewServer(cash)
	defer hs.Close()
	till := &Till{CashURL: hs.URL, Key: "k", Server: s, Company: 2, KeepDebits: true}
	c, err := till.Collect(context.Background())
	if err != nil || c.Booked != 2 || c.Amount != 350 || len(c.Refused) != 1 {
		t.Fatalf("collection %+v, %v", c, err)
	}
	if b, _ := s.Balance(1, 5); b != 700 {
		t.Fatalf("company 1 balance %d", b)
	}
	if b, _ := s.Balance(2, 5); b != 50 {
		t.Fatalf("company 2 (the till's own) balance %d", b)
	}
	till.KeepDebits = false
	c, err = till.Collect(context.Background())
	if err != nil || c.Booked != 0 || c.Replayed != 2 {
		t.Fatalf("repeated collection %+v, %v", c, err)
	}
	if len(cash.debits) != 2 || cash.debits[1] == nil || cash.debits[4] == nil {
		t.Fatalf("left %v: the waiter's debit and the refused one", cash.debits)
	}
	till.Key = "wrong"
	if _, err := till.Collect(context.Background()); err == nil {
		t.Fatal("a refused GET should be an error")
	}
}
