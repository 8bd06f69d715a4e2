package smartnow_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tapagent/tapagent/sim/smartnow"
)

// post sends a JSON body with an optional bearer token and decodes the reply.
func post(url, tok string, body, out any) int {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(raw))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(out)
	return res.StatusCode
}

// A machine logs in, books a sale and books it again after a lost reply:
// the second is 409 with the first one's id, which counts as delivered.
func Example() {
	s, _ := smartnow.New(smartnow.Options{Machines: []smartnow.Machine{{ID: 80, Hostname: "tap-1", Location: 2}}})
	url, stop, _ := s.Start("127.0.0.1:0")
	defer stop()

	var tok struct {
		AccessToken string `json:"access_token"`
	}
	fmt.Println(post(url+"/auth/login", "", map[string]string{"username": "tapagent", "password": "tapagent"}, &tok))
	sale := map[string]any{"hostname": "tap-1", "occurredAt": "2026-11-22T19:00:00+01:00", "timeZone": "Europe/Amsterdam",
		"timestamp": 1795370400, "price": 450, "currency": "EUR", "remote": 1,
		"paymentTransactions": []map[string]any{{"method": "card", "price": 450}}}
	var first, again map[string]any
	fmt.Println(post(url+"/revenuetransaction", tok.AccessToken, sale, &first))
	fmt.Println(post(url+"/revenuetransaction", tok.AccessToken, sale, &again), again["id"] == first["id"])
	// Output:
	// 200
	// 201
	// 409 true
}
