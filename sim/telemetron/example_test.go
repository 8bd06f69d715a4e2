package telemetron_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tapagent/tapagent/sim/telemetron"
)

func call(method, url, tok string, body any, out any) int {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// An operator asks machine 123 for a report; the machine finds the open
// request at its next contact and posts the report, which fulfils it.
func Example() {
	s, _ := telemetron.New(telemetron.Options{})
	url, stop, _ := s.Start("127.0.0.1:0")
	defer stop()

	var tok struct {
		AccessToken string `json:"access_token"`
	}
	call("POST", url+"/auth/", "", map[string]string{"grant_type": "password", "client_id": "tapagent",
		"client_secret": "tapagent-secret", "username": "tapagent@example.com", "password": "tapagent"}, &tok)
	vm := url + "/v2/vending_machines/123"

	var req struct {
		RequestID int64 `json:"request_id"`
	}
	call("POST", vm+"/request", tok.AccessToken, map[string]bool{"report": true}, &req)
	status := fmt.Sprintf("%s/request/%d", vm, req.RequestID)
	fmt.Println("operator:", call("GET", status, tok.AccessToken, nil, nil))

	var open map[string]any
	fmt.Println("machine polls:", call("GET", vm+"/request", tok.AccessToken, nil, &open), open["report"])
	report := strings.Join([]string{"DXS*TAP0000001*VA*V1/1*1", "ST*001*0001", "ID1*TAP0001", "SE*3*0001", "DXE*1*1", ""}, "\r\n")
	fmt.Println("machine posts:", call("POST", vm+"/reports", tok.AccessToken, map[string]any{"date": "2026-11-22T21:00:00+03:00", "data": report}, nil))
	fmt.Println("operator:", call("GET", status, tok.AccessToken, nil, nil))
	// Output:
	// operator: 200
	// machine polls: 200 true
	// machine posts: 201
	// operator: 404
}
