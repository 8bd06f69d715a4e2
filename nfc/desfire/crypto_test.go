package desfire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// h decodes hex with spaces, for vectors copied as printed.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestCMACVectors: NIST SP 800-38B (AES) and the TDES/DES vectors of the
// shared file (§3.1).
func TestCMACVectors(t *testing.T) {
	m := h("6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411E5FBC1191A0A52EFF69F2445DF4F9B17AD2B417BE66C3710")
	tests := []struct {
		key  Key
		n    int
		want string
	}{
		{Key{Type: AES, Bytes: h("2B7E151628AED2A6ABF7158809CF4F3C")}, 0, "BB1D6929E95937287FA37D129B756746"},
		{Key{Type: AES, Bytes: h("2B7E151628AED2A6ABF7158809CF4F3C")}, 16, "070A16B46B4D4144F79BDD9DD04A287C"},
		{Key{Type: AES, Bytes: h("2B7E151628AED2A6ABF7158809CF4F3C")}, 40, "DFA66747DE9AE63030CA32611497C827"},
		{Key{Type: AES, Bytes: h("2B7E151628AED2A6ABF7158809CF4F3C")}, 64, "51F0BEBF7E3B9D92FC49741779363CFE"},
	}
	tdesKeys := map[KeyType]string{TDES3: "0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123", TDES2: "0123456789ABCDEF23456789ABCDEF01", DES: "0123456789ABCDEF"}
	tdesWant := map[KeyType][]string{
		TDES3: {"7DB0D37DF936C550", "30239CF1F52E6609", "6C9F3EE4923F6BE2", "99429BD0BF7904E5"},
		TDES2: {"79CE52A7F786A960", "CC18A0B79AF2413B", "C06D377ECD101969", "9CD33580F9B64DFB"},
		DES:   {"86F79C13FD306E67", "BEA4212292462A85", "3E2F8310C569275E", "9D1FC4D4C0259132"},
	}
	for typ, key := range tdesKeys {
		for i, n := range []int{0, 16, 20, 32} {
			tests = append(tests, struct {
				key  Key
				n    int
				want string
			}{Key{Type: typ, Bytes: h(key)}, n, tdesWant[typ][i]})
		}
	}
	for _, tc := range tests {
		b, err := tc.key.Block()
		if err != nil {
			t.Fatal(err)
		}
		got := CMAC(b, make([]byte, b.BlockSize()), m[:tc.n])
		if !bytes.Equal(got, h(tc.want)) {
			t.Errorf("%s CMAC(M[0:%d]) = %X, want %s", tc.key.Type, tc.n, got, tc.want)
		}
	}
}

func TestSubkeys(t *testing.T) {
	tests := []struct {
		key    Key
		k1, k2 string
	}{
		{Key{Type: AES, Bytes: h("2B7E151628AED2A6ABF7158809CF4F3C")}, "FBEED618357133667C85E08F7236A8DE", "F7DDAC306AE266CCF90BC11EE46D513B"},
		{Key{Type: AES, Bytes: h("00112233445566778899AABBCCDDEEFF")}, "FBC9F75C9413C041DFEE452D3F0706D1", "F793EEB928278083BFDC8A5A7E0E0D25"},
		{Key{Type: TDES2, Bytes: h("00112233445566778899AABBCCDDEEFF")}, "F612EB32E46035F3", "EC25D665C8C06BFD"},
		{Key{Type: TDES3, Bytes: h("00112233445566778899AABBCCDDEEFF0102030405060708")}, "A3ED58F8E6941BCA", "47DAB1F1CD28378F"},
	}
	for _, tc := range tests {
		b, _ := tc.key.Block()
		k1, k2 := subkeys(b)
		if !bytes.Equal(k1, h(tc.k1)) || !bytes.Equal(k2, h(tc.k2)) {
			t.Errorf("%s subkeys %X %X", tc.key.Type, k1, k2)
		}
	}
}

// TestCRCVectors: §3.2, and the residue property.
func TestCRCVectors(t *testing.T) {
	if got := CRC32(h("04440F32763180")); got != 0xA1FE7B63 {
		t.Errorf("CRC32 = %08X", got)
	}
	if got := le32(CRC32(h("04440F3276318000"))); !bytes.Equal(got, h("99CE1AD4")) {
		t.Errorf("CRC32 over payload||status = % X", got)
	}
	d := h("04440F32763180")
	if got := CRC32(append(d, le32(CRC32(d))...)); got != 0 {
		t.Errorf("residue %08X", got)
	}
	if got := CRC16(h("04440F32763180")); got != 0x9827 {
		t.Errorf("CRC16 = %04X, want LE 27 98", got)
	}
	if got := CRC32(h("C400 00102030405060708090A0B0B0A09080 10")); got != 0x6BE6C6D2 {
		t.Errorf("ChangeKey CRC32 = %08X", got)
	}
}

