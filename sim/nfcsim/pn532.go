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
	// EmptyPoll is how long InListPassiveTarget looks before it reports an
	// empty field.
	EmptyPoll time.Duration
}

// Realistic is a PN532 on a 115200-baud UART with a DESFire EV1: about
// 2 ms per card command (AES operations and EEPROM reads), 30 ms for a
// poll of an empty field.
var Realistic = Timing{Baud: 115200, Card: 2 * time.Millisecond, EmptyPoll: 30 * time.Millisecond}

// Reader is a simulated PN532 with at most one card in its field. It
// speaks the PN532's frames on a serial line (the slave side of a
// pseudo-terminal), so the driver under test is the one used on hardware.
type Reader struct {
	T Timing
	// RFError, when set, returns a status (e.g. 0x01 timeout, 0x02 CRC)
	// to answer an InDataExchange carrying a command with instead of
	// passing it to the card; 0 passes it.
	RFError func(cmd byte) byte
	// LoseAnswer, when it returns true for a command, passes the command
	// to the card but loses its answer on the way back (an RF timeout).
	LoseAnswer func(cmd byte) bool

	mu    sync.Mutex
	card  *Card
	field bool
	last  []byte // last answer, for NACK
	tgUID []byte
}

// Put places a card in the field (replacing any).
func (r *Reader) Put(c *Card) {
	r.mu.Lock()
	r.card = c
	r.mu.Unlock()
}

// Remove takes the card away.
func (r *Reader) Remove() {
	r.mu.Lock()
	r.card = nil
	r.mu.Unlock()
}

// Firmware is what GetFirmwareVersion answers: PN532 v1.6, the usual boards.
var Firmware = []byte{0x32, 0x01, 0x06, 0x07}

// Serve answers frames on port until ctx ends or the port fails.
func (r *Reader) Serve(ctx context.Context, port io.ReadWriter) error {
	br := bufio.NewReader(port)
	for ctx.Err() == nil {
		f, err := pn532.ReadFrame(br)
		if errors.Is(err, pn532.ErrChecksum) {
			r.write(port, []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}) // NACK: say it again
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		r.wire(len(f.Data) + 7)
		switch {
		case f.Kind == pn532.Nack && r.last != nil:
			r.write(port, r.last)
		case f.Kind == pn532.Info && len(f.Data) >= 2 && f.Data[0] == 0xD4:
			r.write(port, []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00})
			out, ok := r.command(f.Data[1], f.Data[2:])
			if !ok {
				r.write(port, []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00})
				continue
			}
			frame, _ := pn532.Encode(0xD5, append([]byte{f.Data[1] + 1}, out...))
			r.mu.Lock()
			r.last = frame
			r.mu.Unlock()
			r.write(port, frame)
		case f.Kind == pn532.Info:
			r.write(port, []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00})
		}
	}
	return nil
}

// wire waits what n bytes take on the host line.
func (r *Reader) wire(n int) {
	if r.T.Baud > 0 {
		time.Sleep(time.Duration(n) * 10 * time.Second / time.Duration(r.T.Baud))
	}
}

func (r *Reader) write(w io.Writer, b []byte) {
	r.wire(len(b))
	w.Write(b)
}

// command runs one PN532 command; ok false is a syntax error.
func (r *Reader) command(code byte, p []byte) ([]byte, bool) {
	r.mu.Lock()
	card := r.card
	r.mu.Unlock()
	switch code {
	case 0x02:
		return Firmware, true
	case 0x14:
		return nil, len(p) >= 1
	case 0x32:
		if len(p) >= 2 && p[0] == 0x01 {
			r.mu.Lock()
			r.field = p[1]&1 == 1
			r.mu.Unlock()
		}
		return nil, len(p) >= 1
	case 0x4A:
		if len(p) < 2 || p[1] != 0x00 {
			return nil, false
		}
		return r.list(card), true
	case 0x40:
		if len(p) < 2 {
			return nil, false
		}
		return r.exchange(card, p[1:]), true
	case 0x52:
		return []byte{0x00}, true
	}
	return nil, false
}

func (r *Reader) list(card *Card) []byte {
	if card == nil || card.Gone() {
		time.Sleep(r.T.EmptyPoll)
		return []byte{0x00}
	}
	uid, atqa, sak, ats := card.Activation()
	r.mu.Lock()
	r.field = true
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
