package mdb

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Cashless command codes (the low three bits of the address byte) and
// sub-commands (§7.4).
const (
	CmdReset     byte = 0x00
	CmdSetup     byte = 0x01
	CmdPoll      byte = 0x02
	CmdVend      byte = 0x03
	CmdReader    byte = 0x04
	CmdRevalue   byte = 0x05
	CmdExpansion byte = 0x07

	SetupConfig  byte = 0x00
	SetupPrices  byte = 0x01
	VendRequest  byte = 0x00
	VendCancel   byte = 0x01
	VendSuccess  byte = 0x02
	VendFailure  byte = 0x03
	VendComplete byte = 0x04 // SESSION COMPLETE
	VendCashSale byte = 0x05
	ReaderOff    byte = 0x00
	ReaderOn     byte = 0x01
	ReaderCancel byte = 0x02
	ExpRequestID byte = 0x00
	ExpOptions   byte = 0x04
)

// Poll reply codes (§7.4.4).
const (
	RspJustReset     byte = 0x00
	RspReaderConfig  byte = 0x01
	RspDisplay       byte = 0x02
	RspBeginSession  byte = 0x03
	RspSessionCancel byte = 0x04
	RspVendApproved  byte = 0x05
	RspVendDenied    byte = 0x06
	RspEndSession    byte = 0x07
	RspCancelled     byte = 0x08
	RspPeripheralID  byte = 0x09
	RspMalfunction   byte = 0x0A
	RspOutOfSequence byte = 0x0B
	RspRevalueOK     byte = 0x0D
	RspRevalueDenied byte = 0x0E
	RspRevalueLimit  byte = 0x0F
	RspTimeDate      byte = 0x11
	RspDiagnostic    byte = 0xFF
)

// Msg is one message of a cashless device's poll reply.
type Msg interface{ Code() byte }

// Simple is a message that is only its code (JUST RESET, VEND DENIED,
// END SESSION, CANCELLED, SESSION CANCEL REQUEST, REVALUE APPROVED/DENIED,
// TIME/DATE REQUEST).
type Simple byte

// Code implements Msg.
func (s Simple) Code() byte { return byte(s) }

// ReaderConfig is the reader's setup data (§7.4.2).
type ReaderConfig struct {
	Level       byte
	Currency    uint16 // BCD country/currency code, e.g. 0x1978 EUR
	Scale       byte   // X in P·X·10^-Y
	Decimals    byte   // Y
	MaxResponse time.Duration
	Options     byte // b0 refunds, b1 multivend, b2 own display, b3 cash sale
}

// Code implements Msg.
func (ReaderConfig) Code() byte { return RspReaderConfig }

// DisplayRequest asks the VMC to show a message.
type DisplayRequest struct {
	Time time.Duration
	Text []byte
}

// Code implements Msg.
func (DisplayRequest) Code() byte { return RspDisplay }

// BeginSession opens a session with the funds the medium holds.
type BeginSession struct {
	Funds       uint32 // scaled; 0xFFFF (0xFFFFFFFF expanded) is unknown
	MediaID     uint32
	PaymentType byte
	PaymentData uint16
	Language    uint16
	Currency    uint16
	CardOptions byte
}

// Code implements Msg.
func (BeginSession) Code() byte { return RspBeginSession }

// VendApproved is the amount the reader actually charged: the VMC books
// this amount, not the price it asked (§7.4.5).
type VendApproved struct{ Amount uint32 }

// Code implements Msg.
func (VendApproved) Code() byte { return RspVendApproved }

// PeripheralID identifies the reader (§7.4.18).
type PeripheralID struct {
	Manufacturer string
	Serial       string
	Model        string
	Software     uint16 // BCD
	Options      uint32 // level 3: b0 FTL, b1 32-bit, b2 multi-currency, b3 negative vend, b4 data entry, b5 always idle
}

// Code implements Msg.
func (PeripheralID) Code() byte { return RspPeripheralID }

// Malfunction is an error the reader reports (§7.4.4).
type Malfunction struct{ Error byte }

// Code implements Msg.
func (Malfunction) Code() byte { return RspMalfunction }

// OutOfSequence says the reader got a command it cannot take in its
// state; the VMC must reset it.
type OutOfSequence struct{ State byte }

// Code implements Msg.
func (OutOfSequence) Code() byte { return RspOutOfSequence }

// RevalueLimit is the most the reader can revalue.
type RevalueLimit struct{ Amount uint32 }

// Code implements Msg.
func (RevalueLimit) Code() byte { return RspRevalueLimit }

// Diagnostic is a manufacturer's diagnostic response (FF ...).
type Diagnostic struct{ Data []byte }

// Code implements Msg.
func (Diagnostic) Code() byte { return RspDiagnostic }

// Context is what the lengths of poll messages depend on.
type Context struct {
	// Level is the reader's feature level (1 before its config arrives).
	Level byte
	// Expanded is level 3 with 32-bit monetary format enabled.
	Expanded bool
	// VMCLevel3 adds the option bytes to PERIPHERAL ID.
	VMCLevel3 bool
	// DisplayCells is columns×rows of the VMC's display (DISPLAY REQUEST).
	DisplayCells int
}

// ParsePoll splits a poll reply into its messages, in order (§7.3.1).
// Anything after a message it cannot size is returned as a warning, not an
// error: a reader that bends the spec (a trailing FF after BEGIN SESSION)
// still gets its messages through.
func ParsePoll(b []byte, c Context) ([]Msg, []string) {
	var out []Msg
	var warn []string
	for len(b) > 0 {
		m, n, err := parseOne(b, c)
		if err != nil {
			warn = append(warn, fmt.Sprintf("% X: %v", b, err))
			break
		}
		if d, ok := m.(Diagnostic); ok && len(d.Data) == 0 {
			warn = append(warn, "empty diagnostic byte FF after a message (reader quirk), ignored")
		} else {
			out = append(out, m)
		}
		b = b[n:]
	}
	return out, warn
}

