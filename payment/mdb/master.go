package mdb

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Transport moves blocks on an MDB bus: a Linux UART with 9-bit
// emulation, an MDB adapter that owns the ninth bit, or the simulator.
type Transport interface {
	// Send transmits a VMC block and returns the peripheral's reply;
	// ErrTimeout when nothing came within the response time.
	Send(ctx context.Context, block []Word) (Reply, error)
	// Answer sends ACK, NAK or RET (without the mode bit) after a data reply.
	Answer(code byte) error
}

// ErrTimeout is a peripheral that did not answer within the response time.
var ErrTimeout = errors.New("mdb: no response")

// ErrLink is a transport whose serial port failed (unplugged, I/O error):
// nothing goes through it until the port is opened again.
var ErrLink = errors.New("mdb: serial port lost")

// Restarter is a transport that can put its adapter back into the mode
// the VMC needs.
type Restarter interface {
	Restart(ctx context.Context) error
}

// State is the reader's state as the VMC tracks it (§7.2).
type State int

// Reader states.
const (
	Inactive State = iota
	Disabled
	Enabled
	SessionIdle
	Vend
)

// String names the state as §7.2 does.
func (s State) String() string {
	return [...]string{"inactive", "disabled", "enabled", "session idle", "vend"}[s]
}

// Identity is what the VMC tells the reader about itself (EXPANSION
// REQUEST ID) and its display (SETUP config).
type Identity struct {
	Level        byte // 1, 2 or 3
	DisplayCols  byte
	DisplayRows  byte
	DisplayType  byte
	Manufacturer [3]byte
	Serial       [12]byte
	Model        [12]byte
	Software     uint16
	// MaxPrice and MinPrice are the price range in scaled units;
	// 0xFFFF/0 is "unknown".
	MaxPrice, MinPrice uint16
	// Options are the level-3 options this VMC can use (Opt*); only those
	// the reader offers too are enabled.
	Options uint32
}

// Level-3 option bits of PERIPHERAL ID and EXPANSION ENABLE OPTIONS (§7.4.18).
const (
	OptFTL           uint32 = 1 << 0
	Opt32BitMoney    uint32 = 1 << 1
	OptMultiCurrency uint32 = 1 << 2
	OptNegativeVend  uint32 = 1 << 3
	OptDataEntry     uint32 = 1 << 4
	OptAlwaysIdle    uint32 = 1 << 5
)

// Master is the VMC side of one cashless device.
type Master struct {
	T    Transport
	Addr byte // Cashless1 or Cashless2
	ID   Identity
	// Poll is the pause between POLLs while waiting for a reply.
	Poll time.Duration
	// Tries bounds the POLLs waiting for one reply (and the RESETs
	// waiting for an ACK) during initialisation.
	Tries int

	State  State
	Config ReaderConfig
	Periph PeripheralID
	// Warnings are the spec deviations the reader showed (logged by the caller).
	Warnings []string
	// Enabled are the level-3 options in force (both sides offer them).
	Enabled uint32
	// NeedReset is set by OUT OF SEQUENCE: the reader must be reset and
	// set up again. NeedSetup is set by a JUST RESET the reader sent by
	// itself: set it up again without a RESET (App.3 p.A3•11).
	NeedReset, NeedSetup bool
	// Offline is set when the reader has not answered for its
	// non-response time; Recover then RESETs it every ResetEvery.
	Offline bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	lastAnswer, lastReset time.Time
	// inbox holds the messages a reader put in the immediate response to
	// a command (READER CONFIG to SETUP config, VEND APPROVED to VEND
	// REQUEST, ...; §7.3: data may come at once or on a later POLL). The
	// next PollOnce or power-up wait takes them before it POLLs.
	inbox []Msg
	// silent counts the commands in a row a reader that had answered left
	// unanswered (see silence).
	silent int
	// restartFailed: the last restart of this silent streak failed.
	restartFailed bool
	// ending is when SESSION COMPLETE was sent; END SESSION must follow
	// within the non-response time or the reader is reset (§7.4.9).
	ending time.Time
}

// Non-response handling (§2.2, §3.6): a single 5 ms timeout is only a NAK;
// a reader silent for its non-response time (Z7, or 5 s) is offline and is
// RESET every 10 s until it answers.
const (
	DefaultNonResponse = 5 * time.Second
	ResetEvery         = 10 * time.Second
)

