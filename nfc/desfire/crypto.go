// Package desfire speaks MIFARE DESFire EV1 to a card through any
// transceiver (a PN532's InDataExchange, the simulator): native commands,
// optionally wrapped in ISO 7816-4 APDUs, the three authentications (AES,
// ISO with 2K3DES/3K3DES, legacy DES), EV1 secure messaging (CMAC and IV
// chaining, enciphered data with CRC32 and padding) and AN10922 key
// diversification.
package desfire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"errors"
	"fmt"
	"hash/crc32"
)

// KeyType is a DESFire key's cipher.
type KeyType int

// The key types of DESFire EV1.
const (
	// DES is a single-DES key (8 bytes, or 16 with equal halves); it
	// authenticates with the legacy command or, as 2K3DES, with ISO.
	DES KeyType = iota
	// TDES2 is two-key triple DES (16 bytes), ISO authentication.
	TDES2
	// TDES3 is three-key triple DES (24 bytes), ISO authentication.
	TDES3
	// AES is AES-128 (16 bytes).
	AES
)

// String names the key type.
func (t KeyType) String() string {
	return [...]string{"DES", "2K3DES", "3K3DES", "AES"}[t]
}

// Key is a DESFire key.
type Key struct {
	Type    KeyType
	Bytes   []byte
	Version byte
}

// String never shows the key material: keys must not reach logs.
func (k Key) String() string { return fmt.Sprintf("%s key (version %d)", k.Type, k.Version) }

// GoString keeps %#v from printing the bytes too.
func (k Key) GoString() string { return k.String() }

// Block returns the key's block cipher: AES, or triple DES (a DES key is
// run as K||K||K, which equals single DES).
func (k Key) Block() (cipher.Block, error) {
	switch k.Type {
	case AES:
		if len(k.Bytes) != 16 {
			return nil, fmt.Errorf("AES key: want 16 bytes, have %d", len(k.Bytes))
		}
		return aes.NewCipher(k.Bytes)
	case DES, TDES2, TDES3:
		return tdes(k.Bytes)
	}
	return nil, errors.New("unknown key type")
}

// tdes builds a triple-DES cipher from an 8, 16 or 24-byte key.
func tdes(b []byte) (cipher.Block, error) {
	var k []byte
	switch len(b) {
	case 8:
		k = append(append(append([]byte{}, b...), b...), b...)
	case 16:
		k = append(append([]byte{}, b...), b[:8]...)
	case 24:
		k = append([]byte{}, b...)
	default:
		return nil, fmt.Errorf("DES key: want 8, 16 or 24 bytes, have %d", len(b))
	}
	return des.NewTripleDESCipher(k)
}

// CMAC is NIST SP 800-38B CMAC with a chaining IV: DESFire EV1 runs the
// MAC's CBC from the session IV, not from zero. It returns the full last
// block, which is also the next IV; the wire carries its first 8 bytes.
func CMAC(b cipher.Block, iv, msg []byte) []byte {
	k1, k2 := subkeys(b)
	bs := b.BlockSize()
	n := len(msg)
	var last []byte
	var head []byte
	if n > 0 && n%bs == 0 {
		head, last = msg[:n-bs], xor(msg[n-bs:], k1)
	} else {
		full := n / bs * bs
		pad := append(append([]byte{}, msg[full:]...), 0x80)
		pad = append(pad, make([]byte, bs-len(pad))...)
		head, last = msg[:full], xor(pad, k2)
	}
	x := append([]byte{}, iv...)
	for i := 0; i < len(head); i += bs {
		x = xor(x, head[i:i+bs])
		b.Encrypt(x, x)
	}
	x = xor(x, last)
	b.Encrypt(x, x)
	return x
}

// subkeys derives K1 and K2 (SP 800-38B §6.1).
func subkeys(b cipher.Block) ([]byte, []byte) {
	bs := b.BlockSize()
	rb := byte(0x87)
	if bs == 8 {
		rb = 0x1B
	}
	l := make([]byte, bs)
	b.Encrypt(l, l)
	k1 := shift(l, rb)
	return k1, shift(k1, rb)
}

func shift(in []byte, rb byte) []byte {
	out := make([]byte, len(in))
	for i := range in {
		out[i] = in[i] << 1
		if i+1 < len(in) {
			out[i] |= in[i+1] >> 7
		}
	}
	if in[0]&0x80 != 0 {
		out[len(out)-1] ^= rb
	}
	return out
}

func xor(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// CRC32 is DESFire's CRC: CRC-32/JAMCRC (the IEEE polynomial and initial
// value, without the final inversion), sent least significant byte first.
func CRC32(data []byte) uint32 { return ^crc32.ChecksumIEEE(data) }

// CRC16 is ISO 14443-3 type A's CRC (CRC_A), used by legacy sessions.
func CRC16(data []byte) uint16 {
	crc := uint16(0x6363)
	for _, c := range data {
		c ^= byte(crc)
		c ^= c << 4
		crc = crc>>8 ^ uint16(c)<<8 ^ uint16(c)<<3 ^ uint16(c)>>4
	}
	return crc
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

// cbcEncrypt encrypts whole blocks in place from iv and returns the last
// ciphertext block (the next IV).
func cbcEncrypt(b cipher.Block, iv, data []byte) []byte {
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(data, data)
	return append([]byte{}, data[len(data)-b.BlockSize():]...)
}

// cbcDecrypt decrypts whole blocks in place from iv and returns the last
// ciphertext block (the next IV).
func cbcDecrypt(b cipher.Block, iv, data []byte) []byte {
	next := append([]byte{}, data[len(data)-b.BlockSize():]...)
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(data, data)
	return next
}

// Diversify derives a card's own key from a master key as AN10922 says:
// input is the diversification input (UID || AID as sent || system
// identifier, 1 to 31 bytes). AES and 3K3DES/2K3DES are supported.
func Diversify(master Key, input []byte) (Key, error) {
	if len(input) < 1 || len(input) > 31 {
		return Key{}, fmt.Errorf("AN10922: diversification input must be 1 to 31 bytes, have %d", len(input))
	}
	b, err := master.Block()
	if err != nil {
		return Key{}, err
	}
	if max := 2*b.BlockSize() - 1; len(input) > max {
		return Key{}, fmt.Errorf("AN10922: a %s key takes at most %d bytes of diversification input, have %d", master.Type, max, len(input))
	}
	out := Key{Type: master.Type, Version: master.Version}
	switch master.Type {
	case AES:
		out.Bytes = an10922(b, append([]byte{0x01}, input...))
	case TDES2, DES:
		out.Bytes = append(an10922(b, append([]byte{0x21}, input...)), an10922(b, append([]byte{0x22}, input...))...)
		out.Type = TDES2
	case TDES3:
		for _, c := range []byte{0x31, 0x32, 0x33} {
			out.Bytes = append(out.Bytes, an10922(b, append([]byte{c}, input...))...)
		}
	}
	return out, nil
}

// an10922 is a CMAC whose padding always reaches two blocks: unlike a
// plain CMAC it differs for inputs shorter than one block (libfreefare
// issue 91).
func an10922(b cipher.Block, m []byte) []byte {
	bs := b.BlockSize()
	k1, k2 := subkeys(b)
	var padded []byte
	if len(m) == 2*bs {
		padded = append([]byte{}, m...)
		copy(padded[bs:], xor(padded[bs:], k1))
	} else {
		padded = append(append([]byte{}, m...), 0x80)
		padded = append(padded, make([]byte, 2*bs-len(padded))...)
		copy(padded[bs:], xor(padded[bs:], k2))
	}
	return cbcEncrypt(b, make([]byte, bs), padded)
}