func parseOne(b []byte, c Context) (Msg, int, error) {
	need := func(n int) error {
		if len(b) < n {
			return fmt.Errorf("message %02X needs %d bytes, has %d", b[0], n, len(b))
		}
		return nil
	}
	money := 2
	if c.Expanded {
		money = 4
	}
	switch code := b[0]; code {
	case RspJustReset, RspSessionCancel, RspVendDenied, RspEndSession, RspCancelled, RspRevalueOK, RspRevalueDenied, RspTimeDate:
		return Simple(code), 1, nil
	case RspReaderConfig:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return ReaderConfig{Level: b[1], Currency: binary.BigEndian.Uint16(b[2:]), Scale: b[4], Decimals: b[5],
			MaxResponse: time.Duration(b[6]) * time.Second, Options: b[7]}, 8, nil
	case RspDisplay:
		n := 2 + c.DisplayCells
		if err := need(n); err != nil {
			return nil, 0, err
		}
		return DisplayRequest{Time: time.Duration(b[1]) * 100 * time.Millisecond, Text: append([]byte{}, b[2:n]...)}, n, nil
	case RspBeginSession:
		return beginSession(b, c)
	case RspVendApproved:
		if err := need(1 + money); err != nil {
			return nil, 0, err
		}
		return VendApproved{Amount: uintN(b[1 : 1+money])}, 1 + money, nil
	case RspPeripheralID:
		n := 30
		if c.VMCLevel3 && c.Level >= 3 {
			n = 34
		}
		if err := need(n); err != nil {
			return nil, 0, err
		}
		id := PeripheralID{Manufacturer: string(b[1:4]), Serial: string(b[4:16]), Model: string(b[16:28]),
			Software: binary.BigEndian.Uint16(b[28:30])}
		if n == 34 {
			id.Options = binary.BigEndian.Uint32(b[30:34])
		}
		return id, n, nil
	case RspMalfunction:
		if err := need(2); err != nil {
			return nil, 0, err
		}
		return Malfunction{Error: b[1]}, 2, nil
	case RspOutOfSequence:
		if c.Level >= 2 && len(b) >= 2 {
			return OutOfSequence{State: b[1]}, 2, nil
		}
		return OutOfSequence{}, 1, nil
	case RspRevalueLimit:
		if err := need(1 + money); err != nil {
			return nil, 0, err
		}
		return RevalueLimit{Amount: uintN(b[1 : 1+money])}, 1 + money, nil
	case RspDiagnostic:
		return Diagnostic{Data: append([]byte{}, b[1:]...)}, len(b), nil
	default:
		return nil, 0, fmt.Errorf("poll message %02X is not one this VMC knows", code)
	}
}

func beginSession(b []byte, c Context) (Msg, int, error) {
	n := 3
	switch {
	case c.Expanded:
		n = 17
	case c.Level >= 2:
		n = 10
	}
	if len(b) < n {
		return nil, 0, fmt.Errorf("BEGIN SESSION needs %d bytes at level %d, has %d", n, c.Level, len(b))
	}
	money := 2
	if c.Expanded {
		money = 4
	}
	s := BeginSession{Funds: uintN(b[1 : 1+money])}
	if n > 3 {
		p := 1 + money
		s.MediaID = binary.BigEndian.Uint32(b[p:])
		s.PaymentType = b[p+4]
		s.PaymentData = binary.BigEndian.Uint16(b[p+5:])
		if n == 17 {
			s.Language = binary.BigEndian.Uint16(b[p+7:])
			s.Currency = binary.BigEndian.Uint16(b[p+9:])
			s.CardOptions = b[p+11]
		}
	}
	return s, n, nil
}

func uintN(b []byte) uint32 {
	var v uint32
	for _, c := range b {
		v = v<<8 | uint32(c)
	}
	return v
}

// Price scales money for the wire: P = amount / (X·10^-Y) in minor units of
// the reader's currency. It fails if the amount does not divide evenly or
// does not fit the field (16 bits, 32 with the expanded format).
func Price(amount int64, scale, decimals, minorDigits byte, expanded bool) (uint32, error) {
	if scale == 0 {
		return 0, fmt.Errorf("mdb: scale factor 0")
	}
	// amount is in 10^-minorDigits; the wire unit is scale·10^-decimals.
	num, den := amount, int64(scale)
	for d := int(minorDigits); d < int(decimals); d++ {
		num *= 10
	}
	for d := int(decimals); d < int(minorDigits); d++ {
		den *= 10
	}
	if num < 0 || num%den != 0 {
		return 0, fmt.Errorf("mdb: %d minor units is not a whole number of the reader's units (scale %d, %d decimals)", amount, scale, decimals)
	}
	p := num / den
	limit := int64(0xFFFF)
	if expanded {
		limit = 0xFFFFFFFF
	}
	if p >= limit { // all ones means "unknown" or "token"
		return 0, fmt.Errorf("mdb: price %d does not fit the reader's money field", p)
	}
	return uint32(p), nil
}

// Amount turns a wire amount back into minor units.
func Amount(p uint32, scale, decimals, minorDigits byte) int64 {
	v := int64(p) * int64(scale)
	for d := int(decimals); d < int(minorDigits); d++ {
		v *= 10
	}
	for d := int(minorDigits); d < int(decimals); d++ {
		v /= 10
	}
	return v
}