func (m *Master) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// nonResponse is the reader's own time (Z7) or the default.
func (m *Master) nonResponse() time.Duration {
	if m.Config.MaxResponse > 0 {
		return m.Config.MaxResponse
	}
	return DefaultNonResponse
}

func (m *Master) cmd(c byte) byte { return m.Addr | c }

// context is the message-length context for this reader.
func (m *Master) context() Context {
	lvl := m.Config.Level
	if lvl == 0 {
		lvl = 1
	}
	return Context{Level: lvl, VMCLevel3: m.ID.Level >= 3, Expanded: m.Enabled&Opt32BitMoney != 0,
		DisplayCells: int(m.ID.DisplayCols) * int(m.ID.DisplayRows)}
}

// send transmits a command and returns its reply's messages (a data reply
// is acknowledged first); an ACK is no messages.
func (m *Master) send(ctx context.Context, c byte, data ...byte) ([]Msg, error) {
	b, err := Block(m.cmd(c), data...)
	if err != nil {
		return nil, err
	}
	r, err := m.T.Send(ctx, b)
	if err == nil {
		m.lastAnswer, m.Offline, m.silent = m.now(), false, 0
	} else if errors.Is(err, ErrTimeout) && !m.lastAnswer.IsZero() && m.now().Sub(m.lastAnswer) >= m.nonResponse() {
		m.Offline, m.State = true, Inactive
	}
	if errors.Is(err, ErrAdapterRestarted) {
		m.silent = 0
		m.Warnings = append(m.Warnings, err.Error())
	} else if errors.Is(err, ErrTimeout) && !m.lastAnswer.IsZero() {
		m.silence(ctx)
	}
	var ce *ChecksumError
	if errors.As(err, &ce) {
		// The reader keeps an unacknowledged reply for the next POLL.
		m.T.Answer(NAK)
	}
	if err != nil {
		return nil, err
	}
	switch r.Kind {
	case ReplyNAK:
		return nil, fmt.Errorf("mdb: command %02X NAKed", m.cmd(c))
	case ReplyACK:
		return nil, nil
	}
	if err := m.T.Answer(ACK); err != nil {
		return nil, err
	}
	msgs, warn := ParsePoll(r.Data, m.context())
	m.Warnings = append(m.Warnings, warn...)
	return msgs, nil
}

// restartAfter is how many commands in a row a reader that was answering
// may leave unanswered before the adapter is put back into master mode: a
// Pi HAT that rebooted answers p,NACK to everything, which looks like a
// silent reader until its non-response time (up to 255 s) has passed.
const restartAfter = 3

// silence counts a command the reader left unanswered and restarts an
// adapter (a Restarter transport) at every restartAfter-th in a row: an
// adapter still booting at the first try gets another.
func (m *Master) silence(ctx context.Context) {
	m.silent++
	if m.silent%restartAfter != 0 {
		return
	}
	rs, ok := m.T.(Restarter)
	if !ok {
		return
	}
	// Warned when something changes: the first restart of a silent
	// streak, and a restart that works after one failed. A reader that
	// stays silent for its whole non-response time would otherwise raise
	// a warning every third POLL (hundreds), where one says it all.
	first := m.silent == restartAfter
	if first {
		m.restartFailed = false
	}
	if err := rs.Restart(ctx); err != nil {
		if first {
			m.Warnings = append(m.Warnings, fmt.Sprintf("%d commands unanswered; adapter restart failed (tried again every %d): %v", m.silent, restartAfter, err))
		}
		m.restartFailed = true
		return
	}
	if first || m.restartFailed {
		m.Warnings = append(m.Warnings, fmt.Sprintf("%d commands unanswered: adapter restarted, master mode set again", m.silent))
	}
	m.restartFailed = false
}

