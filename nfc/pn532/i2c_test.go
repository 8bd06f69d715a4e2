package pn532

import (
	"context"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
)

// i2cChip is a PN532 on an I2C bus as the host sees it: every read starts
// with the status byte, which says "not ready" a few times while the chip
// works; then the whole pending frame follows it.
type i2cChip struct {
	mu     sync.Mutex
	addr   uint16
	queue  [][]byte // frames to hand out, ACK first
	busy   int      // status reads left before ready
	writes int
}

func (c *i2cChip) String() string                  { return "fake-i2c" }
func (c *i2cChip) SetSpeed(physic.Frequency) error { return nil }

func (c *i2cChip) Tx(addr uint16, w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if addr != c.addr {
		return errNoDevice
	}
	if len(w) > 0 {
		c.writes++
		if len(w) > 6 && w[5] == 0xD4 && w[6] == cmdGetFirmwareVersion {
			resp, _ := Encode(0xD5, []byte{0x03, 0x32, 0x01, 0x06, 0x07})
			c.queue = [][]byte{ackFrame, resp}
			c.busy = 2
		}
		return nil
	}
	for i := range r {
		r[i] = 0
	}
	if c.busy > 0 || len(c.queue) == 0 {
		c.busy--
		return nil // status 0: not ready
	}
	r[0] = 0x01
	if len(r) > 1 {
		copy(r[1:], c.queue[0])
		c.queue = c.queue[1:]
		c.busy = 1
	}
	return nil
}

type i2cErr string

func (e i2cErr) Error() string { return string(e) }

const errNoDevice = i2cErr("no device at this address")

func TestI2CTransport(t *testing.T) {
	chip := &i2cChip{addr: Address}
	d := NewDevice(NewI2C(chip, Address), Options{AckTimeout: 200 * time.Millisecond})
	fw, err := d.GetFirmwareVersion(context.Background())
	if err != nil || fw.String() != "PN532 v1.6" {
		t.Fatalf("%v %v", fw, err)
	}
	// Nothing at the address: a clear error, not a hang.
	d = NewDevice(NewI2C(&i2cChip{addr: 0x48}, Address), Options{AckTimeout: 20 * time.Millisecond, Retries: 1})
	if _, err := d.GetFirmwareVersion(context.Background()); err == nil {
		t.Fatal("a missing chip answered")
	}
}
