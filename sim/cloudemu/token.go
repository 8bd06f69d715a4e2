package cloudemu

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Access tokens (of these emulators and of sim/ttgserver) are JSON Web
// Tokens (RFC 7519) signed with HS256: a client
// can read when its token expires from the exp claim and refresh before
// then, and a new secret invalidates every token at once.

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Claims are what an access token says: the user, the client id (TTG's
// API client, 0 where a cloud has none), issue and expiry times.
type Claims struct {
	Sub string `json:"sub"`
	CID int64  `json:"cid,omitempty"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// ErrToken is returned for a token that is malformed, forged or expired.
var ErrToken = errors.New("invalid or expired token")

// SignToken makes an access token.
func SignToken(secret []byte, c Claims) string {
	payload, _ := json.Marshal(c)
	msg := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msg))
	return msg + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// VerifyToken checks a token's signature and expiry at now.
func VerifyToken(secret []byte, tok string, now time.Time) (Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != jwtHeader {
		return Claims{}, ErrToken
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return Claims{}, ErrToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, ErrToken
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil || now.Unix() >= c.Exp {
		return Claims{}, ErrToken
	}
	return c, nil
}

// BearerToken extracts the token of an "Authorization: Bearer x" header;
// the scheme is case-insensitive (RFC 9110 §11.1).
func BearerToken(h string) (string, bool) {
	scheme, tok, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// RandomHex returns n random bytes as hex: secrets, refresh tokens, ids.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomSecret returns a fresh 32-byte signing secret.
func RandomSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// MaxTokens bounds a token table (refresh tokens, logged-out tokens): a
// client that logs in over and over must not grow an emulator's state
// without end.
const MaxTokens = 10000

// PruneTokens drops the expired entries of a token table at now (epoch
// seconds), then the soonest to expire until there is room for one more
// under MaxTokens.
func PruneTokens[V any](m map[string]V, expires func(V) int64, now int64) {
	for k, v := range m {
		if now >= expires(v) {
			delete(m, k)
		}
	}
	for len(m) >= MaxTokens {
		first, at := "", int64(0)
		for k, v := range m {
			if first == "" || expires(v) < at {
				first, at = k, expires(v)
			}
		}
		delete(m, first)
	}
}
