package diag

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// SignedRequest is the message an operator signs for a command: the
// device, the command id (the topic's last level), the method, the
// expiry and the params, so a signature cannot be moved to another
// device, id, method, time or argument. Params are taken as they travel
// (compact JSON, as encoding/json sends them).
func SignedRequest(device int64, id string, r Request) []byte {
	params := wireParams(r.Params)
	return fmt.Appendf(nil, "tapagent command v1\ndevice %d\nid %s\nmethod %s\nexpires %d\nparams %d\n%s\n",
		device, id, r.Method, r.ExpiresAt.UnixMilli(), len(params), params)
}

// wireParams is params as json.Marshal sends them (compacted, HTML
// escaped); both sides sign and verify this form.
func wireParams(p json.RawMessage) []byte {
	if len(p) == 0 {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return p // not JSON: the request does not parse anyway
	}
	return b
}

// Sign sets r's signature for command id on device.
func Sign(key ed25519.PrivateKey, device int64, id string, r *Request) {
	r.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, SignedRequest(device, id, *r)))
}

// Verify reports whether r carries a signature of one of keys for
// command id on device.
func Verify(keys []ed25519.PublicKey, device int64, id string, r Request) bool {
	return VerifyMessage(keys, SignedRequest(device, id, r), r.Signature)
}

// VerifyMessage reports whether signature (base64 Ed25519) signs msg by
// one of keys: the check behind signed commands and signed desired
// configurations alike.
func VerifyMessage(keys []ed25519.PublicKey, msg []byte, signature string) bool {
	_, ok := signedBy(keys, msg, signature)
	return ok
}

// signedBy is the key of keys whose signature signature is.
func signedBy(keys []ed25519.PublicKey, msg []byte, signature string) (ed25519.PublicKey, bool) {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, false
	}
	for _, k := range keys {
		if ed25519.Verify(k, msg, sig) {
			return k, true
		}
	}
	return nil, false
}

// KeyID names an operator key in audits and events without showing it
// whole: the first 8 bytes of its SHA-256, in hex ("key 1f2e3d4c5b6a7988").
func KeyID(k ed25519.PublicKey) string {
	sum := sha256.Sum256(k)
	return "key " + hex.EncodeToString(sum[:8])
}

type signerKey struct{}

// Signer is the KeyID of the operator key that signed the command a
// handler runs ("" for an unsigned, read-only one).
func Signer(ctx context.Context) string {
	s, _ := ctx.Value(signerKey{}).(string)
	return s
}

// withSigner marks ctx as running a command signed by k.
func withSigner(ctx context.Context, k ed25519.PublicKey) context.Context {
	return context.WithValue(ctx, signerKey{}, KeyID(k))
}

// Explain says in a technician's words why a connection to the broker
// failed, naming the setting to check.
func Explain(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		opErr    *net.OpError
		netErr   net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &unknown):
		return "the broker's certificate is not signed by a CA in mqtt.ca_file"
	case errors.As(err, &hostname):
		return "the broker's certificate is for another name than the one in mqtt.broker"
	case errors.As(err, &invalid):
		return "the broker's certificate is not valid (expired, not yet valid, or not for a server): check it and this controller's clock"
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// The broker's TLS alert (certificate required, bad certificate, ...).
		return "the broker refused the TLS handshake (our client certificate in mqtt.cert_file/key_file is not accepted, or none was sent): " + opErr.Err.Error()
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		// Brokers answer a wrong password with either code.
		return "the broker refused mqtt.username and mqtt.password (or does not authorise this client's account)"
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return "the broker rejected the client id"
	case errors.As(err, &netErr):
		return "the broker cannot be reached (address, port, firewall, or the broker is down)"
	}
	return "connection refused: " + err.Error()
}
