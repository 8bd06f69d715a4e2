package telemetron

import (
	"testing"
)

func TestDecodeError(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"message":"Duplicate","subcode":"L102"}`, "Duplicate (L102)"},
		{`{"message":"The given data was invalid.","errors":{"data.1.loaded":["required"],"data.0.add":["out of range","too big"]}}`,
			"The given data was invalid.: data.0.add: out of range too big; data.1.loaded: required"},
		{`{"message":"Bad request","subcode":"","errors":[{"field":"since","reason":"invalid"}]}`, "Bad request: since: invalid"},
		{``, ""},
		{`<html>502</html>`, "<html>502</html>"},
	} {
		if got := DecodeError([]byte(tc.body)).String(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestDecodeOpenRequest(t *testing.T) {
	for _, tc := range []struct {
		body string
		want OpenRequest
		bad  bool
	}{
		{`{"request_id":5,"report":true,"config":false}`, OpenRequest{ID: 5, Report: true}, false},
		{`{"request_id":6,"report":"1","config":1}`, OpenRequest{ID: 6, Report: true, Config: true}, false},
		{`{"request_id":7,"report":null,"config":"0"}`, OpenRequest{ID: 7}, false},
		{`{"request_id":0,"report":true}`, OpenRequest{}, true},
		{`[]`, OpenRequest{}, true},
	} {
		got, err := DecodeOpenRequest([]byte(tc.body))
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%s: %+v %v", tc.body, got, err)
		}
	}
}

func TestDecodeTokens(t *testing.T) {
	for _, tc := range []struct {
		body string
		bad  bool
	}{
		{`{"token_type":"Bearer","expires_in":86400,"access_token":"a","refresh_token":"r"}`, false},
		{`{"token_type":"bearer","access_token":"a"}`, false},
		{`{"token_type":"mac","access_token":"a"}`, true},
		{`{"token_type":"Bearer","access_token":""}`, true},
		{`{"access_token":"a","expires_in":-5}`, true},
		{`not json`, true},
	} {
		if _, err := DecodeTokens([]byte(tc.body)); (err != nil) != tc.bad {
			t.Errorf("%s: %v", tc.body, err)
		}
	}
}