// TestAN10922: every row of §4, including the short input that a plain
// CMAC gets wrong.
func TestAN10922(t *testing.T) {
	tests := []struct {
		typ           KeyType
		master, input string
		want          string
	}{
		{AES, "00112233445566778899AABBCCDDEEFF", "04782E21801D80 3042F5 4E585020416275", "A8DD63A3B89D54B37CA802473FDA9175"},
		{AES, "F3F9377698707B688EAF84ABE39E3791", "04DEADBEEFFEED", "0BB408BAFF98B6EE9F2E1585777F6A51"},
		{AES, "83A66CF43605111802A2616FA0C5E2FF", "044D0702195E80 DADADA 715517", "555F624020C5789340350914E92A64F9"},
		{TDES2, "00112233445566778899AABBCCDDEEFF", "04782E21801D80 3042F5 4E58502041", "16F8597C9E8910C86B9648D006107DD7"},
		{TDES3, "00112233445566778899AABBCCDDEEFF0102030405060708", "04782E21801D80 3042F5 4E5850", "2F0DD03675D3FB9A5705AB0BDA91CA0B55B8E07FCDBF10EC"},
	}
	for _, tc := range tests {
		k, err := Diversify(Key{Type: tc.typ, Bytes: h(tc.master)}, h(tc.input))
		if err != nil || !bytes.Equal(k.Bytes, h(tc.want)) {
			t.Errorf("%s %s: %X %v, want %s", tc.typ, tc.input, k.Bytes, err, tc.want)
		}
	}
	// The pre-fix libfreefare value is what a plain CMAC gives for the short input.
	b, _ := Key{Type: AES, Bytes: h("F3F9377698707B688EAF84ABE39E3791")}.Block()
	if got := CMAC(b, make([]byte, 16), h("01 04DEADBEEFFEED")); !bytes.Equal(got, h("721E2C01E81AF85D815633969CEA2607")) {
		t.Errorf("plain CMAC of the short input: %X", got)
	}
	if got := CMAC(b, make([]byte, 16), h("01 04DEADBEEFFEED")); bytes.Equal(got, h("0BB408BAFF98B6EE9F2E1585777F6A51")) {
		t.Error("AN10922 must differ from a plain CMAC for short inputs")
	}
	for _, bad := range []struct {
		typ KeyType
		n   int
	}{{AES, 0}, {AES, 32}, {TDES2, 16}} {
		if _, err := Diversify(Key{Type: bad.typ, Bytes: make([]byte, map[KeyType]int{AES: 16, TDES2: 16}[bad.typ])}, make([]byte, bad.n)); err == nil {
			t.Errorf("%s with %d bytes of input accepted", bad.typ, bad.n)
		}
	}
}

func TestKeysStayOutOfLogs(t *testing.T) {
	k := Key{Type: AES, Bytes: h("00112233445566778899AABBCCDDEEFF"), Version: 3}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(strings.ToUpper(s), "0011") || strings.Contains(s, "[0 17") {
			t.Fatalf("key material in %q", s)
		}
	}
}

// TestEV2Vectors: §3.8 (AN12343 pp.33-34 and p.54).
func TestEV2Vectors(t *testing.T) {
	enc, mac, err := EV2SessionKeys(make([]byte, 16), h("B04D0787C93EE0CC8CACC8E86F16C6FE"), h("FA659AD0DCA738DD65DC7DC38612AD81"))
	if err != nil || !bytes.Equal(enc, h("63DC07286289A7A6C0334CA31C314A04")) || !bytes.Equal(mac, h("774F26743ECE6AF5033B6AE8522946F6")) {
		t.Fatalf("session keys %X %X %v", enc, mac, err)
	}
	key, ti := h("9366FA195EB566F5BD2BAD4020B83002"), h("E2D3AF69")
	data := append(h("00000000190000"), bytes.Repeat([]byte{0x22}, 25)...)
	if got, _ := EV2MAC(key, 0x8D, 0, ti, data); !bytes.Equal(got, h("68F2C28C575A1628")) {
		t.Errorf("command MAC %X", got)
	}
	if got, _ := EV2MAC(key, 0x00, 1, ti, nil); !bytes.Equal(got, h("0820F68898C2A7F1")) {
		t.Errorf("response MAC %X", got)
	}
}
