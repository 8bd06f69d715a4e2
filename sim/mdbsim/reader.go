// Package mdbsim is a simulated MDB cashless reader (a card terminal as a
// vending machine sees it): the peripheral's state machine of MDB 4.2
// §7.2, funds on the presented card, approvals and denials, and the
// faults field readers show — slow or missing answers, bad checksums, a
// JUST RESET in the middle of a session, out-of-sequence commands.
package mdbsim

import (
	"bytes"
	"context"
	"sync"

	"github.com/tapagent/tapagent/payment/mdb"
)

// Faults make the reader misbehave; the zero value is a good reader.
type Faults struct {
	// Silent drops every command: the reader is unplugged.
	Silent bool
	// Timeouts answers the next N commands with silence.
	Timeouts int
	// BadChecksums corrupts the next N data replies.
	BadChecksums int
	// LoseReplyTo executes the next command that starts with these bytes
	// (the command with the address, then its data: {0x13, 0x00} is a VEND
	// REQUEST to 10H) and loses its reply on the wire: the VMC hears
	// nothing, and a data reply, never ACKed, is repeated at the next POLL
	// (MDB 4.2 §2.2). Nil loses nothing.
	LoseReplyTo []byte
	// Deny refuses every vend.
	Deny bool
	// TrailingFF appends the PAX D200's FF after BEGIN SESSION.
	TrailingFF bool
	// RefundFails answers VEND FAILURE with MALFUNCTION C0 (refund error).
	RefundFails bool
	// SlowApproval answers a VEND REQUEST only after this many POLLs
	// (an online authorisation), with empty answers until then.
	SlowApproval int
	// Discount is taken off every approved price: VEND APPROVED carries
	// less than was asked, as readers with loyalty schemes do.
	Discount uint32
}

// Reader is a cashless device at one address, level 1 or 2.
type Reader struct {
	mu sync.Mutex
	// Addr is the device address (mdb.Cashless1 or Cashless2).
	Addr  byte
	Level byte
	// Currency (BCD), scale and decimals of its READER CONFIG.
	Currency        uint16
	Scale, Decimals byte
	// Options are the level-3 options the reader offers (mdb.Opt*).
	Options uint32
	// CashSale announces CASH SALE support in READER CONFIG (Z8 b3).
	CashSale bool
	// MaxResponse is its non-response time in seconds (READER CONFIG
	// Z7); 0 is 30.
	MaxResponse byte
	// Immediate puts the data a command asks for in the command's own
	// response instead of ACK and the next POLL, as MDB 4.2 §7.3 allows:
	// READER CONFIG to SETUP config, PERIPHERAL ID to EXPANSION REQUEST
	// ID, VEND APPROVED/DENIED to VEND REQUEST (unless SlowApproval holds
	// the answer back), VEND DENIED to VEND CANCEL, END SESSION to SESSION
	// COMPLETE, CANCELLED to READER CANCEL. An immediate response the VMC
	// does not ACK is repeated at the next POLL.
	Immediate bool
	// StrictComplete answers SESSION COMPLETE during a vend (a VEND
	// REQUEST not answered, or approved and not ended) with OUT OF
	// SEQUENCE, as a reader may do with a command out of its state (§7.3);
	// without it the session simply ends.
	StrictComplete bool
	F              Faults

	vmcLevel byte
	enabled  uint32 // options the VMC enabled

	state    mdb.State
	pending  [][]byte // poll messages not yet delivered
	last     []byte   // last data reply, for a NAKed or lost one
	card     int32    // funds of the presented card, -1 none
	waiting  bool     // a card is held at the reader, no session yet
	vendAmt  uint32
	approved bool   // the vend in progress was approved
	told     bool   // and its VEND APPROVED went out on the bus
	delayed  []byte // an approval held back by SlowApproval
	// Log is every command the reader received, in wire notation, for tests.
	Log []string
	// Sales are the vends the reader completed (amounts in scaled units).
	Sales []uint32
	// CashSales are the CASH SALE prices the VMC reported.
	CashSales []uint32
	// Refunds are the approved amounts given back after VEND FAILURE.
	Refunds []uint32
}

// New returns a reader that has just been powered up.
func New(addr byte) *Reader {
	return &Reader{Addr: addr, Level: 1, Currency: 0x1978, Scale: 1, Decimals: 2, card: -1,
		pending: [][]byte{{mdb.RspJustReset}}}
}