// command sends a command other than POLL. A reader may answer it with
// data instead of ACK; those messages wait in the inbox for the next
// PollOnce, exactly as if a POLL had brought them. A damaged data reply
// was NAKed by send: the reader took the command and repeats its answer
// at the next POLL (§2.2), so the command itself went through.
func (m *Master) command(ctx context.Context, c byte, data ...byte) error {
	msgs, err := m.send(ctx, c, data...)
	var ce *ChecksumError
	if errors.As(err, &ce) {
		return nil
	}
	if err != nil {
		return err
	}
	m.inbox = append(m.inbox, msgs...)
	if n := len(m.inbox) - maxInbox; n > 0 {
		// Nobody has polled for a long run of commands: keep the newest.
		m.Warnings = append(m.Warnings, fmt.Sprintf("%d immediate reply messages never read, dropped", n))
		m.inbox = append([]Msg(nil), m.inbox[n:]...)
	}
	return nil
}

// maxInbox bounds the messages immediate responses may leave unread.
const maxInbox = 32

// Queued says whether messages from an immediate response wait for the
// next PollOnce (which then hands them out without a POLL on the bus).
func (m *Master) Queued() bool { return len(m.inbox) > 0 }

// next is the next reply's messages: what immediate responses left in the
// inbox, else one POLL's.
func (m *Master) next(ctx context.Context) ([]Msg, error) {
	if len(m.inbox) > 0 {
		msgs := m.inbox
		m.inbox = nil
		return msgs, nil
	}
	return m.send(ctx, CmdPoll)
}

