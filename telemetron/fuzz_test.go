package telemetron

import (
	"encoding/base64"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReplies feeds arbitrary bytes to every decoder of Telemetron's
// replies: none may panic, a decoded token is a non-empty Bearer token
// with a sane life, an open request and a machine have an id, and an error stays short.
func FuzzReplies(f *testing.F) {
	for _, s := range []string{
		`{"token_type":"Bearer","expires_in":86400,"access_token":"a.b.c","refresh_token":"r"}`,
		`{"token_type":"mac","access_token":"x"}`, `{"access_token":"","expires_in":-1}`,
		`{"message":"Duplicate","subcode":"L102"}`,
		`{"message":"The given data was invalid.","errors":{"data.0.loaded":["The data.0.loaded field is required."]}}`,
		`{"message":"Bad","errors":[{"field":"since","reason":"invalid"}]}`,
		`{"request_id":5,"report":true,"config":false}`, `{"request_id":0}`, `{"request_id":7,"report":"1","config":1}`,
		`{"id":12}`, `{"id":123,"name":"Tap wall","serial_number":"TAP0001"}`, `{"id":-1}`, `{"digest":"ab"}`, `{"res":true}`, `[]`, `null`, "\xff", "",
		`{"message":"` + string(make([]byte, 300)) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if tok, err := DecodeTokens(b); err == nil && (tok.Access == "" || tok.ExpiresIn < 0) {
			t.Fatalf("token %+v accepted", tok)
		}
		e := DecodeError(b)
		if s := e.String(); utf8.RuneCountInString(s) > 201 {
			t.Fatalf("error of %d runes", utf8.RuneCountInString(s))
		}
		_ = e.Fields()
		if r, err := DecodeOpenRequest(b); err == nil && r.ID <= 0 {
			t.Fatalf("request %+v accepted", r)
		}
		_ = DecodeCreated(b)
		if m, err := DecodeMachine(b); err == nil && (m.ID <= 0 || utf8.RuneCountInString(m.Name) > 201) {
			t.Fatalf("machine %+v accepted", m)
		}
	})
}

// FuzzEncodeReport: any report bytes encode in every encoding without a
// panic; the text is valid UTF-8 and decodes back to the same
// Windows-1251 bytes the cp1251+base64 encoding carries.
func FuzzEncodeReport(f *testing.F) {
	f.Add([]byte("DXS*TAP0000001*VA*V0/6*1\r\nST*001*0001\r\nPA101*101*^D0^^9F^^D0^^B8^\r\nSE*3*0001\r\nDXE*1*1\r\n"))
	f.Add([]byte{0x98, 0xC0, 0xFF, 0x80, '^'})
	f.Fuzz(func(t *testing.T, b []byte) {
		at := time.Unix(0, 0)
		text, _, err := EncodeReport(b, at, nil, 1, "text")
		if err != nil || !utf8.ValidString(text.Data) {
			t.Fatalf("text %q: %v", text.Data, err)
		}
		cp, q, err := EncodeReport(b, at, nil, 1, "cp1251+base64")
		if err != nil || q.Get("cp1251") != "1" || q.Get("base64") != "1" {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(cp.Data)
		if err != nil || fromCP1251(raw) != text.Data {
			t.Fatalf("cp1251 %q and text %q differ", raw, text.Data)
		}
	})
}
