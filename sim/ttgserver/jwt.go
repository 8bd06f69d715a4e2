package ttgserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// JSON Web Tokens (RFC 7519) signed with HS256, as the spec's 3.1 asks:
// the server needs no token table, and rotating the secret invalidates
// every token at once (the ExpireTokens fault).

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

type claims struct {
	Sub string `json:"sub"`
	CID int64  `json:"cid"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

func signJWT(secret []byte, c claims) string {
	payload, _ := json.Marshal(c)
	msg := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msg))
	return msg + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errToken = errors.New("invalid token")

// verifyJWT checks the signature, the algorithm and the expiry.
func verifyJWT(secret []byte, tok string, now time.Time) (claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != jwtHeader {
		return claims{}, errToken
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return claims{}, errToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, errToken
	}
	var c claims
	if err := json.Unmarshal(raw, &c); err != nil || now.Unix() >= c.Exp {
		return claims{}, errToken
	}
	return c, nil
}
