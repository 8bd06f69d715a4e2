package pn532

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Command codes (§7).
const (
	cmdGetFirmwareVersion  = 0x02
	cmdSAMConfiguration    = 0x14
	cmdRFConfiguration     = 0x32
	cmdInDataExchange      = 0x40
	cmdInListPassiveTarget = 0x4A
	cmdInRelease           = 0x52
)

// Firmware is GetFirmwareVersion's answer.
type Firmware struct {
	IC, Ver, Rev, Support byte
}

// String is the chip and version, e.g. "PN532 v1.6".
func (f Firmware) String() string {
	return fmt.Sprintf("PN5%02x v%d.%d", f.IC, f.Ver, f.Rev)
}

// GetFirmwareVersion asks the chip who it is: the cheapest "is it there".
func (d *Device) GetFirmwareVersion(ctx context.Context) (Firmware, error) {
	r, err := d.Call(ctx, cmdGetFirmwareVersion, nil, 100*time.Millisecond)
	if err != nil {
		return Firmware{}, err
	}
	if len(r) != 4 {
		return Firmware{}, fmt.Errorf("pn532 GetFirmwareVersion: %d bytes", len(r))
	}
	fw := Firmware{IC: r[0], Ver: r[1], Rev: r[2], Support: r[3]}
	d.note(func(s *Stats) { s.Firmware = fw.String() })
	return fw, nil
}

// Ready asks the chip who it is and sets it to normal mode: what every
// user of a freshly opened reader does first. A chip that was busy with
// something else (a late answer from before the agent started, a frame
// lost in the wake-up) is resynchronised and asked again.
func (d *Device) Ready(ctx context.Context) (Firmware, error) {
	var last error
	for try := 0; try <= d.o.Retries; try++ {
		fw, err := d.GetFirmwareVersion(ctx)
		if err == nil {
			err = d.SAMConfiguration(ctx)
		}
		if err == nil {
			return fw, nil
		}
		last = err
		silent := d.heardNothing()
		d.mu.Lock()
		d.dirty = true
		d.mu.Unlock()
		if silent || ctx.Err() != nil {
			break // a chip that never said a word is not busy: it is not there
		}
	}
	return Firmware{}, last
}

// SAMConfiguration sets normal mode (no SAM), which also takes the chip
// out of its power-down state after wake-up.
func (d *Device) SAMConfiguration(ctx context.Context) error {
	_, err := d.Call(ctx, cmdSAMConfiguration, []byte{0x01, 0x14, 0x01}, 100*time.Millisecond)
	return err
}

// SetRetries sets how often the chip tries to activate a passive target
// per InListPassiveTarget (0 = once, 0xFF = forever):
// a few keeps a poll short when the field is empty; forever lets the chip
// poll by itself and answer the moment a card arrives (WaitTarget).
func (d *Device) SetRetries(ctx context.Context, passive byte) error {
	_, err := d.Call(ctx, cmdRFConfiguration, []byte{0x05, 0xFF, 0x01, passive}, 100*time.Millisecond)
	return err
}

// Field switches the RF field on or off; off between polls saves power and
// makes a card that stays on the reader start from scratch.
func (d *Device) Field(ctx context.Context, on bool) error {
	v := byte(0x00)
	if on {
		v = 0x01
	}
	_, err := d.Call(ctx, cmdRFConfiguration, []byte{0x01, v}, 100*time.Millisecond)
	return err
}

// Target is an activated ISO 14443A card.
type Target struct {
	Tg   byte
	ATQA [2]byte // SENS_RES, most significant byte first
	SAK  byte
	UID  []byte
	ATS  []byte
}

// DESFire reports whether the target looks like a DESFire: ISO 14443-4
// compliant (SAK bit 6) with a DESFire ATQA, 03 44 for a 7-byte UID or
// 03 04 for a 4-byte random ID. The ATQA's bits 7-8 are the UID size
// (ISO 14443-3 §6.3.2: 00 single, 01 double), so they are compared with
// the UID the card gave.
func (t Target) DESFire() bool {
	if t.SAK&0x20 == 0 || t.ATQA[0] != 0x03 || t.ATQA[1]&0x3F != 0x04 {
		return false
	}
	switch t.ATQA[1] >> 6 {
	case 0:
		return len(t.UID) == 4
	case 1:
		return len(t.UID) == 7
	}
	return false
}

// RandomUID reports whether the UID is a random ID (4 bytes starting 08):
// the real UID needs authentication and GetCardUID.
func (t Target) RandomUID() bool { return len(t.UID) == 4 && t.UID[0] == 0x08 }

