package mdb

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.bug.st/serial"
)

// Qibixx is the serial API of the Qibixx MDB-USB interface and MDB Pi HAT
// in generic master mode (docs.qibixx.com, "Generic Master"): the adapter
// owns the ninth bit, the checksum and the bus timing; the host sends
// "R,<address+command>,<data>" lines and gets "p,ACK", "p,NACK" (no answer)
// or "p,<data>" back, and "M,1" starts master mode.
//
// Assumptions where the public documentation is silent, kept in one place:
// lines end in LF (CR LF is accepted); "p,<data>" carries the reply without
// its checksum, the adapter having checked it and acknowledged the
// peripheral itself, so Answer sends nothing; a damaged or missing reply is
// reported as "p,NACK" and taken as a timeout.
//
// An adapter that rebooted (a Pi HAT's power glitch; a USB adapter that
// re-enumerated without its port going away) is out of master mode and
// says nothing documented at start, so Send watches for what such an
// adapter can do with a request: no line at all within Timeout, or only
// lines that answer nothing (a banner, an error) — an adapter in master
// mode always answers a request with "p,". Either way it sends "M,1"
// again before anything else and reports ErrAdapterRestarted; the request
// itself counts as unanswered. A HAT without master mode may also answer
// "p,NACK" (its bus pull-up is off), which looks like a silent reader:
// Restart, which the master calls before it resets a reader it has
// marked offline, covers that. When M,1 goes unanswered too, the next
// request skips the late answers of both before it takes its own.
type Qibixx struct {
	mu      sync.Mutex
	port    Port
	tr      *timeoutReader
	r       *bufio.Reader
	Timeout time.Duration // per reply; the adapter answers within its own response timeout
	// RespTimeout is the adapter's wait for the peripheral (F,RESPTIMEOUT,
	// 10..1000 ms), set with master mode; 0 is DefaultRespTimeout.
	RespTimeout time.Duration
	// RespTimeoutSet says whether the adapter took RespTimeout the last
	// time master mode was set.
	RespTimeoutSet bool
	// behind: a request and the M,1 after it both went unanswered, so the
	// request's late "p," and M,1's "m," may still be on their way.
	behind bool
}

// ErrAdapterRestarted is an adapter found out of master mode and put back
// into it; the request that found it was not answered.
var ErrAdapterRestarted = errors.New("mdb adapter: found out of master mode (rebooted?), master mode set again")

// Port is a serial line with read timeouts.
type Port interface {
	io.ReadWriter
	SetReadTimeout(time.Duration) error
	Close() error
}

// OpenQibixx opens the adapter's serial port (115200 8N1) and starts
// master mode.
func OpenQibixx(ctx context.Context, path string) (*Qibixx, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("mdb adapter %s: %w", path, err)
	}
	q := NewQibixx(p)
	if err := q.Start(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return q, nil
}

// NewQibixx speaks the adapter protocol on an open port.
func NewQibixx(p Port) *Qibixx {
	tr := &timeoutReader{p: p}
	return &Qibixx{port: p, tr: tr, r: bufio.NewReader(tr), Timeout: time.Second}
}

// Start enables master mode.
func (q *Qibixx) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.start(ctx)
}

// Restart implements Restarter: master mode again ("M,1" is harmless to
// an adapter already in it).
func (q *Qibixx) Restart(ctx context.Context) error { return q.Start(ctx) }

func (q *Qibixx) start(ctx context.Context) error {
	line, _, err := q.call(ctx, "M,1", "m,")
	if err != nil {
		return fmt.Errorf("mdb adapter: master mode: %w", err)
	}
	if line != "m,ACK" {
		return fmt.Errorf("mdb adapter: master mode refused: %q", line)
	}
	q.setResponseTimeout(ctx)
	return nil
}

// DefaultRespTimeout is the adapter's wait for a peripheral's answer that
// the driver sets: the adapter's own default (5 ms, the MDB response time)
// makes slow modern readers look silent.
const DefaultRespTimeout = 100 * time.Millisecond

// setResponseTimeout sends F,RESPTIMEOUT (10..1000 ms). The setting may be
// volatile, so it goes out every time master mode is set. An adapter that
// refuses it or does not answer keeps its own; nothing else depends on it.
func (q *Qibixx) setResponseTimeout(ctx context.Context) {
	ms := min(max(q.RespTimeout.Milliseconds(), 10), 1000)
	if q.RespTimeout == 0 {
		ms = DefaultRespTimeout.Milliseconds()
	}
	line, _, err := q.call(ctx, "F,RESPTIMEOUT,"+strconv.FormatInt(ms, 10), "f,")
	q.RespTimeoutSet = err == nil && line == "f,ACK"
}

// restart sends "M,1" after a request went unanswered. A "p," line read
// while waiting for its "m," is the request's late answer, returned as
// late: the adapter was in master mode after all.
func (q *Qibixx) restart(ctx context.Context) (late string, err error) {
	line, _, err := q.call(ctx, "M,1", "m,", "p,")
	if err != nil {
		return "", fmt.Errorf("mdb adapter: master mode: %w", err)
	}
	if strings.HasPrefix(line, "p,") {
		return line, nil
	}
	if line != "m,ACK" {
		return "", fmt.Errorf("mdb adapter: master mode refused: %q", line)
	}
	q.setResponseTimeout(ctx)
	return "", nil
}

