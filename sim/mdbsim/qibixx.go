package mdbsim

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/tapagent/tapagent/internal/pty"
	"github.com/tapagent/tapagent/payment/mdb"
)

// ServeQibixx answers the Qibixx adapter's generic-master protocol on a
// serial line, with r on the bus behind it: the agent's adapter driver
// talks to it exactly as to the USB interface or the Pi HAT.
func ServeQibixx(ctx context.Context, port io.ReadWriter, r *Reader) error {
	return (&Adapter{R: r}).Serve(ctx, port)
}

// OutOfMaster is what an adapter that is not in master mode does with a
// request ("R,..."). The adapter's public documentation does not say, so
// the simulator offers each thing it could do.
type OutOfMaster int

// What an adapter out of master mode answers a request.
const (
	// Refuses answers with a line that is no reply ("m,NACK").
	Refuses OutOfMaster = iota
	// Ignores answers nothing at all.
	Ignores
	// NoPeripheral answers "p,NACK": a Pi HAT without master mode has
	// its bus pull-up off, so no peripheral can answer.
	NoPeripheral
)

// Adapter is a simulated Qibixx MDB-USB interface or MDB Pi HAT in
// generic master mode with R on the bus behind it. It can reboot (out of
// master mode again, like a HAT after a power glitch), and the host side
// of its serial port can vanish and come back (a USB adapter unplugged or
// re-enumerated): Open, Unplug, Plug.
type Adapter struct {
	R *Reader
	// Out is what it does with a request before "M,1".
	Out OutOfMaster
	// Banner is a line it prints when it starts, "" for none (none is
	// documented; a firmware may still print one).
	Banner string
	// PullAt pulls the adapter at the worst moment: right after it has put
	// the first request starting with this ("R,13,00" a VEND REQUEST) on
	// the bus, before its answer reaches the host. "" never.
	PullAt string

	mu     sync.Mutex
	master bool
	lose   string    // see LoseAnswer
	resp   int       // F,RESPTIMEOUT in ms; 0 the adapter's default (volatile)
	port   io.Writer // the line served, for the banner after a reboot
	gone   bool
	unplug []func() // ends each connection Open made
}

// Serve answers the adapter protocol on port until ctx ends or the port
// fails.
func (a *Adapter) Serve(ctx context.Context, port io.ReadWriter) error {
	a.mu.Lock()
	a.port = port
	a.mu.Unlock()
	sc := bufio.NewScanner(port)
	for sc.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		in := strings.TrimRight(sc.Text(), "\r")
		out, ok := a.line(in)
		if a.pulled(in) {
			go a.Unplug() // it waits for this loop to end
			return nil
		}
		if !ok || a.lost(in) {
			continue
		}
		if _, err := fmt.Fprintf(port, "%s\r\n", out); err != nil {
			return err
		}
	}
	return sc.Err()
}

// line answers one host line; ok false is no answer.
func (a *Adapter) line(line string) (string, bool) {
	a.mu.Lock()
	master := a.master
	switch line {
	case "M,1":
		a.master = true
	case "M,0":
		a.master = false
	}
	a.mu.Unlock()
	switch {
	case line == "M,1" || line == "M,0":
		return "m,ACK", true
	case strings.HasPrefix(line, "F,RESPTIMEOUT,"):
		return a.respTimeout(strings.TrimPrefix(line, "F,RESPTIMEOUT,")), true
	case line == "V":
		return "v,4.0.0.0,16df464a3031340136313930", true
	case line == "R,RESET":
		a.R.PowerCycle()
		return "", false
	case strings.HasPrefix(line, "R,") && master:
		return a.R.qibixx(line), true
	case strings.HasPrefix(line, "R,") && a.Out == Ignores:
		return "", false
	case strings.HasPrefix(line, "R,") && a.Out == NoPeripheral:
		return "p,NACK", true
	}
	return "m,NACK", true
}

