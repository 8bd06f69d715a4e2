package smartnow

import (
	"encoding/json"
	"testing"
)

// FuzzReplies feeds arbitrary bytes to every decoder of SmartNow's replies:
// none may panic, a decoded token is never empty, a created id never
// negative, and an error message stays short.
func FuzzReplies(f *testing.F) {
	for _, s := range []string{`{"access_token":"a.b.c","refresh_token":"r"}`, `{"id":3184234}`, `{"message":"token expired"}`,
		`{"access_token":""}`, `{"id":-1}`, `[]`, `null`, "\xff", `{"message":"` + string(make([]byte, 300)) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if tok, err := DecodeTokens(b); err == nil && tok.Access == "" {
			t.Fatal("empty access token accepted")
		}
		if c, err := DecodeCreated(b); err == nil && c.ID < 0 {
			t.Fatal("negative id accepted")
		}
		if m := DecodeMessage(b); len([]rune(m)) > 201 {
			t.Fatalf("message of %d runes", len([]rune(m)))
		}
		var s string
		if json.Unmarshal(b, &s) == nil {
			if exp, ok := tokenExpiry(s); ok && exp.Unix() <= 0 {
				t.Fatal("expiry before the epoch accepted")
			}
		}
		_, _ = tokenExpiry(string(b))
	})
}
