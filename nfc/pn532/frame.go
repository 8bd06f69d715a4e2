// Package pn532 drives an NXP PN532 NFC controller (UM0701-02): its frame
// format, the commands a DESFire tap needs, and the HSU (UART) and I2C
// transports. A target the PN532 has activated is a desfire.Transceiver.
package pn532

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Frame identifiers.
const (
	hostToPN532 = 0xD4
	pn532ToHost = 0xD5
)

// Kind tells the frames apart.
type Kind int

// The kinds of frame (§6.2.1).
const (
	Info Kind = iota
	Ack
	Nack
	SyntaxError
)

// Frame is one decoded frame. Data is TFI, command code and parameters
// for information frames.
type Frame struct {
	Kind Kind
	Data []byte
}

// Fixed frames.
var (
	ackFrame  = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nackFrame = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
)

// maxData is the most TFI+PD bytes a frame carries (extended frames).
const maxData = 265

// ErrChecksum is a frame whose length or data checksum is wrong.
var ErrChecksum = errors.New("pn532: frame checksum")

// Encode builds an information frame from TFI and data: a normal frame up
// to 255 bytes, an extended one beyond.
func Encode(tfi byte, data []byte) ([]byte, error) {
	n := len(data) + 1
	if n > maxData {
		return nil, fmt.Errorf("pn532: %d bytes do not fit a frame", n)
	}
	out := []byte{0x00, 0x00, 0xFF}
	if n <= 255 {
		out = append(out, byte(n), byte(-n))
	} else {
		hi, lo := byte(n>>8), byte(n)
		out = append(out, 0xFF, 0xFF, hi, lo, -(hi + lo))
	}
	sum := tfi
	out = append(out, tfi)
	for _, b := range data {
		sum += b
	}
	out = append(out, data...)
	return append(out, -sum, 0x00), nil
}

// ReadFrame reads the next frame, skipping anything before a start code
// (preambles, wake-up bytes, line noise): a damaged frame costs that frame
// only. A checksum error still consumes the frame and returns ErrChecksum.
func ReadFrame(r *bufio.Reader) (Frame, error) {
	if err := findStart(r); err != nil {
		return Frame{}, err
	}
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return Frame{}, err
	}
	switch {
	case hdr[0] == 0x00 && hdr[1] == 0xFF:
		return Frame{Kind: Ack}, nil
	case hdr[0] == 0xFF && hdr[1] == 0x00:
		return Frame{Kind: Nack}, nil
	}
	n := int(hdr[0])
	if hdr[0] == 0xFF && hdr[1] == 0xFF {
		ext := make([]byte, 3)
		if _, err := io.ReadFull(r, ext); err != nil {
			return Frame{}, err
		}
		if ext[0]+ext[1]+ext[2] != 0 {
			return Frame{}, fmt.Errorf("%w: extended length", ErrChecksum)
		}
		n = int(ext[0])<<8 | int(ext[1])
	} else if hdr[0]+hdr[1] != 0 {
		return Frame{}, fmt.Errorf("%w: length", ErrChecksum)
	}
	if n == 0 || n > maxData {
		return Frame{}, fmt.Errorf("%w: length %d", ErrChecksum, n)
	}
	body := make([]byte, n+1)
	if _, err := io.ReadFull(r, body); err != nil {
		return Frame{}, err
	}
	var sum byte
	for _, b := range body {
		sum += b
	}
	if sum != 0 {
		return Frame{}, fmt.Errorf("%w: data", ErrChecksum)
	}
	data := body[:n]
	if n == 1 && data[0] == 0x7F {
		return Frame{Kind: SyntaxError}, nil
	}
	return Frame{Kind: Info, Data: data}, nil
}

// findStart consumes bytes up to and including the start code 00 FF.
func findStart(r *bufio.Reader) error {
	prev := byte(0x01)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if prev == 0x00 && b == 0xFF {
			return nil
		}
		prev = b
	}
}
