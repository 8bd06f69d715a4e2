package nfcsim

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/tapagent/tapagent/nfc/pn532"
)

// Timing is how long a simulated reader takes; the zero value is instant.
type Timing struct {
	// Baud is the host line's speed: every byte costs 10 bits each way.
	Baud int
	// Card is what the card takes to answer a command, on top of the RF
	// transfer (106 kbit/s, about 94 µs a byte).
	Card time.Duration
	// EmptyPoll is the longest InListPassiveTarget looks before it
	// reports an empty field when its retries are limited
	// (RFConfiguration item 5).
	EmptyPoll time.Duration
	// Attempt is one passive activation attempt: a look with limited
	// retries takes retries+1 of them (at most EmptyPoll), and with
	// retries 0xFF (the chip's own polling) a card that lands is seen at
	// the next attempt.
	Attempt time.Duration
}

// Realistic is a PN532 on a 115200-baud UART with a DESFire EV1: about
// 2 ms per card command (AES operations and EEPROM reads), 30 ms for a
// poll of an empty field, a 5 ms cycle of the chip's own polling.
var Realistic = Timing{Baud: 115200, Card: 2 * time.Millisecond, EmptyPoll: 30 * time.Millisecond, Attempt: 5 * time.Millisecond}

// Reader is a simulated PN532 with at most one card in its field. It
// speaks the PN532's frames on a serial line (the slave side of a
// pseudo-terminal), so the driver under test is the one used on hardware.
//
// It plays what a real chip may do to its host (UM0701-02 §6.2): the
// fault hooks below are set before the card is put on the reader. A
// command frame that arrives while the chip is busy waits its turn (or,
// DropWhileBusy, is lost); the host's ACK aborts the command in progress.
type Reader struct {
	T Timing
	// RFError, when set, returns a status (e.g. 0x01 timeout, 0x02 CRC)
	// to answer an InDataExchange carrying a command with instead of
	// passing it to the card; 0 passes it.
	RFError func(cmd byte) byte
	// LoseAnswer, when it returns true for a command, passes the command
	// to the card but loses its answer on the way back (an RF timeout).
	LoseAnswer func(cmd byte) bool
	// LateAck delays the ACK of a PN532 command (by code: 0x40
	// InDataExchange, 0x4A InListPassiveTarget ...), e.g. beyond the
	// host's ACK timeout; the command still runs.
	LateAck func(code byte) time.Duration
	// LateAnswer delays the answer of a PN532 command after it ran (the
	// card has done it): a host that gives up first aborts it with ACK.
	LateAnswer func(code byte) time.Duration
	// KeepAborted: an answer that was ready when the host's abort came is
	// still sent (a stray answer), instead of dropped. The manual allows
	// both, depending on where the chip was.
	KeepAborted bool
	// Miss, when it returns true, makes one look at the field miss the
	// card in it (an RF glitch during activation).
	Miss func() bool
	// DropWhileBusy: a command frame that arrives while the chip is busy
	// is lost instead of waiting its turn (only the host's ACK, an abort,
	// is heard). Both are seen on chips and bridges.
	DropWhileBusy bool
	// Stall is a chip starved of time (a busy USB bridge, a slow MCU): an
	// extra pause before each ACK and each answer.
	Stall func() time.Duration
	// States plays the card's ISO 14443-3 states instead of activating
	// it at every poll: a card the chip activated is ACTIVE and answers
	// no poll until the field goes off (or it leaves); one released
	// (InRelease: DESELECT) is HALTed and answers only WUPA; switching the
	// field off powers it down to IDLE. WakeHalted chooses the poll: WUPA
	// (halted cards answer) or REQA (only idle ones do); chips and
	// firmware differ, both occur.
	States, WakeHalted bool

	mu      sync.Mutex
	state   cardState
	card    *Card
	arrived chan struct{} // closed when a card is put in the field
	field   bool
	retries byte   // MxRtyPassiveActivation; 0xFF (forever) until the host sets it
	asleep  bool   // reset and not yet configured (SAMConfiguration)
	last    []byte // last answer, for NACK
	aborts  int
	bytes   int64 // bytes on the host line, both ways
	empties int   // looks at the field (InListPassiveTarget polls) that found it empty
}

// cardState is the card's ISO 14443-3 state (with States).
type cardState int

const (
	stateIdle cardState = iota
	stateActive
	stateHalt
)

// answers reports whether the card answers the chip's poll (r.mu held).
func (r *Reader) answers() bool {
	return !r.States || r.state == stateIdle || r.state == stateHalt && r.WakeHalted
}

// Bytes counts the bytes on the host line so far, both ways.
func (r *Reader) Bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// Put places a card in the field (replacing any).
func (r *Reader) Put(c *Card) {
	r.mu.Lock()
	r.card, r.state = c, stateIdle
	if r.arrived != nil {
		close(r.arrived)
		r.arrived = nil
	}
	r.mu.Unlock()
}

// Remove takes the card away.
func (r *Reader) Remove() {
	r.mu.Lock()
	r.card = nil
	r.mu.Unlock()
}