// PresentCard starts a session with funds (scaled units; -1 unknown);
// a card held at a reader that is not enabled yet starts it once enabled.
func (r *Reader) PresentCard(funds int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.card, r.waiting = funds, true
	r.begin()
}

// begin opens the session of a waiting card if the reader is enabled.
func (r *Reader) begin() {
	if !r.waiting || r.state != mdb.Enabled {
		return
	}
	r.waiting = false
	var msg []byte
	if r.expanded() {
		f := uint32(0xFFFFFFFF)
		if r.card >= 0 {
			f = uint32(r.card)
		}
		msg = []byte{mdb.RspBeginSession, byte(f >> 24), byte(f >> 16), byte(f >> 8), byte(f),
			0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x65, 0x6E, byte(r.Currency >> 8), byte(r.Currency), 0x00}
	} else {
		f := uint16(0xFFFF)
		if r.card >= 0 {
			f = uint16(r.card)
		}
		msg = []byte{mdb.RspBeginSession, byte(f >> 8), byte(f)}
		if r.Level >= 2 {
			msg = append(msg, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00)
		}
	}
	if r.F.TrailingFF {
		msg = append(msg, 0xFF)
	}
	r.pending = append(r.pending, msg)
	r.state = mdb.SessionIdle
}

// PowerCycle makes the reader reset itself (a JUST RESET at the next
// POLL); an approved vend it was holding stands as a sale, as after a
// RESET from the VMC.
func (r *Reader) PowerCycle() {
	r.mu.Lock()
	r.resetVend()
	r.state, r.pending = mdb.Inactive, [][]byte{{mdb.RspJustReset}}
	r.mu.Unlock()
}

// resetVend books the vend a reset interrupted after APPROVED (§7.4.7).
func (r *Reader) resetVend() {
	// An approval never sent (still being authorised, or waiting for a
	// POLL) is no sale.
	if r.state == mdb.Vend && r.approved && r.told {
		r.Sales = append(r.Sales, r.vendAmt)
		if r.card >= 0 {
			r.card -= int32(r.vendAmt)
		}
	}
	r.approved, r.told, r.delayed = false, false, nil
}

func (r *Reader) expanded() bool { return r.enabled&mdb.Opt32BitMoney != 0 }

// State is the reader's own state.
func (r *Reader) State() mdb.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Send implements mdb.Transport.
func (r *Reader) Send(_ context.Context, block []mdb.Word) (mdb.Reply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(block) < 2 || !block[0].Mode() || block[0].Byte()&0xF8 != r.Addr {
		return mdb.Reply{}, mdb.ErrTimeout // not for us: nobody answers
	}
	data := make([]byte, len(block)-1)
	for i := range data {
		data[i] = block[i].Byte()
	}
	if mdb.Checksum(data...) != block[len(block)-1].Byte() {
		return mdb.Reply{}, mdb.ErrTimeout // a peripheral ignores a damaged block
	}
	r.Log = append(r.Log, wire(block))
	if r.F.Silent {
		return mdb.Reply{}, mdb.ErrTimeout
	}
	if r.F.Timeouts > 0 {
		r.F.Timeouts--
		return mdb.Reply{}, mdb.ErrTimeout
	}
	reply := r.command(data[0]&0x07, data[1:])
	if r.F.LoseReplyTo != nil && bytes.HasPrefix(data, r.F.LoseReplyTo) {
		r.F.LoseReplyTo = nil
		return mdb.Reply{}, mdb.ErrTimeout
	}
	if reply.Kind == mdb.ReplyData && r.F.BadChecksums > 0 {
		// What a transport reports for a reply damaged on the line; the
		// reader keeps it for the next POLL, as the spec requires.
		r.F.BadChecksums--
		sum := mdb.Checksum(reply.Data...)
		return mdb.Reply{}, &mdb.ChecksumError{Received: sum + 1, Actual: sum}
	}
	return reply, nil
}

// Answer implements mdb.Transport: an ACK clears the delivered reply, a
// NAK or RET keeps it for the next POLL.
func (r *Reader) Answer(code byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if code == mdb.ACK {
		r.last = nil
	}
	return nil
}

var ack = mdb.Reply{Kind: mdb.ReplyACK}

