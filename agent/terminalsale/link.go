package terminalsale

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tapagent/tapagent/payment/mdb"
)

// Link is the terminal's bus on a serial port that may disappear and come
// back (a USB adapter unplugged or re-enumerating, a HAT's UART gone with
// a power glitch). Once the port fails (mdb.ErrLink) it is closed and
// every block fails fast with mdb.ErrLink, touching nothing, until Reopen
// opens the port afresh (for the adapter, master mode again); the
// terminal calls Reopen with backoff.
type Link struct {
	open func(ctx context.Context) (Bus, error)

	mu  sync.Mutex
	bus Bus   // nil while the port is lost
	err error // why it was lost
}

// NewLink opens the bus with open and keeps open to reopen it.
func NewLink(ctx context.Context, open func(ctx context.Context) (Bus, error)) (*Link, error) {
	b, err := open(ctx)
	if err != nil {
		return nil, err
	}
	return &Link{open: open, bus: b}, nil
}

func (l *Link) current() (Bus, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bus == nil {
		return nil, fmt.Errorf("%w (%v)", mdb.ErrLink, l.err)
	}
	return l.bus, nil
}

// lose closes a bus whose port failed, once.
func (l *Link) lose(b Bus, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bus == b {
		b.Close()
		l.bus, l.err = nil, err
	}
}

// Send implements mdb.Transport.
func (l *Link) Send(ctx context.Context, block []mdb.Word) (mdb.Reply, error) {
	b, err := l.current()
	if err != nil {
		return mdb.Reply{}, err
	}
	r, err := b.Send(ctx, block)
	if errors.Is(err, mdb.ErrLink) {
		l.lose(b, err)
	}
	return r, err
}

// Answer implements mdb.Transport.
func (l *Link) Answer(code byte) error {
	b, err := l.current()
	if err != nil {
		return err
	}
	err = b.Answer(code)
	if errors.Is(err, mdb.ErrLink) {
		l.lose(b, err)
	}
	return err
}

// Restart implements mdb.Restarter for a bus that has it.
func (l *Link) Restart(ctx context.Context) error {
	b, err := l.current()
	if err != nil {
		return err
	}
	if rs, ok := b.(mdb.Restarter); ok {
		return rs.Restart(ctx)
	}
	return nil
}

// Lost says whether the port is lost.
func (l *Link) Lost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bus == nil
}

// Reopen opens a lost port again; an open one is left alone.
func (l *Link) Reopen(ctx context.Context) error {
	if !l.Lost() {
		return nil
	}
	b, err := l.open(ctx)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bus != nil { // reopened meanwhile
		b.Close()
		return nil
	}
	l.bus, l.err = b, nil
	return nil
}

// Close closes the port.
func (l *Link) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bus == nil {
		return nil
	}
	err := l.bus.Close()
	l.bus, l.err = nil, errors.New("closed")
	return err
}