// Reset is the chip restarting under its host (a brown-out, a watchdog):
// its settings are back at their defaults (passive retries 0xFF, the
// chip's own polling) and, until the host sends SAMConfiguration again,
// it acknowledges no command but GetFirmwareVersion and SAMConfiguration
// (UM0701-02 §7.2.10: the chip starts in low-power mode, where other
// frames are lost).
func (r *Reader) Reset() {
	r.mu.Lock()
	r.retries, r.asleep = 0xFF, true
	r.mu.Unlock()
}

// Aborts counts the commands the host aborted with an ACK.
func (r *Reader) Aborts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.aborts
}

// EmptyLooks counts the host's looks at the field (each InListPassiveTarget
// poll, every attempt of a chip that polls until a card comes) that found
// no card in it: a test sees from it that the host noticed a card leave.
func (r *Reader) EmptyLooks() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.empties
}

// Firmware is what GetFirmwareVersion answers: PN532 v1.6, the usual boards.
var Firmware = []byte{0x32, 0x01, 0x06, 0x07}

var (
	ackFrame   = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nackFrame  = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	errorFrame = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
)

// hostFrame is one frame from the host, or the line's end.
type hostFrame struct {
	f   pn532.Frame
	err error
}

// Serve answers frames on port until ctx ends or the port fails.
func (r *Reader) Serve(ctx context.Context, port io.ReadWriter) error {
	r.mu.Lock()
	r.retries = 0xFF
	r.mu.Unlock()
	in := make(chan hostFrame, 16)
	go func() {
		defer close(in)
		br := bufio.NewReader(port)
		for {
			f, err := pn532.ReadFrame(br)
			select {
			case in <- hostFrame{f: f, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil && !errors.Is(err, pn532.ErrChecksum) {
				return
			}
		}
	}()
	s := &serving{r: r, port: port, in: in}
	for ctx.Err() == nil {
		h, err := s.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.handle(ctx, h)
	}
	return nil
}

// serving is one Serve's line: frames from the host and those that came
// while the chip was busy.
type serving struct {
	r       *Reader
	port    io.Writer
	in      chan hostFrame
	waiting []hostFrame
}

func (s *serving) next(ctx context.Context) (hostFrame, error) {
	if len(s.waiting) > 0 {
		h := s.waiting[0]
		s.waiting = s.waiting[1:]
		return h, nil
	}
	select {
	case <-ctx.Done():
		return hostFrame{}, ctx.Err()
	case h, ok := <-s.in:
		if !ok || h.err != nil && !errors.Is(h.err, pn532.ErrChecksum) {
			if h.err == nil {
				h.err = io.EOF
			}
			return hostFrame{}, h.err
		}
		return h, nil
	}
}

func (s *serving) handle(ctx context.Context, h hostFrame) {
	r := s.r
	if h.err != nil {
		r.write(s.port, nackFrame) // damaged: say it again
		return
	}
	f := h.f
	r.wire(len(f.Data) + 7)
	switch {
	case f.Kind == pn532.Ack:
		// Nothing in progress: an abort of nothing.
	case f.Kind == pn532.Nack:
		r.mu.Lock()
		last := r.last
		r.mu.Unlock()
		if last != nil {
			r.write(s.port, last)
		}
	case f.Kind == pn532.Info && len(f.Data) >= 2 && f.Data[0] == 0xD4:
		s.run(ctx, f.Data[1], f.Data[2:])
	case f.Kind == pn532.Info:
		r.write(s.port, errorFrame)
	}
}

// run carries out one command: ACK (perhaps late), the command, the
// answer (perhaps late, perhaps aborted by the host).
func (s *serving) run(ctx context.Context, code byte, p []byte) {
	r := s.r
	r.mu.Lock()
	asleep := r.asleep && code != 0x02 && code != 0x14
	r.mu.Unlock()
	if asleep {
		return // lost: not even an ACK
	}
	if !s.pause(ctx, r.delay(r.LateAck, code)) {
		return // aborted before it began
	}
	r.write(s.port, ackFrame)
	out, ok, aborted := s.command(ctx, code, p)
	if aborted {
		return
	}
	frame := errorFrame
	if ok {
		frame, _ = pn532.Encode(0xD5, append([]byte{code + 1}, out...))
	}
	if !s.pause(ctx, r.delay(r.LateAnswer, code)) && !r.KeepAborted {
		return
	}
	r.mu.Lock()
	r.last = frame
	r.mu.Unlock()
	r.write(s.port, frame)
}

func (r *Reader) delay(hook func(byte) time.Duration, code byte) time.Duration {
	var d time.Duration
	if hook != nil {
		d = hook(code)
	}
	if r.Stall != nil {
		d += r.Stall()
	}
	return d
}

// pause waits d, watching the line: the host's ACK aborts (false), other
// frames wait their turn.
func (s *serving) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	return s.watch(ctx, t.C, nil)
}

// watch waits for done (or arrived, when set) and reports false if the
// host aborted first.
func (s *serving) watch(ctx context.Context, done <-chan time.Time, arrived <-chan struct{}) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-done:
			return true
		case <-arrived:
			return true
		case h, ok := <-s.in:
			if !ok {
				return false
			}
			if h.err == nil && h.f.Kind == pn532.Ack {
				s.r.mu.Lock()
				s.r.aborts++
				s.r.mu.Unlock()
				return false
			}
			if !s.r.DropWhileBusy {
				s.waiting = append(s.waiting, h)
			}
		}
	}
}

