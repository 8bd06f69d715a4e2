package telemetron

import (
	"fmt"
	"unicode/utf8"
)

// Windows-1251: bytes 0xC0-0xFF are А-я (U+0410-U+044F) in order; 0x80-0xBF
// are listed here (0x98 has no character); below 0x80 is ASCII.
var cp1251High = [64]rune{
	0x0402, 0x0403, 0x201A, 0x0453, 0x201E, 0x2026, 0x2020, 0x2021, 0x20AC, 0x2030, 0x0409, 0x2039, 0x040A, 0x040C, 0x040B, 0x040F,
	0x0452, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0xFFFD, 0x2122, 0x0459, 0x203A, 0x045A, 0x045C, 0x045B, 0x045F,
	0x00A0, 0x040E, 0x045E, 0x0408, 0x00A4, 0x0490, 0x00A6, 0x00A7, 0x0401, 0x00A9, 0x0404, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x0407,
	0x00B0, 0x00B1, 0x0406, 0x0456, 0x0491, 0x00B5, 0x00B6, 0x00B7, 0x0451, 0x2116, 0x0454, 0x00BB, 0x0458, 0x0405, 0x0455, 0x0457,
}

func cp1251Rune(b byte) rune {
	switch {
	case b < 0x80:
		return rune(b)
	case b >= 0xC0:
		return 0x0410 + rune(b-0xC0)
	}
	return cp1251High[b-0x80]
}

// fromCP1251 turns Windows-1251 bytes into UTF-8 text.
func fromCP1251(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, cp1251Rune(c))
	}
	return out
}

// toCP1251 turns UTF-8 text into Windows-1251 bytes; a character the
// code page lacks is an error, not a silent "?".
func toCP1251(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return nil, fmt.Errorf("byte %d is not UTF-8", i)
		}
		c, ok := cp1251Byte(r)
		if !ok {
			return nil, fmt.Errorf("character %U at byte %d has no Windows-1251 code", r, i)
		}
		out = append(out, c)
		i += n
	}
	return out, nil
}

func cp1251Byte(r rune) (byte, bool) {
	switch {
	case r < 0x80:
		return byte(r), true
	case r >= 0x0410 && r <= 0x044F:
		return byte(0xC0 + r - 0x0410), true
	}
	for i, h := range cp1251High {
		if h == r && h != 0xFFFD {
			return byte(0x80 + i), true
		}
	}
	return 0, false
}
