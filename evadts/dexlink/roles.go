package dexlink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tapagent/tapagent/evadts"
)

// Revision levels of the handshake.
const (
	Rev6   = "R00L06"
	RevOld = "R01L01"
)

// Serve answers a data carrier as the machine: first handshake (carrier
// master, we accept 'R'), second handshake (we master, response "00"),
// then the audit in blocks. The audit is produced only once a carrier has
// asked for it. Serve returns once the carrier has all of it, or fails; a
// cancelled ctx ends it within pollRead, with an EOT mid-session.
func Serve(ctx context.Context, p Port, commID string, produce func() ([]byte, error), t Timers) (Stats, error) {
	l := newLink(ctx, p, t)
	st, err := l.serve(commID, produce)
	return st, l.abandon(err)
}

func (l *link) serve(commID string, produce func() ([]byte, error)) (Stats, error) {
	start, t := time.Now(), l.t
	var st Stats
	rev, err := l.serveFirstHandshake(commID)
	if err != nil {
		return st, err
	}
	audit, err := produce()
	if err != nil {
		return st, fmt.Errorf("producing the audit: %w", err)
	}
	st.Payload = len(audit)
	if err := l.sleep(t.Session); err != nil {
		return st, err
	}
	if err := l.session(func() error {
		return l.sendBlock(SOH, ETX, []byte("00"+pad(commID)+rev), '1')
	}); err != nil {
		return st, fmt.Errorf("second handshake: %w", err)
	}
	if err := l.sleep(t.Session); err != nil {
		return st, err
	}
	if err := l.sendAudit(audit, &st); err != nil {
		return st, fmt.Errorf("data transfer: %w", err)
	}
	st.Wire, st.Writes, st.Duration = l.sent, l.writes, time.Since(start)
	return st, nil
}

func pad(id string) string {
	for len(id) < 10 {
		id += " "
	}
	return id[:10]
}

// serveFirstHandshake waits for ENQ, answers DLE '0', takes the carrier's
// identification block, answers DLE '1' and waits for EOT.
func (l *link) serveFirstHandshake(commID string) (string, error) {
	for attempt := 0; ; attempt++ {
		if err := l.expect(ENQ, 60*time.Second); err != nil {
			return "", fmt.Errorf("waiting for a data carrier: %w", err)
		}
		if err := l.write(DLE, '0'); err != nil {
			return "", err
		}
		c, err := l.waitStart(l.t.A)
		if err == nil && c != SOH {
			err = fmt.Errorf("%w: expected DLE SOH, got %q", ErrProtocol, c)
		}
		var data []byte
		if err == nil {
			data, _, err = l.readFrame()
		}
		if err != nil {
			if attempt < l.t.Retries {
				l.write(NAK)
				continue
			}
			return "", fmt.Errorf("first handshake: %w", err)
		}
		if len(data) < 17 || data[10] != 'R' {
			l.write(NAK)
			return "", fmt.Errorf("%w: first handshake %q asks for no audit read", ErrRefused, data)
		}
		rev := string(data[11:17])
		if err := l.write(DLE, '1'); err != nil {
			return "", err
		}
		if err := l.expect(EOT, l.t.A); err != nil {
			return "", fmt.Errorf("first handshake end: %w", err)
		}
		if rev != RevOld {
			rev = Rev6
		}
		return rev, nil
	}
}