// wire waits what n bytes take on the host line.
func (r *Reader) wire(n int) {
	r.mu.Lock()
	r.bytes += int64(n)
	r.mu.Unlock()
	if r.T.Baud > 0 {
		time.Sleep(time.Duration(n) * 10 * time.Second / time.Duration(r.T.Baud))
	}
}

func (r *Reader) write(w io.Writer, b []byte) {
	r.wire(len(b))
	w.Write(b)
}

// command runs one PN532 command; ok false is a syntax error, aborted a
// command the host aborted while it ran.
func (s *serving) command(ctx context.Context, code byte, p []byte) (out []byte, ok, aborted bool) {
	r := s.r
	r.mu.Lock()
	card := r.card
	r.mu.Unlock()
	switch code {
	case 0x02:
		return Firmware, true, false
	case 0x14:
		r.mu.Lock()
		r.asleep = false
		r.mu.Unlock()
		return nil, len(p) >= 1, false
	case 0x32:
		r.mu.Lock()
		switch {
		case len(p) >= 2 && p[0] == 0x01:
			r.field = p[1]&1 == 1
			if !r.field {
				r.state = stateIdle // unpowered, the card forgets
			}
		case len(p) >= 4 && p[0] == 0x05:
			r.retries = p[3]
		}
		r.mu.Unlock()
		return nil, len(p) >= 1, false
	case 0x4A:
		if len(p) < 2 || p[1] != 0x00 {
			return nil, false, false
		}
		out, aborted := s.list(ctx)
		return out, true, aborted
	case 0x40:
		if len(p) < 2 {
			return nil, false, false
		}
		return r.exchange(card, p[1:]), true, false
	case 0x52:
		r.mu.Lock()
		if r.state == stateActive {
			r.state = stateHalt
		}
		r.mu.Unlock()
		return []byte{0x00}, true, false
	}
	return nil, false, false
}

// list is InListPassiveTarget: with limited retries an empty field is
// reported after EmptyPoll; with retries 0xFF the chip keeps polling
// until a card comes (seen at its next attempt) or the host aborts.
func (s *serving) list(ctx context.Context) ([]byte, bool) {
	r := s.r
	for {
		r.mu.Lock()
		card, forever, retries := r.card, r.retries == 0xFF, int(r.retries)
		var arrived chan struct{}
		if card != nil && card.Gone() {
			r.state = stateIdle // its power was cut
		}
		if card == nil {
			r.empties++
		}
		if card == nil || card.Gone() || !r.answers() || r.Miss != nil && r.Miss() {
			if r.arrived == nil {
				r.arrived = make(chan struct{})
			}
			arrived = r.arrived
		}
		r.mu.Unlock()
		if arrived == nil {
			return r.activate(card), false
		}
		if !forever {
			look := r.T.EmptyPoll
			if a := r.T.Attempt * time.Duration(retries+1); a > 0 && a < look {
				look = a
			}
			if !s.pause(ctx, look) {
				return nil, true
			}
			return []byte{0x00}, false
		}
		// Poll until a card arrives; a card that was gone and is put back
		// is seen at the next attempt too.
		attempt := r.T.Attempt
		if attempt <= 0 {
			attempt = time.Millisecond
		}
		t := time.NewTimer(attempt)
		ok := s.watch(ctx, t.C, arrived)
		t.Stop()
		if !ok {
			return nil, true
		}
		if r.T.Attempt > 0 {
			// The chip sees the card at its next attempt, not at once.
			if !s.pause(ctx, time.Duration(time.Now().UnixNano()%int64(r.T.Attempt))) {
				return nil, true
			}
		}
	}
}

func (r *Reader) activate(card *Card) []byte {
	uid, atqa, sak, ats := card.Activation()
	r.mu.Lock()
	r.field, r.state = true, stateActive
	r.mu.Unlock()
	out := []byte{0x01, 0x01, atqa[0], atqa[1], sak, byte(len(uid))}
	return append(append(out, uid...), ats...)
}

// rfByte is one byte at 106 kbit/s with framing (about 10 bit times).
const rfByte = 94 * time.Microsecond

func (r *Reader) exchange(card *Card, frame []byte) []byte {
	if r.RFError != nil {
		if st := r.RFError(frame[0]); st != 0 {
			return []byte{st}
		}
	}
	if card == nil {
		return []byte{0x01}
	}
	time.Sleep(time.Duration(len(frame))*rfByte + r.T.Card)
	out := card.Handle(frame)
	if out == nil || r.LoseAnswer != nil && r.LoseAnswer(frame[0]) {
		return []byte{0x01} // timeout: the card did not answer
	}
	time.Sleep(time.Duration(len(out)) * rfByte)
	return append([]byte{0x00}, out...)
}