// pollFor POLLs until a message with code arrives (it may be waiting in
// the inbox already, from an immediate response). Messages before it are
// dropped, as power-up has no use for them; messages after it in the same
// reply stay in the inbox for whoever reads next.
func (m *Master) pollFor(ctx context.Context, code byte) (Msg, error) {
	for try := 0; try < m.tries(); try++ {
		msgs, err := m.next(ctx)
		var ce *ChecksumError
		if err != nil && !errors.Is(err, ErrTimeout) && !errors.As(err, &ce) {
			return nil, err
		}
		for i, msg := range msgs {
			if msg.Code() == code {
				m.inbox = append(msgs[i+1:len(msgs):len(msgs)], m.inbox...)
				return msg, nil
			}
		}
		if err := sleep(ctx, m.Poll); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("mdb: no %02X reply after %d polls", code, m.tries())
}

func (m *Master) tries() int {
	if m.Tries <= 0 {
		return 50
	}
	return m.Tries
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Init runs the power-up sequence (App.3 p.A3•12): RESET until ACKed, POLL
// until JUST RESET, SETUP config, POLL until READER CONFIG, SETUP prices,
// EXPANSION REQUEST ID, POLL until PERIPHERAL ID, READER ENABLE.
func (m *Master) Init(ctx context.Context) error {
	m.State, m.Config, m.Periph, m.inbox = Inactive, ReaderConfig{}, PeripheralID{}, nil
	acked := false
	for try := 0; try < m.tries() && !acked; try++ {
		err := m.command(ctx, CmdReset)
		switch {
		case err == nil:
			acked = true
		case errors.Is(err, ErrTimeout):
			if err := sleep(ctx, m.Poll); err != nil {
				return err
			}
		default:
			return err
		}
	}
	if !acked {
		return fmt.Errorf("mdb: reader %02X does not answer RESET", m.Addr)
	}
	if _, err := m.pollFor(ctx, RspJustReset); err != nil {
		return err
	}
	return m.setUp(ctx)
}

// setUp is the power-up sequence after JUST RESET.
func (m *Master) setUp(ctx context.Context) error {
	m.State, m.Config, m.Periph, m.Enabled, m.inbox = Inactive, ReaderConfig{}, PeripheralID{}, 0, nil
	id := m.ID
	if err := m.command(ctx, CmdSetup, SetupConfig, id.Level, id.DisplayCols, id.DisplayRows, id.DisplayType); err != nil {
		return fmt.Errorf("mdb: SETUP config: %w", err)
	}
	cfg, err := m.pollFor(ctx, RspReaderConfig)
	if err != nil {
		return err
	}
	m.Config = cfg.(ReaderConfig)
	m.State = Disabled
	if err := m.command(ctx, CmdSetup, SetupPrices, byte(id.MaxPrice>>8), byte(id.MaxPrice), byte(id.MinPrice>>8), byte(id.MinPrice)); err != nil {
		return fmt.Errorf("mdb: SETUP prices: %w", err)
	}
	req := append([]byte{ExpRequestID}, id.Manufacturer[:]...)
	req = append(append(append(req, id.Serial[:]...), id.Model[:]...), byte(id.Software>>8), byte(id.Software))
	if err := m.command(ctx, CmdExpansion, req...); err != nil {
		return fmt.Errorf("mdb: EXPANSION REQUEST ID: %w", err)
	}
	pid, err := m.pollFor(ctx, RspPeripheralID)
	if err != nil {
		return err
	}
	m.Periph = pid.(PeripheralID)
	if err := m.options(ctx); err != nil {
		return err
	}
	return m.Enable(ctx, true)
}

// options enables the level-3 options both sides have (only when both are
// at level 3, §2.4.4) and, with 32-bit money, sends the price range again
// in the expanded format.
func (m *Master) options(ctx context.Context) error {
	if m.ID.Level < 3 || m.Config.Level < 3 {
		return nil
	}
	on := m.ID.Options & m.Periph.Options
	if on == 0 {
		return nil
	}
	if err := m.command(ctx, CmdExpansion, ExpOptions, byte(on>>24), byte(on>>16), byte(on>>8), byte(on)); err != nil {
		return fmt.Errorf("mdb: EXPANSION ENABLE OPTIONS: %w", err)
	}
	m.Enabled = on
	if on&Opt32BitMoney != 0 {
		maxP, minP := uint32(0xFFFFFFFF), uint32(m.ID.MinPrice)
		if m.ID.MaxPrice != 0xFFFF {
			maxP = uint32(m.ID.MaxPrice)
		}
		cur := m.Config.Currency
		if err := m.command(ctx, CmdSetup, SetupPrices, byte(maxP>>24), byte(maxP>>16), byte(maxP>>8), byte(maxP),
			byte(minP>>24), byte(minP>>16), byte(minP>>8), byte(minP), byte(cur>>8), byte(cur)); err != nil {
			return fmt.Errorf("mdb: SETUP prices (expanded): %w", err)
		}
	}
	return nil
}

// Enable sends READER ENABLE or DISABLE.
func (m *Master) Enable(ctx context.Context, on bool) error {
	c := ReaderOff
	if on {
		c = ReaderOn
	}
	if err := m.command(ctx, CmdReader, c); err != nil {
		return fmt.Errorf("mdb: READER %s: %w", map[bool]string{true: "ENABLE", false: "DISABLE"}[on], err)
	}
	if on && m.State == Disabled {
		m.State = Enabled
	}
	if !on && m.State == Enabled {
		m.State = Disabled
	}
	return nil
}

// PollOnce sends one POLL and returns its messages, following the state
// machine (BEGIN SESSION, END SESSION, ...).
func (m *Master) PollOnce(ctx context.Context) ([]Msg, error) {
	msgs, err := m.next(ctx)
	for _, msg := range msgs {
		m.follow(msg)
	}
	if !m.ending.IsZero() && m.now().Sub(m.ending) >= m.nonResponse() {
		m.ending, m.NeedReset = time.Time{}, true
		m.Warnings = append(m.Warnings, "no END SESSION within the non-response time after SESSION COMPLETE: reset")
	}
	return msgs, err
}

func (m *Master) follow(msg Msg) {
	switch msg.Code() {
	case RspBeginSession:
		if m.State == Enabled {
			m.State = SessionIdle
		}
	case RspVendApproved, RspVendDenied:
		if m.State == Vend {
			m.State = SessionIdle
		}
	case RspEndSession:
		m.State, m.ending = Enabled, time.Time{}
	case RspCancelled:
		if m.State == SessionIdle || m.State == Vend {
			m.State = Enabled
		}
	case RspJustReset:
		m.State, m.NeedSetup = Inactive, true
	case RspOutOfSequence:
		m.NeedReset = true
	}
}

// Resume counts the reader's silence afresh from now: its serial port was
// reopened, and the reader, which kept its power, is POLLed before it is
// reset, so that what it holds (an open vend) is settled with it. Only its
// JUST RESET or its silence for the non-response time leads to a reset.
func (m *Master) Resume() {
	m.lastAnswer, m.Offline = m.now(), false
	if !m.ending.IsZero() {
		m.ending = m.now() // END SESSION may not have had its chance
	}
}

// Recover brings a reader back after OUT OF SEQUENCE (RESET and the whole
// power-up sequence) or its own JUST RESET (the sequence without RESET).
func (m *Master) Recover(ctx context.Context) error {
	switch {
	case m.Offline:
		if !m.lastReset.IsZero() && m.now().Sub(m.lastReset) < ResetEvery {
			return nil
		}
		m.lastReset = m.now()
		// An adapter that lost its master mode makes any reader look
		// silent: set it again before the RESET.
		if rs, ok := m.T.(Restarter); ok {
			if err := rs.Restart(ctx); err != nil {
				return fmt.Errorf("mdb: before resetting the offline reader: %w", err)
			}
		}
		if err := m.Init(ctx); err != nil {
			return err
		}
		m.Offline = false
		return nil
	case m.NeedReset:
		m.NeedReset, m.NeedSetup = false, false
		return m.Init(ctx)
	case m.NeedSetup:
		m.NeedSetup = false
		return m.setUp(ctx)
	}
	return nil
}

// VendRequest asks to sell item at price (scaled units; more than 16
// bits only with the 32-bit option in force). With "always idle" enabled
// it may be sent without a session.
func (m *Master) VendRequest(ctx context.Context, price uint32, item uint16) error {
	if m.State != SessionIdle && !(m.State == Enabled && m.Enabled&OptAlwaysIdle != 0) {
		return fmt.Errorf("mdb: VEND REQUEST in state %s", m.State)
	}
	data, err := m.priceItem(VendRequest, price, item)
	if err != nil {
		return err
	}
	if err := m.command(ctx, CmdVend, data...); err != nil {
		if errors.Is(err, ErrTimeout) || errors.Is(err, ErrLink) {
			// The reader may have taken it (its reply lost): it is in Vend
			// until it answers or VEND CANCEL withdraws the request.
			m.State = Vend
		}
		return err
	}
	m.State = Vend
	return nil
}

// VendSuccess reports the item delivered.
func (m *Master) VendSuccess(ctx context.Context, item uint16) error {
	return m.command(ctx, CmdVend, VendSuccess, byte(item>>8), byte(item))
}

// ErrRefundFailed is a reader that could not give the money back after
// VEND FAILURE (MALFUNCTION C-).
var ErrRefundFailed = errors.New("mdb: the reader reports the refund failed")

// ErrRefundUnconfirmed is a VEND FAILURE the reader acknowledged without
// confirming the refund within its non-response time (§7.4.8).
var ErrRefundUnconfirmed = errors.New("mdb: VEND FAILURE acknowledged, refund not confirmed")

// ErrRefundInterrupted is a VEND FAILURE the reader acknowledged whose
// confirming POLLs were cut off (the port lost, the caller stopping): the
// reader has neither confirmed nor refused the refund yet, so the vend
// stays open and ConfirmRefund takes the POLLs up again later.
var ErrRefundInterrupted = errors.New("mdb: VEND FAILURE acknowledged, refund confirmation interrupted")

// VendFailure reports the item not delivered, then POLLs for the refund
// (§7.4.8): an empty answer (ACK) is refunded, MALFUNCTION 0xC- is a failed
// refund (ErrRefundFailed), silence is a refund in progress until the
// non-response time (ErrRefundUnconfirmed), a port lost or ctx ended
// before either is ErrRefundInterrupted. A VEND FAILURE that times out
// is sent again until the non-response time (a lost reply is only a NAK,
// §2.2); any other error is one the reader never got, to be tried again
// later. Other messages the POLLs bring (END SESSION, ...) stay in the
// inbox for the caller.
func (m *Master) VendFailure(ctx context.Context) error {
	if err := m.deliver(ctx, CmdVend, VendFailure); err != nil {
		return fmt.Errorf("mdb: VEND FAILURE not delivered: %w", err)
	}
	if m.State == Vend {
		m.State = SessionIdle
	}
	return m.ConfirmRefund(ctx)
}

// ConfirmRefund POLLs a reader that has acknowledged VEND FAILURE until it
// confirms the refund, refuses it or its non-response time passes, with
// the outcomes of VendFailure; called alone, it resumes the POLLs that an
// ErrRefundInterrupted cut off.
func (m *Master) ConfirmRefund(ctx context.Context) error {
	var kept []Msg
	defer func() {
		if len(kept) > 0 {
			m.inbox = append(kept, m.inbox...)
		}
	}()
	start := m.now()
	for {
		msgs, err := m.PollOnce(ctx)
		var ce *ChecksumError
		switch {
		case err == nil && len(msgs) == 0:
			return nil
		case err == nil || errors.Is(err, ErrTimeout) || errors.As(err, &ce):
		case errors.Is(err, ErrLink) || ctx.Err() != nil:
			return fmt.Errorf("%w: %w", ErrRefundInterrupted, err)
		default:
			return fmt.Errorf("%w: %w", ErrRefundUnconfirmed, err)
		}
		for _, msg := range msgs {
			if f, ok := msg.(Malfunction); ok && f.Error&0xF0 == 0xC0 {
				return fmt.Errorf("%w (code %02X)", ErrRefundFailed, f.Error)
			}
			kept = append(kept, msg)
		}
		if m.now().Sub(start) >= m.nonResponse() {
			return fmt.Errorf("%w within %s", ErrRefundUnconfirmed, m.nonResponse())
		}
		if err := sleep(ctx, m.Poll); err != nil {
			return fmt.Errorf("%w: %w", ErrRefundInterrupted, err)
		}
	}
}

// deliver sends a command the reader must get, again after each timeout
// until the reader's non-response time has passed.
func (m *Master) deliver(ctx context.Context, c byte, data ...byte) error {
	start := m.now()
	for {
		err := m.command(ctx, c, data...)
		if err == nil || !errors.Is(err, ErrTimeout) || m.now().Sub(start) >= m.nonResponse() {
			return err
		}
		if err := sleep(ctx, m.Poll); err != nil {
			return err
		}
	}
}

// SessionComplete ends the session; END SESSION must follow on a POLL
// within the non-response time, or PollOnce asks for a reset (§7.4.9).
func (m *Master) SessionComplete(ctx context.Context) error {
	if err := m.command(ctx, CmdVend, VendComplete); err != nil {
		return err
	}
	m.ending = m.now()
	return nil
}

// VendCancel withdraws a VEND REQUEST the reader has not answered yet; the
// reader answers VEND DENIED (§7.4.6).
func (m *Master) VendCancel(ctx context.Context) error {
	if m.State != Vend {
		return fmt.Errorf("mdb: VEND CANCEL in state %s", m.State)
	}
	return m.command(ctx, CmdVend, VendCancel)
}

// ErrNoCashSale is a reader that did not announce CASH SALE in its config.
var ErrNoCashSale = errors.New("mdb: the reader does not take CASH SALE")

// OptReaderCashSale is READER CONFIG's option bit for CASH SALE (Z8 b3).
const OptReaderCashSale byte = 1 << 3

// CashSale tells the reader about a sale paid in cash, so its own audit
// holds every sale (§7.4.10); only readers that announce it get one.
func (m *Master) CashSale(ctx context.Context, price uint32, item uint16) error {
	if m.Config.Options&OptReaderCashSale == 0 {
		return ErrNoCashSale
	}
	data, err := m.priceItem(VendCashSale, price, item)
	if err != nil {
		return err
	}
	return m.command(ctx, CmdVend, data...)
}

// priceItem encodes a VEND sub-command's price (16 bits, or 32 with the
// option in force) and item number.
func (m *Master) priceItem(sub byte, price uint32, item uint16) ([]byte, error) {
	data := []byte{sub}
	if m.Enabled&Opt32BitMoney != 0 {
		data = append(data, byte(price>>24), byte(price>>16))
	} else if price > 0xFFFF {
		return nil, fmt.Errorf("mdb: price %d needs the 32-bit option, which this reader has not enabled", price)
	}
	return append(data, byte(price>>8), byte(price), byte(item>>8), byte(item)), nil
}

// ReaderCancel asks the reader to abandon what it is doing (waiting for a
// card after an "always idle" VEND REQUEST, say); it answers CANCELLED.
func (m *Master) ReaderCancel(ctx context.Context) error {
	return m.command(ctx, CmdReader, ReaderCancel)
}