// WaitTarget waits up to wait for one type A card with the chip polling
// by itself (SetRetries 0xFF): the answer comes the moment a card is in
// the field, with no pause between looks. With no card by then the poll
// is aborted and ok is false; an answer that races the abort is skipped
// when the next command resynchronises. A chip that does not even ACK is
// an error.
func (d *Device) WaitTarget(ctx context.Context, wait time.Duration) (Target, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out, _ := Encode(hostToPN532, []byte{cmdInListPassiveTarget, 0x01, 0x00})
	r, acked, err := d.once(ctx, out, cmdInListPassiveTarget, 0, wait)
	if errors.Is(err, ErrUncertain) {
		d.abort()
		if acked && ctx.Err() == nil {
			d.freeTargets(ctx) // a card may have come as the poll was aborted
			return Target{}, false, nil
		}
	}
	if err != nil {
		d.failed(err)
		return Target{}, false, err
	}
	return ParseTarget(r)
}

// RFReset is how long the field stays off to reset every card in it
// (ISO/IEC 14443-3 §6.2.1: between 5 and 10 ms).
const RFReset = 8 * time.Millisecond

// freeTargets brings back within reach a card the chip may have
// activated for a poll whose answer was lost: an activated card stays
// ACTIVE and answers neither REQA nor WUPA, a released one answers only
// WUPA (ISO/IEC 14443-3), so the target is released and the field cycled,
// which powers every card down to IDLE. Best effort: what fails shows at
// the next command. d.mu is held.
func (d *Device) freeTargets(ctx context.Context) {
	d.call(ctx, cmdInRelease, []byte{0x00}, 100*time.Millisecond)
	d.call(ctx, cmdRFConfiguration, []byte{0x01, 0x00}, 100*time.Millisecond)
	t := time.NewTimer(RFReset)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	d.call(ctx, cmdRFConfiguration, []byte{0x01, 0x01}, 100*time.Millisecond)
}

// ListTarget looks for one type A card at 106 kbps; ok is false when the
// field is empty.
func (d *Device) ListTarget(ctx context.Context, timeout time.Duration) (Target, bool, error) {
	r, err := d.Call(ctx, cmdInListPassiveTarget, []byte{0x01, 0x00}, timeout)
	if err != nil {
		return Target{}, false, err
	}
	return ParseTarget(r)
}

// ParseTarget decodes InListPassiveTarget's answer (§7.3.5).
func ParseTarget(r []byte) (Target, bool, error) {
	if len(r) < 1 {
		return Target{}, false, fmt.Errorf("pn532 InListPassiveTarget: empty answer")
	}
	if r[0] == 0 {
		return Target{}, false, nil
	}
	if len(r) < 6 {
		return Target{}, false, fmt.Errorf("pn532 InListPassiveTarget: %d bytes", len(r))
	}
	t := Target{Tg: r[1], ATQA: [2]byte{r[2], r[3]}, SAK: r[4]}
	n := int(r[5])
	if n != 4 && n != 7 && n != 10 || len(r) < 6+n {
		return Target{}, false, fmt.Errorf("pn532 InListPassiveTarget: UID of %d bytes", n)
	}
	t.UID = append([]byte{}, r[6:6+n]...)
	if rest := r[6+n:]; len(rest) > 0 {
		if int(rest[0]) > len(rest) || rest[0] == 0 {
			return Target{}, false, fmt.Errorf("pn532 InListPassiveTarget: ATS length %d of %d bytes", rest[0], len(rest))
		}
		t.ATS = append([]byte{}, rest[:rest[0]]...)
	}
	return t, true, nil
}

// Exchange sends data to target tg and returns the card's answer (the
// PN532 runs ISO 14443-4 itself).
func (d *Device) Exchange(ctx context.Context, tg byte, data []byte, timeout time.Duration) ([]byte, error) {
	r, err := d.Call(ctx, cmdInDataExchange, append([]byte{tg}, data...), timeout)
	if err != nil {
		return nil, err
	}
	if len(r) < 1 {
		return nil, fmt.Errorf("pn532 InDataExchange: empty answer")
	}
	// Bit 6 (MI, more information) is not an error; bits 0-5 are.
	if st := r[0] & 0x3F; st != 0 {
		return nil, &RFError{Cmd: cmdInDataExchange, Status: st}
	}
	if r[0]&0x40 != 0 {
		return nil, fmt.Errorf("pn532 InDataExchange: chained answers are not expected from a DESFire")
	}
	return r[1:], nil
}

// Release deselects target tg (0 = all).
func (d *Device) Release(ctx context.Context, tg byte) error {
	r, err := d.Call(ctx, cmdInRelease, []byte{tg}, 100*time.Millisecond)
	if err == nil && len(r) > 0 && r[0]&0x3F != 0 {
		return &RFError{Cmd: cmdInRelease, Status: r[0] & 0x3F}
	}
	return err
}

// Card is a target as a desfire.Transceiver.
type Card struct {
	D  *Device
	Tg byte
	// Timeout bounds one card answer; DESFire commands take a few ms,
	// writes up to ~100 ms.
	Timeout time.Duration
}

// Transceive implements desfire.Transceiver.
func (c Card) Transceive(ctx context.Context, frame []byte) ([]byte, error) {
	t := c.Timeout
	if t <= 0 {
		t = 500 * time.Millisecond
	}
	return c.D.Exchange(ctx, c.Tg, frame, t)
}