// Send implements Transport.
func (q *Qibixx) Send(ctx context.Context, block []Word) (Reply, error) {
	if len(block) < 2 {
		return Reply{}, errors.New("mdb: empty block")
	}
	data := make([]byte, len(block)-2) // neither the address nor the checksum
	for i := range data {
		data[i] = block[i+1].Byte()
	}
	cmd := fmt.Sprintf("R,%02X", block[0].Byte())
	if len(data) > 0 {
		cmd += "," + strings.ToUpper(hex.EncodeToString(data))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	line, foreign, err := q.answer(ctx, cmd)
	if errors.Is(err, ErrTimeout) && ctx.Err() == nil {
		// No answer at all: an adapter in master mode always answers.
		late, serr := q.restart(ctx)
		q.behind = errors.Is(serr, ErrTimeout)
		if serr != nil {
			return Reply{}, fmt.Errorf("%w (and %w)", err, serr)
		}
		if late != "" {
			// The answer came after all, only late: the adapter has ACKed
			// it on the bus, so the reader will not repeat it.
			return parseQibixx(late)
		}
		said := "nothing"
		if foreign != "" {
			said = strconv.Quote(foreign)
		}
		return Reply{}, fmt.Errorf("%w: %w (it had answered %s with %s)", ErrTimeout, ErrAdapterRestarted, cmd, said)
	}
	if err != nil {
		return Reply{}, err
	}
	return parseQibixx(line)
}

// answer sends a request and reads its "p," line. After a request and
// its M,1 both went unanswered (behind), what the adapter says next may
// start with their late answers: a "p," before any "m," is the earlier
// request's (which has had its timeout), not this one's; an "m," first
// says the earlier request got none. Either way the reply is the next
// "p," after them, so replies never run one command behind.
func (q *Qibixx) answer(ctx context.Context, cmd string) (line, foreign string, err error) {
	if !q.behind {
		return q.call(ctx, cmd, "p,")
	}
	mastered := false
	defer func() {
		if mastered {
			q.setResponseTimeout(ctx) // M,1 took after all; this was not sent
		}
	}()
	line, foreign, err = q.call(ctx, cmd, "p,", "m,")
	for err == nil {
		if strings.HasPrefix(line, "m,") {
			mastered = mastered || line == "m,ACK"
		} else if !q.behind {
			return line, foreign, nil
		}
		q.behind = false // the earlier exchange's late answers have come
		line, foreign, err = q.await(ctx, cmd, "p,", "m,")
	}
	return "", foreign, err
}

// parseQibixx decodes an adapter's answer line to a request.
func parseQibixx(line string) (Reply, error) {
	body, ok := strings.CutPrefix(line, "p,")
	if !ok {
		return Reply{}, fmt.Errorf("mdb adapter: %q is not an answer to a request", line)
	}
	switch body {
	case "ACK":
		return Reply{Kind: ReplyACK}, nil
	case "NACK":
		return Reply{}, ErrTimeout
	}
	b, err := hex.DecodeString(body)
	if err != nil || len(b) == 0 || len(b) >= MaxBlock {
		return Reply{}, fmt.Errorf("mdb adapter: reply %q is not hex data", line)
	}
	return Reply{Kind: ReplyData, Data: b}, nil
}

// Answer implements Transport: the adapter acknowledges replies itself.
func (q *Qibixx) Answer(byte) error { return nil }

// BusReset asks the adapter for a bus reset (TX held active).
func (q *Qibixx) BusReset() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, err := io.WriteString(q.port, "R,RESET\n")
	return err
}

// Close releases the port.
func (q *Qibixx) Close() error { return q.port.Close() }

// call writes a command line and returns the first answer line that starts
// with one of prefixes. Sniffer ("x,") and cashless-master ("d,") lines are skipped;
// the last other line is returned as foreign (what an adapter out of
// master mode may say). A port that fails is ErrLink.
func (q *Qibixx) call(ctx context.Context, cmd string, prefixes ...string) (line, foreign string, err error) {
	if _, err := io.WriteString(q.port, cmd+"\n"); err != nil {
		return "", "", fmt.Errorf("mdb adapter: %w: %w", ErrLink, err)
	}
	q.tr.deadline = time.Now().Add(q.Timeout)
	return q.await(ctx, cmd, prefixes...)
}

// await reads, until the deadline call set, the first line that starts
// with one of prefixes, as call does.
func (q *Qibixx) await(ctx context.Context, cmd string, prefixes ...string) (line, foreign string, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return "", foreign, err
		}
		line, err := q.r.ReadString('\n')
		switch {
		case errors.Is(err, ErrTimeout):
			return "", foreign, fmt.Errorf("mdb adapter: no answer to %s: %w", cmd, err)
		case err != nil:
			return "", foreign, fmt.Errorf("mdb adapter: %w: %w", ErrLink, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(line, p) }) {
			return line, foreign, nil
		}
		if line != "" && !strings.HasPrefix(line, "x,") && !strings.HasPrefix(line, "d,") {
			foreign = line
		}
	}
}

// timeoutReader fails with ErrTimeout at its deadline, after one last
// short read of what the port has buffered by then (a line that arrived
// while the host was descheduled is not thrown away).
type timeoutReader struct {
	p        Port
	deadline time.Time
}

// lastRead bounds the read after the deadline: long enough for any port
// to hand over bytes it holds, too short to wait for new ones.
const lastRead = time.Millisecond

func (t *timeoutReader) Read(b []byte) (int, error) {
	for {
		left := time.Until(t.deadline)
		last := left <= 0
		if last {
			left = lastRead
		}
		if err := t.p.SetReadTimeout(left); err != nil {
			return 0, err
		}
		n, err := t.p.Read(b)
		if n > 0 {
			return n, nil
		}
		if err != nil {
			type timeout interface{ Timeout() bool }
			var te timeout
			if !errors.As(err, &te) || !te.Timeout() {
				return 0, err
			}
		}
		if last {
			return 0, ErrTimeout
		}
	}
}
