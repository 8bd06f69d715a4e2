package desfire

import (
	"context"
	"errors"
	"testing"
)

// fuzzCard answers every frame with the next chunk of the fuzzer's bytes
// (each chunk prefixed by its length).
type fuzzCard struct{ b []byte }

func (f *fuzzCard) Transceive(context.Context, []byte) ([]byte, error) {
	if len(f.b) == 0 {
		return nil, errors.New("out of answers")
	}
	n := int(f.b[0])
	f.b = f.b[1:]
	if n > len(f.b) {
		n = len(f.b)
	}
	out := f.b[:n]
	f.b = f.b[n:]
	return out, nil
}

// FuzzCardAnswers: whatever a card (or something pretending to be one)
// answers, the client returns errors and never panics, loops or accepts
// an unauthenticated answer as secured data.
func FuzzCardAnswers(f *testing.F) {
	f.Add([]byte{17, 0xAF, 0xB9, 0x69, 0xFD, 0xFE, 0x56, 0xFD, 0x91, 0xFC, 0x9D, 0xE6, 0xF6, 0xF2, 0x13, 0xB8, 0xFD, 0x1E, 1, 0x00})
	f.Add([]byte{8, 0xAF, 1, 2, 3, 4, 5, 6, 7, 1, 0xAF, 3, 0x00, 1, 2})
	f.Add([]byte{1, 0x00, 9, 0x00, 0x02, 0x03, 0x00, 0x11, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := New(&fuzzCard{b: b})
		c.Rand = zeroRand{}
		ctx := context.Background()
		c.GetVersion(ctx)
		c.GetApplicationIDs(ctx)
		c.GetFileSettings(ctx, 1)
		c.Authenticate(ctx, 1, Key{Type: AES, Bytes: make([]byte, 16)})
		c.ReadData(ctx, 1, Enciphered, 0, 0)
		c.GetValue(ctx, 2, MACed)
		c.Authenticate(ctx, 0, Key{Type: TDES3, Bytes: make([]byte, 24)})
		c.GetCardUID(ctx)
		c.Authenticate(ctx, 0, Key{Type: DES, Bytes: make([]byte, 8)})
		c.ReadData(ctx, 1, Plain, 0, 4)
	})
}

type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0x5A
	}
	return len(p), nil
}
