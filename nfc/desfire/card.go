package desfire

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// Transceiver carries one native DESFire frame to the card and returns
// the card's frame: status byte first, then data.
type Transceiver interface {
	Transceive(ctx context.Context, frame []byte) ([]byte, error)
}

// Status codes of DESFire EV1 (and the ones this package acts on).
const (
	StatusOK              = 0x00
	StatusNoChanges       = 0x0C
	StatusIntegrityError  = 0x1E
	StatusNoSuchKey       = 0x40
	StatusLengthError     = 0x7E
	StatusPermission      = 0x9D
	StatusParameter       = 0x9E
	StatusAppNotFound     = 0xA0
	StatusAuthError       = 0xAE
	StatusAdditionalFrame = 0xAF
	StatusBoundary        = 0xBE
	StatusCommandAborted  = 0xCA
	StatusDuplicate       = 0xDE
	StatusFileNotFound    = 0xF0
)

// CardError is a status the card answered with.
type CardError struct {
	Cmd    byte
	Status byte
}

// Error names the command and the status.
func (e *CardError) Error() string {
	names := map[byte]string{
		StatusNoChanges: "no changes", StatusIntegrityError: "integrity error", StatusNoSuchKey: "no such key",
		StatusLengthError: "length error", StatusPermission: "permission denied", StatusParameter: "parameter error",
		StatusAppNotFound: "application not found", StatusAuthError: "authentication error", StatusBoundary: "boundary error",
		StatusCommandAborted: "command aborted", StatusDuplicate: "duplicate", StatusFileNotFound: "file not found",
		0xBD: "value limit exceeded", 0x0E: "out of EEPROM", 0x1C: "illegal command", 0xEE: "EEPROM error", 0xF1: "file integrity error",
	}
	n, ok := names[e.Status]
	if !ok {
		n = "unknown status"
	}
	return fmt.Sprintf("desfire command %02X: status %02X (%s)", e.Cmd, e.Status, n)
}

// ErrIntegrity is a MAC or CRC that does not verify: the answer was not
// from the card the session was opened with, or was damaged.
var ErrIntegrity = errors.New("desfire: response integrity check failed")

// maxFrameData is the most command data sent in one frame after the
// command byte (a 60-byte native frame); longer writes continue in
// additional frames (AF).
const maxFrameData = 59

// maxFrames bounds a multi-frame answer (an 8 KiB file is 139 frames): a
// card that answers "more" for ever must not hold the tap.
const maxFrames = 256

// Card is a DESFire card behind a transceiver. A Card is not safe for
// concurrent use: one tap, one goroutine.
type Card struct {
	t Transceiver
	// Wrap sends every command as an ISO 7816-4 APDU (CLA 90), which is
	// what readers that only pass APDUs need; native framing otherwise.
	Wrap bool
	// Rand supplies RndA; crypto/rand when nil.
	Rand io.Reader
	// RoundTrips counts frames exchanged with the card.
	RoundTrips int

	sess *session
}

// session is an authenticated session's state.
type session struct {
	keyNo  byte
	key    Key
	skKey  Key // kept for tests; never logged (Key has no printable bytes)
	sk     cipher.Block
	iv     []byte
	legacy bool // authenticated with 0x0A: no EV1 CMAC chain
}

// New returns a card on t.
func New(t Transceiver) *Card { return &Card{t: t} }

// Authenticated reports whether a session is open, and with which key.
func (c *Card) Authenticated() (byte, bool) {
	if c.sess == nil {
		return 0, false
	}
	return c.sess.keyNo, true
}

// Forget drops the session, as the card does after any error.
func (c *Card) Forget() { c.sess = nil }

// frame sends one frame and returns the card's status and data.
func (c *Card) frame(ctx context.Context, cmd byte, data []byte) (byte, []byte, error) {
	c.RoundTrips++
	var out []byte
	if c.Wrap {
		out = []byte{0x90, cmd, 0x00, 0x00}
		if len(data) > 0 {
			out = append(out, byte(len(data)))
			out = append(out, data...)
		}
		out = append(out, 0x00)
	} else {
		out = append([]byte{cmd}, data...)
	}
	in, err := c.t.Transceive(ctx, out)
	if err != nil {
		return 0, nil, err
	}
	if c.Wrap {
		if len(in) < 2 || in[len(in)-2] != 0x91 {
			return 0, nil, fmt.Errorf("desfire command %02X: not a DESFire APDU response: % X", cmd, in)
		}
		return in[len(in)-1], in[:len(in)-2], nil
	}
	if len(in) < 1 {
		return 0, nil, fmt.Errorf("desfire command %02X: empty response", cmd)
	}
	return in[0], in[1:], nil
}

