package pn532

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/host/v3/sysfs"
)

// Address is the PN532's 7-bit I2C address (0x48 write / 0x49 read on the
// wire, §6.2.4).
const Address = 0x24

// i2cPoll is the wait between status reads while the PN532 is busy.
const i2cPoll = 2 * time.Millisecond

// I2C is the PN532's I2C transport: every read starts with a status byte
// whose bit 0 says whether a frame is ready.
type I2C struct {
	dev    *i2c.Dev
	closer func() error
}

// OpenI2C opens /dev/i2c-N (given as the path or N) through periph.io's
// sysfs driver, the PN532 at addr (0 for the default 0x24).
func OpenI2C(bus string, addr uint16) (*I2C, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(bus, "/dev/i2c-"))
	if err != nil {
		return nil, fmt.Errorf("pn532 i2c bus %q: want /dev/i2c-N or N", bus)
	}
	b, err := sysfs.NewI2C(n)
	if err != nil {
		return nil, fmt.Errorf("pn532 i2c bus %s: %w", bus, err)
	}
	if addr == 0 {
		addr = Address
	}
	return &I2C{dev: &i2c.Dev{Bus: b, Addr: addr}, closer: b.Close}, nil
}

// NewI2C runs the protocol on any periph.io bus (a test bus, an FTDI bridge).
func NewI2C(bus i2c.Bus, addr uint16) *I2C {
	return &I2C{dev: &i2c.Dev{Bus: bus, Addr: addr}, closer: func() error { return nil }}
}

// Send implements Transport.
func (t *I2C) Send(frame []byte) error { return t.dev.Tx(frame, nil) }

// Receive implements Transport: poll the status byte until ready, then
// read a whole frame in one transfer (the status byte comes again first).
func (t *I2C) Receive(timeout time.Duration) (Frame, error) {
	deadline := time.Now().Add(timeout)
	st := make([]byte, 1)
	for {
		if err := t.dev.Tx(nil, st); err == nil && st[0]&0x01 == 1 {
			break
		}
		if time.Now().After(deadline) {
			return Frame{}, ErrTimeout
		}
		time.Sleep(i2cPoll)
	}
	buf := make([]byte, 1+maxData+9)
	if err := t.dev.Tx(nil, buf); err != nil {
		return Frame{}, fmt.Errorf("pn532 i2c read: %w", err)
	}
	return ReadFrame(bufio.NewReader(bytes.NewReader(buf[1:])))
}

// Close implements Transport.
func (t *I2C) Close() error { return t.closer() }
