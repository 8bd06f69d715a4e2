package desfire

import (
	"crypto/aes"
	"encoding/binary"
	"fmt"
)

// EV2SessionKeys derives the EV2 session keys (AN12343 §9.1.7) from the
// AES key and the randoms of an AuthenticateEV2First. The agent's cards are
// EV1; this is here for EV2/EV3 cards used in EV1 compatibility mode that
// a later version may talk EV2 to, and is pinned by the published vectors.
func EV2SessionKeys(key, rndA, rndB []byte) (enc, mac []byte, err error) {
	if len(key) != 16 || len(rndA) != 16 || len(rndB) != 16 {
		return nil, nil, fmt.Errorf("EV2 session keys: want 16-byte key and randoms")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	ctx := append(append(append(append([]byte{}, rndA[0:2]...), xor(rndA[2:8], rndB[0:6])...), rndB[6:16]...), rndA[8:16]...)
	sv := func(a, b byte) []byte { return append([]byte{a, b, 0x00, 0x01, 0x00, 0x80}, ctx...) }
	zero := make([]byte, 16)
	return CMAC(b, zero, sv(0xA5, 0x5A)), CMAC(b, zero, sv(0x5A, 0xA5)), nil
}

// EV2MAC is EV2 secure messaging's truncated MAC over code || CmdCtr
// (little endian) || TI || data: the odd-numbered bytes of the CMAC. For a
// command code is the command byte and data its header and data; for an
// answer code is the status and CmdCtr the counter after the command.
func EV2MAC(macKey []byte, code byte, cmdCtr uint16, ti, data []byte) ([]byte, error) {
	b, err := aes.NewCipher(macKey)
	if err != nil {
		return nil, err
	}
	m := binary.LittleEndian.AppendUint16([]byte{code}, cmdCtr)
	m = append(append(m, ti...), data...)
	full := CMAC(b, make([]byte, 16), m)
	out := make([]byte, 8)
	for i := range out {
		out[i] = full[2*i+1]
	}
	return out, nil
}
