package desfire

import (
	"context"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// Authentication commands.
const (
	cmdAuthLegacy = 0x0A
	cmdAuthISO    = 0x1A
	cmdAuthAES    = 0xAA
)

// Authenticate opens a session with key keyNo of the selected application
// (or the PICC): AES keys use 0xAA, 2K3DES and 3K3DES keys ISO 0x1A, DES
// keys the legacy 0x0A. Any failure leaves the card unauthenticated.
func (c *Card) Authenticate(ctx context.Context, keyNo byte, key Key) error {
	c.sess = nil
	b, err := key.Block()
	if err != nil {
		return err
	}
	switch key.Type {
	case AES:
		return c.authEV1(ctx, cmdAuthAES, keyNo, key, b, 16)
	case TDES3:
		return c.authEV1(ctx, cmdAuthISO, keyNo, key, b, 16)
	case TDES2:
		return c.authEV1(ctx, cmdAuthISO, keyNo, key, b, 8)
	default:
		return c.authLegacy(ctx, keyNo, key, b)
	}
}

// authEV1 is the AES and ISO handshake: E(RndB) from the card, then
// E(RndA || RotL(RndB)) and E(RndA') in one CBC chain that starts at
// E(RndB).
func (c *Card) authEV1(ctx context.Context, code, keyNo byte, key Key, b cipher.Block, n int) error {
	st, encB, err := c.frame(ctx, code, []byte{keyNo})
	if err != nil {
		return err
	}
	if st != StatusAdditionalFrame {
		return &CardError{Cmd: code, Status: st}
	}
	if len(encB) != n {
		return fmt.Errorf("desfire authenticate: E(RndB) of %d bytes, want %d", len(encB), n)
	}
	bs := b.BlockSize()
	rndB := append([]byte{}, encB...)
	iv := cbcDecrypt(b, make([]byte, bs), rndB)
	rndA, err := c.random(n)
	if err != nil {
		return err
	}
	token := append(append([]byte{}, rndA...), rotl(rndB)...)
	iv = cbcEncrypt(b, iv, token)
	st, encA, err := c.frame(ctx, StatusAdditionalFrame, token)
	if err != nil {
		return err
	}
	if st != StatusOK {
		return &CardError{Cmd: code, Status: st}
	}
	if len(encA) != n {
		return fmt.Errorf("desfire authenticate: E(RndA') of %d bytes, want %d", len(encA), n)
	}
	cbcDecrypt(b, iv, encA)
	if subtle.ConstantTimeCompare(encA, rotl(rndA)) != 1 {
		return fmt.Errorf("%w: the card does not hold this key (RndA' mismatch)", ErrIntegrity)
	}
	sk, err := SessionKey(key, rndA, rndB)
	if err != nil {
		return err
	}
	skb, err := sk.Block()
	if err != nil {
		return err
	}
	c.sess = &session{keyNo: keyNo, key: key, skKey: sk, sk: skb, iv: make([]byte, bs)}
	return nil
}

// authLegacy is the DES handshake of DESFire (0x0A): the reader
// "deciphers" what it sends, in a CBC chain of its own.
func (c *Card) authLegacy(ctx context.Context, keyNo byte, key Key, b cipher.Block) error {
	st, encB, err := c.frame(ctx, cmdAuthLegacy, []byte{keyNo})
	if err != nil {
		return err
	}
	if st != StatusAdditionalFrame {
		return &CardError{Cmd: cmdAuthLegacy, Status: st}
	}
	if len(encB) != 8 {
		return fmt.Errorf("desfire authenticate: E(RndB) of %d bytes, want 8", len(encB))
	}
	rndB := make([]byte, 8)
	b.Decrypt(rndB, encB)
	rndA, err := c.random(8)
	if err != nil {
		return err
	}
	d1 := make([]byte, 8)
	b.Decrypt(d1, rndA)
	d2 := make([]byte, 8)
	b.Decrypt(d2, xor(rotl(rndB), d1))
	st, encA, err := c.frame(ctx, StatusAdditionalFrame, append(d1, d2...))
	if err != nil {
		return err
	}
	if st != StatusOK {
		return &CardError{Cmd: cmdAuthLegacy, Status: st}
	}
	if len(encA) != 8 {
		return fmt.Errorf("desfire authenticate: E(RndA') of %d bytes, want 8", len(encA))
	}
	got := make([]byte, 8)
	b.Decrypt(got, encA)
	if subtle.ConstantTimeCompare(got, rotl(rndA)) != 1 {
		return fmt.Errorf("%w: the card does not hold this key (RndA' mismatch)", ErrIntegrity)
	}
	sk := Key{Type: DES, Bytes: append(append([]byte{}, rndA[:4]...), rndB[:4]...)}
	skb, err := sk.Block()
	if err != nil {
		return err
	}
	c.sess = &session{keyNo: keyNo, key: key, skKey: sk, sk: skb, iv: make([]byte, 8), legacy: true}
	return nil
}

// SessionKey combines the randoms as DESFire EV1 does for each key type.
func SessionKey(key Key, a, b []byte) (Key, error) {
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	switch key.Type {
	case AES:
		return Key{Type: AES, Bytes: cat(a[0:4], b[0:4], a[12:16], b[12:16])}, nil
	case TDES3:
		return Key{Type: TDES3, Bytes: cat(a[0:4], b[0:4], a[6:10], b[6:10], a[12:16], b[12:16])}, nil
	case TDES2:
		if equalKeyHalves(key.Bytes) {
			// A DES key run as 2K3DES keeps a single-DES session.
			return Key{Type: TDES2, Bytes: cat(a[0:4], b[0:4], a[0:4], b[0:4])}, nil
		}
		return Key{Type: TDES2, Bytes: cat(a[0:4], b[0:4], a[4:8], b[4:8])}, nil
	}
	return Key{}, fmt.Errorf("no EV1 session key for %s", key.Type)
}
