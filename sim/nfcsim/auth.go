package nfcsim

import (
	"crypto/cipher"

	"github.com/tapagent/tapagent/nfc/desfire"
)

// authStart answers the first step of AES (AA), ISO (1A) and legacy (0A)
// authentication with E(RndB).
func (c *Card) authStart(cmd []byte) []byte {
	c.auth = nil
	if len(cmd) != 2 {
		return c.fail(stLength)
	}
	if c.sel != 0 && c.app() == nil {
		return c.fail(stNoApp)
	}
	k, ok := c.key(cmd[1])
	if !ok {
		return c.fail(stNoKey)
	}
	want := map[byte]desfire.KeyType{0xAA: desfire.AES, 0x0A: desfire.DES}[cmd[0]]
	switch {
	case cmd[0] == 0x1A && k.Type == desfire.AES, cmd[0] != 0x1A && k.Type != want:
		return c.fail(stAuth)
	}
	b, err := k.Block()
	if err != nil {
		return c.fail(stAuth)
	}
	n := 8
	if k.Type == desfire.AES || k.Type == desfire.TDES3 {
		n = 16
	}
	s := &cardSession{keyNo: cmd[1], key: k, step: 1, code: cmd[0], rndB: c.random(n)}
	s.ebB = append([]byte{}, s.rndB...)
	if cmd[0] == 0x0A {
		b.Encrypt(s.ebB, s.ebB)
	} else {
		cipher.NewCBCEncrypter(b, make([]byte, b.BlockSize())).CryptBlocks(s.ebB, s.ebB)
	}
	c.auth = s
	return status(stAF, s.ebB...)
}

// authFinish checks the reader's token and answers E(RotL(RndA)).
func (c *Card) authFinish(token []byte) []byte {
	s := c.auth
	n := len(s.rndB)
	if len(token) != 2*n {
		return c.fail(stLength)
	}
	b, _ := s.key.Block()
	var rndA, rotB, reply []byte
	if s.code == 0x0A {
		// The reader deciphered to send; the card enciphers to read.
		d1, d2 := token[:8], token[8:]
		rndA = make([]byte, 8)
		b.Encrypt(rndA, d1)
		x := make([]byte, 8)
		b.Encrypt(x, d2)
		rotB = make([]byte, 8)
		for i := range x {
			rotB[i] = x[i] ^ d1[i]
		}
		reply = rotl(rndA)
		b.Encrypt(reply, reply)
	} else {
		bs := b.BlockSize()
		plain := append([]byte{}, token...)
		cipher.NewCBCDecrypter(b, s.ebB[len(s.ebB)-bs:]).CryptBlocks(plain, plain)
		rndA, rotB = plain[:n], plain[n:]
		reply = rotl(rndA)
		cipher.NewCBCEncrypter(b, token[len(token)-bs:]).CryptBlocks(reply, reply)
	}
	if !equal(rotB, rotl(s.rndB)) {
		return c.fail(stAuth)
	}
	if s.code == 0x0A {
		sk := desfire.Key{Type: desfire.DES, Bytes: append(append([]byte{}, rndA[:4]...), s.rndB[:4]...)}
		s.sk, _ = sk.Block()
		s.iv, s.legacy = make([]byte, 8), true
	} else {
		sk, err := desfire.SessionKey(s.key, rndA, s.rndB)
		if err != nil {
			return c.fail(stAuth)
		}
		s.sk, _ = sk.Block()
		s.iv = make([]byte, s.sk.BlockSize())
	}
	s.step = 0
	return status(stOK, reply...)
}