// session runs one master session: ENQ, DLE '0', the body, EOT.
func (l *link) session(body func() error) error {
	var err error
	for attempt := 0; attempt <= l.t.Retries; attempt++ {
		if err = l.write(ENQ); err != nil {
			return err
		}
		if err = l.expectDLE('0', l.t.A); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := body(); err != nil {
		return err
	}
	return l.write(EOT)
}

// sendBlock sends one block and waits for its acknowledgement. On a NAK,
// or the previous acknowledgement, the block goes again; on silence the
// sender asks with ENQ, and the receiver repeats its last acknowledgement,
// so a block whose acknowledgement was lost is never delivered twice.
func (l *link) sendBlock(start, end byte, data []byte, ack byte) error {
	f := frame(start, end, data)
	if err := l.write(f...); err != nil {
		return err
	}
	enqs := 0
	for attempt := 0; attempt <= l.t.Retries; attempt++ {
		r, err := l.reply(l.t.A)
		switch {
		case err == nil && r == ack:
			l.absorbRepeats(enqs, ack)
			return nil
		case errors.Is(err, ErrTimeout):
			enqs++
			err = l.write(ENQ)
		case err != nil:
			return err
		default: // NAK or the previous acknowledgement: send it again
			err = l.write(f...)
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: no acknowledgement after %d tries", ErrTimeout, l.t.Retries+1)
}

// absorbRepeats takes the answers still owed to enqs ENQs once ack has
// come: a slow receiver's acknowledgement can cross the ENQ that asked for
// it, and the receiver answers that ENQ with the same acknowledgement. Left
// on the line, it would read as the next block's "previous
// acknowledgement" and send that block twice, doubling its data in the
// audit. Each is waited for at most B (the inter-character time).
func (l *link) absorbRepeats(enqs int, ack byte) {
	for ; enqs > 0; enqs-- {
		if r, err := l.reply(l.t.B); err != nil || r != ack {
			return
		}
	}
}

// reply reads an acknowledgement ('0', '1') or NAK, skipping WACK.
func (l *link) reply(d time.Duration) (byte, error) {
	for {
		c, err := l.readByte(d)
		if err != nil {
			return 0, err
		}
		switch c {
		case NAK:
			return NAK, nil
		case EOT:
			return 0, fmt.Errorf("%w: EOT instead of an acknowledgement", ErrRefused)
		case DLE:
			c2, err := l.readByte(l.t.B)
			if err != nil {
				return 0, err
			}
			if c2 == '0' || c2 == '1' {
				return c2, nil
			}
		}
	}
}

// sendAudit is the data-transfer session: blocks of at most 243 bytes,
// acknowledged alternately with DLE '1' and DLE '0'.
func (l *link) sendAudit(audit []byte, st *Stats) error {
	return l.session(func() error {
		ack := byte('1')
		for off := 0; ; {
			end := min(off+MaxBlock, len(audit))
			last := end == len(audit)
			term := byte(ETB)
			if last {
				term = ETX
			}
			if err := l.sendBlock(STX, term, audit[off:end], ack); err != nil {
				return fmt.Errorf("block at byte %d: %w", off, err)
			}
			ack ^= 1 // '1' <-> '0'
			if last {
				return nil
			}
			off = end
		}
	})
}

// Read collects an audit as the data carrier: first handshake (we master,
// operation 'R'), second handshake (machine master), data transfer. A
// cancelled ctx ends it within pollRead, with an EOT mid-session.
func Read(ctx context.Context, p Port, commID string, t Timers) ([]byte, Stats, error) {
	l := newLink(ctx, p, t)
	audit, st, err := l.read(commID)
	return audit, st, l.abandon(err)
}

func (l *link) read(commID string) ([]byte, Stats, error) {
	start := time.Now()
	var st Stats
	if err := l.session(func() error {
		return l.sendBlock(SOH, ETX, []byte(pad(commID)+"R"+Rev6), '1')
	}); err != nil {
		return nil, st, fmt.Errorf("first handshake: %w", err)
	}
	resp, err := l.receive(true)
	if err != nil {
		return nil, st, fmt.Errorf("second handshake: %w", err)
	}
	if len(resp) < 2 || string(resp[:2]) != "00" {
		return nil, st, fmt.Errorf("%w: response code %q", ErrRefused, resp)
	}
	audit, err := l.receive(false)
	if err != nil {
		return nil, st, fmt.Errorf("data transfer: %w", err)
	}
	st.Payload, st.Wire, st.Writes, st.Duration = len(audit), l.sent, l.writes, time.Since(start)
	return audit, st, nil
}

// receive is a slave session: answer ENQ with DLE '0', take blocks
// acknowledging alternately (NAK on a bad block), until the machine's EOT.
func (l *link) receive(handshake bool) ([]byte, error) {
	if err := l.expect(ENQ, 2*l.t.A+l.t.Session); err != nil {
		return nil, err
	}
	if err := l.write(DLE, '0'); err != nil {
		return nil, err
	}
	var out []byte
	ack := byte('1')
	naks := 0
	last := byte(0) // end character of the last block taken
	for {
		c, err := l.waitStart(2 * l.t.A)
		if err != nil {
			return nil, err
		}
		switch c {
		case EOT:
			if last != ETX {
				// The sender ended the session before its last block:
				// an abandoned transfer, not a short audit.
				return nil, fmt.Errorf("%w: EOT after %d bytes, before the last block", ErrRefused, len(out))
			}
			return out, nil
		case ENQ: // our acknowledgement was lost: say it again
			prev := ack ^ 1
			if len(out) == 0 {
				prev = '0'
			}
			l.write(DLE, prev)
			continue
		case NAK:
			return nil, ErrRefused
		}
		data, end, err := l.readFrame()
		if err != nil {
			naks++
			if naks > l.t.Retries {
				return nil, err
			}
			l.write(NAK)
			continue
		}
		if handshake && c != SOH || !handshake && c != STX {
			return nil, fmt.Errorf("%w: unexpected frame start %q", ErrProtocol, c)
		}
		out, last = append(out, data...), end
		if err := l.write(DLE, ack); err != nil {
			return nil, err
		}
		ack ^= 1
	}
}

// ServeAudit answers one data-carrier session on a DEX port. The read-out is
// taken when a carrier has asked for it (counted in EA3 as terminal
// "dex"); with full, the interval counters are reset only after the
// carrier has acknowledged the whole report.
func ServeAudit(ctx context.Context, port Port, audit *evadts.Audit, id evadts.Identity, full bool) (int, error) {
	st, err := Serve(ctx, port, id.CommID, func() ([]byte, error) { return audit.Read(id, false, "dex") }, SpecTimers)
	if err == nil && full {
		err = audit.ResetInterval()
	}
	return st.Payload, err
}