func (r *Reader) command(c byte, p []byte) mdb.Reply {
	switch c {
	case mdb.CmdReset:
		r.resetVend()
		r.state, r.pending, r.last = mdb.Inactive, [][]byte{{mdb.RspJustReset}}, nil
		return ack
	case mdb.CmdPoll:
		return r.poll()
	case mdb.CmdSetup:
		return r.setup(p)
	case mdb.CmdExpansion:
		if len(p) >= 1 && p[0] == mdb.ExpRequestID {
			id := append([]byte{mdb.RspPeripheralID}, "SIM"...)
			id = append(append(id, "000000000042"...), "TAPAGENT-SIM"...)
			id = append(id, 0x01, 0x00)
			if r.Level >= 3 && r.vmcLevel >= 3 {
				o := r.Options
				id = append(id, byte(o>>24), byte(o>>16), byte(o>>8), byte(o))
			}
			return r.respond(id)
		}
		if len(p) == 5 && p[0] == mdb.ExpOptions && r.Level >= 3 {
			want := uint32(p[1])<<24 | uint32(p[2])<<16 | uint32(p[3])<<8 | uint32(p[4])
			if want&^r.Options != 0 {
				return r.outOfSequence() // an option it never offered
			}
			r.enabled = want
			return ack
		}
	case mdb.CmdReader:
		return r.reader(p)
	case mdb.CmdVend:
		return r.vend(p)
	}
	return r.outOfSequence()
}

// respond hands msg to the VMC: in the command's response when the
// reader answers at once (and no earlier reply still waits for its ACK),
// else at the next POLL.
func (r *Reader) respond(msg []byte) mdb.Reply {
	if !r.Immediate || r.last != nil {
		r.pending = append(r.pending, msg)
		return ack
	}
	r.last = msg
	r.told = r.told || msg[0] == mdb.RspVendApproved
	return mdb.Reply{Kind: mdb.ReplyData, Data: append([]byte{}, msg...)}
}

func (r *Reader) outOfSequence() mdb.Reply {
	r.pending = append(r.pending, []byte{mdb.RspOutOfSequence})
	return ack
}

func (r *Reader) poll() mdb.Reply {
	if r.delayed != nil {
		if r.F.SlowApproval > 0 {
			r.F.SlowApproval--
			return ack
		}
		r.pending, r.delayed = append(r.pending, r.delayed), nil
	}
	if r.last == nil {
		if len(r.pending) == 0 {
			return ack
		}
		var out []byte
		for len(r.pending) > 0 && len(out)+len(r.pending[0]) < mdb.MaxBlock {
			r.told = r.told || r.pending[0][0] == mdb.RspVendApproved
			out = append(out, r.pending[0]...)
			r.pending = r.pending[1:]
		}
		r.last = out
	}
	return mdb.Reply{Kind: mdb.ReplyData, Data: append([]byte{}, r.last...)}
}

func (r *Reader) setup(p []byte) mdb.Reply {
	if len(p) < 1 {
		return r.outOfSequence()
	}
	switch p[0] {
	case mdb.SetupConfig:
		if r.state != mdb.Inactive && r.state != mdb.Disabled {
			return r.outOfSequence()
		}
		r.state, r.vmcLevel, r.enabled = mdb.Disabled, p[1], 0
		return r.respond([]byte{mdb.RspReaderConfig, r.Level, byte(r.Currency >> 8), byte(r.Currency),
			r.Scale, r.Decimals, r.nonResponse(), r.configOptions()})
	case mdb.SetupPrices:
	default:
		return r.outOfSequence()
	}
	return ack
}

// nonResponse is READER CONFIG's Z7 in seconds: MaxResponse, or 30.
func (r *Reader) nonResponse() byte {
	if r.MaxResponse == 0 {
		return 30
	}
	return r.MaxResponse
}

func (r *Reader) configOptions() byte {
	o := byte(0x01) // refunds
	if r.CashSale {
		o |= mdb.OptReaderCashSale
	}
	return o
}

// Display makes the reader ask the VMC to show text for secs seconds
// (DISPLAY REQUEST); text is padded or cut to the VMC's display.
func (r *Reader) Display(secs byte, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, append([]byte{mdb.RspDisplay, secs * 10}, text...))
}

// Funds is what is left on the presented card (scaled units; -1 none or unknown).
func (r *Reader) Funds() int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.card
}

