// Package evadts reads and writes EVA-DTS audit files (DEX/UCS and DDCMP
// payloads): a tolerant parser that reports every deviation of real
// machines' files as a warning, a writer for tapagent's own audit report,
// and the audit counters behind it.
package evadts

// CRC16 is CRC-16/ARC (poly 0x8005 reflected, init 0, no final xor): the
// G85 record check and the DEX/UCS block check. check("123456789") = 0xBB3D.
func CRC16(crc uint16, p []byte) uint16 {
	for _, b := range p {
		crc = crc>>8 ^ crcTable[byte(crc)^b]
	}
	return crc
}

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for j := 0; j < 8; j++ {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()
