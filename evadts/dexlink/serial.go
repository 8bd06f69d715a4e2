package dexlink

import (
	"fmt"

	"go.bug.st/serial"
)

// OpenSerial opens a serial port at 9600 baud, 8 data bits, no parity, 1
// stop bit: a DEX port, or a voucher scanner's. go.bug.st/serial's port
// reads (0, nil) on timeout, which Port allows. The caller says which port
// it is in its error.
func OpenSerial(path string) (serial.Port, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("serial port %s: %w", path, err)
	}
	return p, nil
}
