package dexlink

import (
	"fmt"

	"go.bug.st/serial"
)

// OpenSerial opens a DEX port: 9600 baud, 8 data bits, no parity, 1 stop bit.
// go.bug.st/serial's port reads (0, nil) on timeout, which Port allows.
func OpenSerial(path string) (serial.Port, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("dex port %s: %w", path, err)
	}
	return p, nil
}
