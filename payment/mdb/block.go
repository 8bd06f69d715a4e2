// Package mdb is the vending machine controller (VMC) side of MDB/ICP 4.2
// for cashless devices: blocks with the ninth (mode) bit and checksums,
// the peripheral's replies, and the cashless poll messages.
package mdb

import (
	"errors"
	"fmt"
)

// Word is one 9-bit MDB character: the low 8 bits and the mode bit.
type Word uint16

// ModeBit marks the address byte of a VMC block and the last byte of a
// peripheral reply.
const ModeBit Word = 0x100

// Mode reports whether the mode bit is set.
func (w Word) Mode() bool { return w&ModeBit != 0 }

// Byte is the word's data byte.
func (w Word) Byte() byte { return byte(w) }

// Control characters (§2.2).
const (
	ACK byte = 0x00
	RET byte = 0xAA
	NAK byte = 0xFF
)

// MaxBlock is the most bytes in a block, checksum included (§2.2).
const MaxBlock = 36

// Peripheral addresses of the cashless devices (§7.1; the spec's binary
// for #2 is wrong, the hex is right).
const (
	Cashless1 byte = 0x10
	Cashless2 byte = 0x60
)

// Checksum is the sum of the bytes modulo 256 (§2.2).
func Checksum(b ...byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// Block builds a VMC block: the address byte (with the mode bit), the
// data and the checksum. The address byte carries the device address and
// the command in its low three bits.
func Block(addr byte, data ...byte) ([]Word, error) {
	if len(data)+2 > MaxBlock {
		return nil, fmt.Errorf("mdb: a block of %d bytes is longer than %d", len(data)+2, MaxBlock)
	}
	out := make([]Word, 0, len(data)+2)
	out = append(out, Word(addr)|ModeBit)
	for _, d := range data {
		out = append(out, Word(d))
	}
	return append(out, Word(Checksum(append([]byte{addr}, data...)...))), nil
}

// ReplyKind tells a peripheral's reply apart.
type ReplyKind int

// Reply kinds.
const (
	ReplyACK ReplyKind = iota
	ReplyNAK
	ReplyData
)

// Reply is what a peripheral answered to a block.
type Reply struct {
	Kind ReplyKind
	Data []byte // without the checksum
}

// ChecksumError is a reply whose checksum does not match its data.
type ChecksumError struct {
	Received, Actual byte
}

// Error gives both sums.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("mdb: reply checksum %02X, data sums to %02X", e.Received, e.Actual)
}

// ErrNoTerminator is a reply that ended without a mode-bit byte.
var ErrNoTerminator = errors.New("mdb: reply ended without its mode-bit byte")

// ParseReply decodes the words of one reply: it ends at the first word with
// the mode bit; a lone 00* is ACK and a lone FF* NAK; otherwise the last
// word is the checksum of the ones before it. Words after the terminator
// are returned as rest.
func ParseReply(ws []Word) (Reply, []Word, error) {
	end := -1
	for i, w := range ws {
		if w.Mode() {
			end = i
			break
		}
	}
	if end < 0 {
		return Reply{}, ws, ErrNoTerminator
	}
	rest := ws[end+1:]
	if end == 0 {
		switch ws[0].Byte() {
		case ACK:
			return Reply{Kind: ReplyACK}, rest, nil
		case NAK:
			return Reply{Kind: ReplyNAK}, rest, nil
		}
		return Reply{}, rest, fmt.Errorf("mdb: single-byte reply %02X* is neither ACK nor NAK", ws[0].Byte())
	}
	if end+1 > MaxBlock {
		return Reply{}, rest, fmt.Errorf("mdb: reply of %d bytes is longer than %d", end+1, MaxBlock)
	}
	data := make([]byte, end)
	for i := range data {
		data[i] = ws[i].Byte()
	}
	if sum, chk := Checksum(data...), ws[end].Byte(); sum != chk {
		return Reply{}, rest, &ChecksumError{Received: chk, Actual: sum}
	}
	return Reply{Kind: ReplyData, Data: data}, rest, nil
}

// Parmrk decodes what a Linux tty delivers with SPACE parity, INPCK and
// PARMRK set: a byte that arrived with the ninth bit set (a parity error
// against SPACE) comes as FF 00 X, a literal FF as FF FF, anything else as
// itself. Feed it bytes in any chunks; it returns the words completed.
type Parmrk struct {
	state int // 0 plain, 1 after FF, 2 after FF 00
}

// Feed decodes b, keeping an incomplete escape for the next call.
func (p *Parmrk) Feed(b []byte) []Word {
	var out []Word
	for _, c := range b {
		switch p.state {
		case 0:
			if c == 0xFF {
				p.state = 1
				continue
			}
			out = append(out, Word(c))
		case 1:
			switch c {
			case 0xFF:
				out = append(out, 0xFF)
				p.state = 0
			case 0x00:
				p.state = 2
			default:
				// Not an escape the kernel makes: keep both bytes as data.
				out = append(out, 0xFF, Word(c))
				p.state = 0
			}
		case 2:
			out = append(out, Word(c)|ModeBit)
			p.state = 0
		}
	}
	return out
}

// Pending reports whether an escape is incomplete.
func (p *Parmrk) Pending() bool { return p.state != 0 }