func (r *Reader) reader(p []byte) mdb.Reply {
	if len(p) < 1 {
		return r.outOfSequence()
	}
	switch p[0] {
	case mdb.ReaderOn:
		if r.state == mdb.Disabled {
			r.state = mdb.Enabled
			r.begin()
		}
	case mdb.ReaderOff:
		if r.state == mdb.Enabled {
			r.state = mdb.Disabled
		}
	case mdb.ReaderCancel:
		return r.respond([]byte{mdb.RspCancelled})
	}
	return ack
}

func (r *Reader) vend(p []byte) mdb.Reply {
	if len(p) < 1 {
		return r.outOfSequence()
	}
	switch p[0] {
	case mdb.VendRequest:
		n := 5
		if r.expanded() {
			n = 7
		}
		if r.state != mdb.SessionIdle || len(p) < n {
			return r.outOfSequence()
		}
		var price uint32
		for _, b := range p[1 : n-2] {
			price = price<<8 | uint32(b)
		}
		r.state = mdb.Vend
		if r.F.Deny || r.card >= 0 && int32(price) > r.card {
			r.state = mdb.SessionIdle
			return r.respond([]byte{mdb.RspVendDenied})
		}
		price -= min(price, r.F.Discount)
		r.vendAmt, r.approved, r.told = price, true, false
		msg := []byte{mdb.RspVendApproved, byte(price >> 8), byte(price)}
		if r.expanded() {
			msg = []byte{mdb.RspVendApproved, byte(price >> 24), byte(price >> 16), byte(price >> 8), byte(price)}
		}
		if r.F.SlowApproval > 0 {
			r.delayed = msg
			return ack
		}
		return r.respond(msg)
	case mdb.VendSuccess:
		if r.state != mdb.Vend {
			return r.outOfSequence()
		}
		r.Sales = append(r.Sales, r.vendAmt)
		if r.card >= 0 {
			r.card -= int32(r.vendAmt)
		}
		r.state, r.approved, r.told = mdb.SessionIdle, false, false
	case mdb.VendFailure:
		if r.state != mdb.Vend {
			return r.outOfSequence()
		}
		r.state = mdb.SessionIdle // refunded: the next empty POLL says so
		if r.F.RefundFails {
			r.pending = append(r.pending, []byte{mdb.RspMalfunction, 0xC0})
			r.Sales = append(r.Sales, r.vendAmt)
		} else if r.approved {
			r.Refunds = append(r.Refunds, r.vendAmt)
		}
		r.approved, r.told = false, false
	case mdb.VendComplete:
		if r.state != mdb.SessionIdle && (r.state != mdb.Vend || r.StrictComplete) {
			return r.outOfSequence()
		}
		r.state = mdb.Enabled
		r.card = -1
		return r.respond([]byte{mdb.RspEndSession})
	case mdb.VendCancel:
		// Only before the answer went out (§7.4.6): an approval still
		// being authorised is withdrawn.
		if r.state == mdb.Vend && (!r.approved || r.delayed != nil) {
			r.state, r.delayed, r.approved = mdb.SessionIdle, nil, false
			return r.respond([]byte{mdb.RspVendDenied})
		}
	case mdb.VendCashSale:
		n := 5
		if r.expanded() {
			n = 7
		}
		if !r.CashSale || len(p) < n {
			return r.outOfSequence()
		}
		var price uint32
		for _, b := range p[1 : n-2] {
			price = price<<8 | uint32(b)
		}
		r.CashSales = append(r.CashSales, price)
	default:
		return r.outOfSequence()
	}
	return ack
}

func wire(ws []mdb.Word) string {
	const hexd = "0123456789ABCDEF"
	var b []byte
	for i, w := range ws {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, hexd[w.Byte()>>4], hexd[w.Byte()&15])
		if w.Mode() {
			b = append(b, '*')
		}
	}
	return string(b)
}

// Ledger is what the reader has done with money, in scaled units.
type Ledger struct {
	Sales, Refunds, CashSales []uint32
}

// Ledger returns a copy of the reader's sales, refunds and cash sales,
// safe to take while a VMC is using the reader.
func (r *Reader) Ledger() Ledger {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Ledger{Sales: append([]uint32(nil), r.Sales...), Refunds: append([]uint32(nil), r.Refunds...),
		CashSales: append([]uint32(nil), r.CashSales...)}
}

// SetFaults changes the reader's faults while a VMC may be using it.
func (r *Reader) SetFaults(f func(*Faults)) {
	r.mu.Lock()
	f(&r.F)
	r.mu.Unlock()
}
