package pn532

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestEncodeVectors: the host frames of §3.9 and §3.3 of the shared file.
func TestEncodeVectors(t *testing.T) {
	tests := []struct{ data, want string }{
		{"02", "00 00 FF 02 FE D4 02 2A 00"},
		{"14 01 14 01", "00 00 FF 05 FB D4 14 01 14 01 02 00"},
		{"4A 01 00", "00 00 FF 04 FC D4 4A 01 00 E1 00"},
		{"40 01 AA 00", "00 00 FF 05 FB D4 40 01 AA 00 41 00"},
		{"14 01", "00 00 FF 03 FD D4 14 01 17 00"}, // inside the HSU wake-up line
		{"40 01 AF 36 AA D7 DF 6E 43 6B A0 8D 18 61 38 30 A7 0D 5A D4 3E 3D 3F 4A 8D 47 54 1E EE 62 3A 93 4E 47 74",
			"00 00 FF 24 DC D4 40 01 AF 36 AA D7 DF 6E 43 6B A0 8D 18 61 38 30 A7 0D 5A D4 3E 3D 3F 4A 8D 47 54 1E EE 62 3A 93 4E 47 74 2A 00"},
	}
	for _, tc := range tests {
		got, err := Encode(hostToPN532, h(tc.data))
		if err != nil || !bytes.Equal(got, h(tc.want)) {
			t.Errorf("Encode(%s) = % X %v, want %s", tc.data, got, err, tc.want)
		}
	}
	ext, err := Encode(hostToPN532, make([]byte, 260))
	if err != nil || !bytes.Equal(ext[:8], h("00 00 FF FF FF 01 05 FA")) {
		t.Fatalf("extended frame header % X %v", ext[:8], err)
	}
	if f, err := ReadFrame(bufio.NewReader(bytes.NewReader(ext))); err != nil || len(f.Data) != 261 {
		t.Fatalf("extended frame round trip: %v", err)
	}
	if _, err := Encode(hostToPN532, make([]byte, 265)); err == nil {
		t.Fatal("an oversized frame was built")
	}
}

// TestReadFrames: answers from the manual and the trace, the fixed frames,
// the wake-up preamble as garbage, and damaged frames that cost only
// themselves.
func TestReadFrames(t *testing.T) {
	stream := h("55 55 00 00 00 13 37" + // noise and a preamble
		"00 00 FF 00 FF 00" + // ACK
		"00 00 FF 06 FA D5 03 32 01 05 07 E9 00" + // GetFirmwareVersion answer (manual)
		"00 00 FF 06 FA D5 03 32 01 06 07 E9 00" + // same with a bad DCS (real boards send DCS E8)
		"00 00 FF 06 FA D5 03 32 01 06 07 E8 00" +
		"00 00 FF 07 FA D5 03 32 01 06 07 E8 00" + // bad LCS
		"00 00 FF FF 00 00" + // NACK
		"00 00 FF 01 FF 7F 81 00" + // syntax error
		"00 00 FF 14 EC D5 41 00 AF B9 69 FD FE 56 FD 91 FC 9D E6 F6 F2 13 B8 FD 1E ED 00")
	r := bufio.NewReader(bytes.NewReader(stream))
	want := []struct {
		kind Kind
		data string
		err  error
	}{
		{Ack, "", nil},
		{Info, "D5 03 32 01 05 07", nil},
		{Info, "", ErrChecksum},
		{Info, "D5 03 32 01 06 07", nil},
		{Info, "", ErrChecksum},
		{Nack, "", nil},
		{SyntaxError, "", nil},
		{Info, "D5 41 00 AF B9 69 FD FE 56 FD 91 FC 9D E6 F6 F2 13 B8 FD 1E", nil},
	}
	for i, w := range want {
		f, err := ReadFrame(r)
		if w.err != nil {
			if !errors.Is(err, w.err) {
				t.Fatalf("frame %d: %v, want %v", i, err, w.err)
			}
			continue
		}
		if err != nil || f.Kind != w.kind || !bytes.Equal(f.Data, h(w.data)) {
			t.Fatalf("frame %d: %+v %v", i, f, err)
		}
	}
}