// exchange sends a whole command (continuing long data in additional
// frames) and collects a whole answer (following AF); it returns the
// final status and all data. A status other than OK or AF ends any session.
func (c *Card) exchange(ctx context.Context, cmd []byte) (byte, []byte, error) {
	code, rest := cmd[0], cmd[1:]
	first := rest
	if len(first) > maxFrameData {
		first = rest[:maxFrameData]
	}
	rest = rest[len(first):]
	st, data, err := c.frame(ctx, code, first)
	for err == nil && st == StatusAdditionalFrame && len(rest) > 0 {
		chunk := rest
		if len(chunk) > maxFrameData {
			chunk = rest[:maxFrameData]
		}
		rest = rest[len(chunk):]
		st, data, err = c.frame(ctx, StatusAdditionalFrame, chunk)
	}
	var all []byte
	for frames := 0; err == nil && st == StatusAdditionalFrame; frames++ {
		if frames >= maxFrames {
			err = fmt.Errorf("desfire command %02X: more than %d answer frames", code, maxFrames)
			break
		}
		all = append(all, data...)
		st, data, err = c.frame(ctx, StatusAdditionalFrame, nil)
	}
	if err != nil {
		c.sess = nil
		return 0, nil, err
	}
	all = append(all, data...)
	if st != StatusOK {
		c.sess = nil
		return st, all, &CardError{Cmd: code, Status: st}
	}
	return st, all, nil
}

// Comm is a file's communication mode.
type Comm byte

// The communication modes of DESFire EV1.
const (
	Plain      Comm = 0x00
	MACed      Comm = 0x01
	Enciphered Comm = 0x03
)

// command runs cmd in the session's mode: the command's CMAC advances the
// IV (and is sent in MACed mode), the answer's MAC is checked. Without an
// EV1 session the command goes plain. It returns the answer's data.
func (c *Card) command(ctx context.Context, cmd []byte, mode Comm) ([]byte, error) {
	s := c.sess
	if s == nil || s.legacy {
		if mode != Plain {
			return nil, fmt.Errorf("desfire command %02X: MACed and enciphered access needs an AES or ISO session", cmd[0])
		}
		_, data, err := c.exchange(ctx, cmd)
		return data, err
	}
	s.iv = CMAC(s.sk, s.iv, cmd)
	out := cmd
	if mode == MACed {
		out = append(append([]byte{}, cmd...), s.iv[:8]...)
	}
	_, data, err := c.exchange(ctx, out)
	if err != nil {
		return nil, err
	}
	if mode == Enciphered {
		return data, nil // the caller decrypts and checks the CRC
	}
	return c.checkMAC(data)
}

// checkMAC verifies and strips the 8-byte MAC of an OK answer.
func (c *Card) checkMAC(data []byte) ([]byte, error) {
	s := c.sess
	if len(data) < 8 {
		c.sess = nil
		return nil, fmt.Errorf("%w: answer shorter than its MAC", ErrIntegrity)
	}
	body, mac := data[:len(data)-8], data[len(data)-8:]
	s.iv = CMAC(s.sk, s.iv, append(append([]byte{}, body...), StatusOK))
	if subtle.ConstantTimeCompare(s.iv[:8], mac) != 1 {
		c.sess = nil
		return nil, fmt.Errorf("%w: MAC", ErrIntegrity)
	}
	return body, nil
}

// decipher decrypts an enciphered answer and checks its CRC32 over
// data||status; n is the data length, or -1 to find it from the padding.
func (c *Card) decipher(enc []byte, n int) ([]byte, error) {
	s := c.sess
	bs := s.sk.BlockSize()
	if len(enc) == 0 || len(enc)%bs != 0 {
		c.sess = nil
		return nil, fmt.Errorf("%w: enciphered answer of %d bytes", ErrIntegrity, len(enc))
	}
	plain := append([]byte{}, enc...)
	s.iv = cbcDecrypt(s.sk, s.iv, plain)
	try := func(n int) bool {
		if n < 0 || n+4 > len(plain) {
			return false
		}
		for _, b := range plain[n+4:] {
			if b != 0 {
				return false
			}
		}
		crc := le32(CRC32(append(append([]byte{}, plain[:n]...), StatusOK)))
		return subtle.ConstantTimeCompare(crc, plain[n:n+4]) == 1
	}
	if n >= 0 {
		if try(n) {
			return plain[:n], nil
		}
	} else {
		for n = len(plain) - 4; n >= 0 && n > len(plain)-4-bs; n-- {
			if try(n) {
				return plain[:n], nil
			}
		}
	}
	c.sess = nil
	return nil, fmt.Errorf("%w: CRC of the enciphered answer", ErrIntegrity)
}

// encipher builds the enciphered part of a command: data||CRC32(cmd||
// header||data)||zero padding under the session IV.
func (c *Card) encipher(head, data []byte, extra ...[]byte) []byte {
	s := c.sess
	bs := s.sk.BlockSize()
	plain := append([]byte{}, data...)
	plain = append(plain, le32(CRC32(append(append([]byte{}, head...), data...)))...)
	for _, e := range extra {
		plain = append(plain, e...)
	}
	if r := len(plain) % bs; r != 0 {
		plain = append(plain, make([]byte, bs-r)...)
	}
	s.iv = cbcEncrypt(s.sk, s.iv, plain)
	return plain
}

// random returns n bytes of RndA.
func (c *Card) random(n int) ([]byte, error) {
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("desfire: RndA: %w", err)
	}
	return b, nil
}

func rotl(b []byte) []byte { return append(append([]byte{}, b[1:]...), b[0]) }

// equalKeyHalves tells a DES key stored as 2K3DES (K1 = K2).
func equalKeyHalves(k []byte) bool { return len(k) == 16 && bytes.Equal(k[:8], k[8:]) }
