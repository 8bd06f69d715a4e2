package ttgserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestForwardSendsTheClientToken: a client registered with a token gets it
// as a bearer token on every forwarded call and broadcast; the client list
// never shows it; a client registered without one gets no Authorization.
func TestForwardSendsTheClientToken(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	seen := map[string]string{} // call -> Authorization
	got := make(chan struct{}, 8)
	tap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"deviceId": 1001, "error": 0}`)
		got <- struct{}{}
	}))
	defer tap.Close()
	const token = "0123456789abcdef-forward"
	res, err := http.Post(f.url+"/_emulator/clients", "application/json",
		strings.NewReader(`{"device_id": 1001, "url": "`+tap.URL+`/client/api", "token": "`+token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	list, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.Contains(string(list), token) {
		t.Fatalf("registering: %d %s", res.StatusCode, list)
	}
	var out map[string]any
	f.post("getdevicestatus", map[string]any{"id": 77, "deviceID": 1001}, &out)
	f.post("firmwareupdate", map[string]any{"id": 77}, &out)
	<-got
	<-got
	mu.Lock()
	for _, call := range []string{"/client/api/getdevicestatus", "/client/api/firmwareupdate"} {
		if seen[call] != "Bearer "+token {
			t.Errorf("%s carried Authorization %q", call, seen[call])
		}
	}
	mu.Unlock()
	if err := f.s.RegisterClient(1001, tap.URL+"/client/api", ""); err != nil {
		t.Fatal(err)
	}
	f.post("getdevicestatus", map[string]any{"id": 77, "deviceID": 1001}, &out)
	<-got
	mu.Lock()
	defer mu.Unlock()
	if a := seen["/client/api/getdevicestatus"]; a != "" {
		t.Fatalf("a client without a token got Authorization %q", a)
	}
}