func TestParseTarget(t *testing.T) {
	// A DESFire EV1: one target, ATQA 0344, SAK 20, 7-byte UID, ATS.
	tg, ok, err := ParseTarget(h("01 01 03 44 20 07 04 06 3F 72 63 34 80 06 75 77 81 02 80"))
	if err != nil || !ok || !tg.DESFire() || !bytes.Equal(tg.UID, h("04063F72633480")) || len(tg.ATS) != 6 || tg.RandomUID() {
		t.Fatalf("%+v %v %v", tg, ok, err)
	}
	tg, ok, _ = ParseTarget(h("01 01 03 44 20 04 08 11 22 33 06 75 77 81 02 80"))
	if !ok || !tg.RandomUID() {
		t.Fatalf("random UID: %+v", tg)
	}
	if _, ok, err := ParseTarget(h("00")); ok || err != nil {
		t.Fatal("empty field")
	}
	for _, bad := range []string{"", "01 01 03 44", "01 01 03 44 20 05 01 02 03 04 05", "01 01 03 44 20 07 04 06", "01 01 03 44 20 04 08 11 22 33 09 75"} {
		if _, _, err := ParseTarget(h(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzReadFrame: any byte stream gives frames or errors, never a panic,
// and a frame read back re-encodes to what was on the wire.
func FuzzReadFrame(f *testing.F) {
	f.Add(h("00 00 FF 06 FA D5 03 32 01 06 07 E8 00"))
	f.Add(h("00 00 FF 00 FF 00 00 00 FF FF 00 00"))
	f.Add(h("00 00 FF FF FF 01 05 FA"))
	f.Add(h("00 00 FF 01 FF 7F 81 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for i := 0; i < 64; i++ {
			fr, err := ReadFrame(r)
			if err != nil {
				if errors.Is(err, ErrChecksum) {
					continue
				}
				return
			}
			if fr.Kind == Info {
				enc, err := Encode(fr.Data[0], fr.Data[1:])
				if err != nil {
					t.Fatalf("decoded frame does not encode: %v", err)
				}
				if back, err := ReadFrame(bufio.NewReader(bytes.NewReader(enc))); err != nil || !bytes.Equal(back.Data, fr.Data) {
					t.Fatalf("round trip % X: %v", fr.Data, err)
				}
				ParseTarget(fr.Data)
			}
		}
	})
}

// FuzzParseTarget: whatever InListPassiveTarget's answer holds, parsing
// errs or gives a target whose UID and ATS lie inside the answer.
func FuzzParseTarget(f *testing.F) {
	f.Add([]byte{0x01, 0x01, 0x03, 0x44, 0x20, 0x07, 0x04, 0x06, 0x3F, 0x72, 0x63, 0x34, 0x80, 0x06, 0x75, 0x77, 0x81, 0x02, 0x80})
	f.Add([]byte{0x01, 0x01, 0x03, 0x04, 0x20, 0x04, 0x08, 0x01, 0x02, 0x03})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		tg, ok, err := ParseTarget(b)
		if err != nil || !ok {
			return
		}
		if len(tg.UID)+len(tg.ATS)+6 > len(b) {
			t.Fatalf("target %+v from %d bytes", tg, len(b))
		}
		if tg.DESFire() && len(tg.UID) != 4 && len(tg.UID) != 7 {
			t.Fatalf("a DESFire with a %d-byte UID", len(tg.UID))
		}
	})
}

// TestDESFireATQA: the ATQA's UID-size bits must match the UID.
func TestDESFireATQA(t *testing.T) {
	cases := []struct {
		atqa [2]byte
		uid  int
		sak  byte
		want bool
	}{
		{[2]byte{0x03, 0x44}, 7, 0x20, true},
		{[2]byte{0x03, 0x04}, 4, 0x20, true}, // random ID
		{[2]byte{0x03, 0x04}, 7, 0x20, false},
		{[2]byte{0x03, 0x44}, 4, 0x20, false},
		{[2]byte{0x00, 0x44}, 7, 0x00, false}, // Ultralight
		{[2]byte{0x00, 0x04}, 4, 0x08, false}, // Classic 1K
		{[2]byte{0x03, 0x84}, 10, 0x20, false},
	}
	for _, tc := range cases {
		tg := Target{ATQA: tc.atqa, SAK: tc.sak, UID: make([]byte, tc.uid)}
		if got := tg.DESFire(); got != tc.want {
			t.Errorf("ATQA % X SAK %02X UID %d: %v", tc.atqa, tc.sak, tc.uid, got)
		}
	}
}