// respTimeout takes F,RESPTIMEOUT: 10..1000 ms, lost at a reboot.
func (a *Adapter) respTimeout(arg string) string {
	ms, err := strconv.Atoi(arg)
	if err != nil || ms < 10 || ms > 1000 {
		return "f,NACK"
	}
	a.mu.Lock()
	a.resp = ms
	a.mu.Unlock()
	return "f,ACK"
}

// RespTimeout is the response timeout the host set (ms), 0 none since the
// adapter started.
func (a *Adapter) RespTimeout() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.resp
}

// pulled says whether the adapter is pulled after the host line in.
func (a *Adapter) pulled(in string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.PullAt == "" || !strings.HasPrefix(in, a.PullAt) {
		return false
	}
	a.PullAt = ""
	return true
}

// LoseAnswer loses the answer line to the next request starting with
// prefix ("R,13,00" a VEND REQUEST): the request goes on the bus and a data
// reply is ACKed there, but the host never reads the line (a USB hiccup),
// so the reader will not repeat it.
func (a *Adapter) LoseAnswer(prefix string) {
	a.mu.Lock()
	a.lose = prefix
	a.mu.Unlock()
}

// lost says whether the answer to the host line in is lost.
func (a *Adapter) lost(in string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lose == "" || !strings.HasPrefix(in, a.lose) {
		return false
	}
	a.lose = ""
	return true
}

// Reboot restarts the adapter where it sits (a Pi HAT's power glitch):
// out of master mode, its banner (if any) on the line. The reader behind
// it is not touched.
func (a *Adapter) Reboot() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.master, a.resp = false, 0
	if a.Banner != "" && a.port != nil {
		fmt.Fprintf(a.port, "%s\r\n", a.Banner)
	}
}

// ErrUnplugged is opening the port of an adapter that is not there.
var ErrUnplugged = errors.New("mdbsim: no such device (the adapter is unplugged)")

// Open is the host opening the adapter's serial port (a pseudo-terminal
// the adapter serves). The adapter answers until Unplug.
func (a *Adapter) Open() (pty.File, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gone {
		return pty.File{}, ErrUnplugged
	}
	m, s, err := pty.Open()
	if err != nil {
		return pty.File{}, err
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Serve(ctx, m); close(done) }()
	var once sync.Once
	a.unplug = append(a.unplug, func() { once.Do(func() { stop(); m.Close(); <-done }) })
	return pty.File{File: s}, nil
}

// Unplug pulls the adapter: every open port fails under the host, and
// opening it fails until Plug.
func (a *Adapter) Unplug() {
	a.mu.Lock()
	ends := a.unplug
	a.unplug, a.gone = nil, true
	a.mu.Unlock()
	for _, end := range ends {
		end()
	}
}

// Plug puts the adapter back: it starts afresh, out of master mode.
func (a *Adapter) Plug() {
	a.mu.Lock()
	a.gone, a.master, a.resp = false, false, 0
	a.mu.Unlock()
}

// Close ends every connection (for tests' cleanup).
func (a *Adapter) Close() {
	a.Unplug()
	a.Plug()
}

// qibixx runs one "R,xx,yyyy" request and formats the reply; the adapter
// ACKs a data reply on the bus itself.
func (r *Reader) qibixx(line string) string {
	parts := strings.Split(line, ",")
	head, err := hex.DecodeString(parts[1])
	if err != nil || len(head) != 1 {
		return "p,NACK"
	}
	var data []byte
	if len(parts) > 2 {
		if data, err = hex.DecodeString(parts[2]); err != nil {
			return "p,NACK"
		}
	}
	block, err := mdb.Block(head[0], data...)
	if err != nil {
		return "p,NACK"
	}
	rep, err := r.Send(context.Background(), block)
	switch {
	case err != nil:
		return "p,NACK"
	case rep.Kind == mdb.ReplyACK:
		return "p,ACK"
	case rep.Kind == mdb.ReplyNAK:
		return "p,NACK"
	}
	r.Answer(mdb.ACK)
	return "p," + strings.ToLower(hex.EncodeToString(rep.Data))
}
