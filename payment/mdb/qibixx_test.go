package mdb

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// adapterLines is an adapter's serial port that answers the n-th line
// the host writes with answers[n] (then nothing: a read timeout).
type adapterLines struct {
	answers []string
	in      bytes.Buffer
	out     bytes.Buffer
}

type readTimeout struct{}

func (readTimeout) Error() string { return "read timeout" }
func (readTimeout) Timeout() bool { return true }

func (p *adapterLines) Read(b []byte) (int, error) {
	if p.in.Len() == 0 {
		return 0, readTimeout{}
	}
	return p.in.Read(b)
}

func (p *adapterLines) Write(b []byte) (int, error) {
	if len(p.answers) > 0 {
		p.in.WriteString(p.answers[0])
		p.answers = p.answers[1:]
	}
	return p.out.Write(b)
}

func (p *adapterLines) SetReadTimeout(time.Duration) error { return nil }
func (p *adapterLines) Close() error                       { return nil }

func onAdapterLines(answers ...string) (*Qibixx, *adapterLines) {
	p := &adapterLines{answers: answers}
	q := NewQibixx(p)
	q.Timeout = time.Millisecond
	return q, p
}

// TestQibixxOutOfMasterMode: what an adapter can say to a request once it
// has lost master mode, and what the driver makes of it.
func TestQibixxOutOfMasterMode(t *testing.T) {
	poll, _ := Block(0x12)
	for _, tc := range []struct {
		name      string
		said      []string // to the request, to M,1
		restarted bool
	}{
		{"an answer", []string{"x,00,0000012345,12,\r\np,ACK\r\n"}, false},
		{"no peripheral", []string{"p,NACK\r\n"}, false},
		{"silence", []string{"", "m,ACK\r\n"}, true},
		{"a line that is no answer", []string{"m,NACK\r\n", "m,ACK\r\n"}, true},
		{"a banner", []string{"MDB-USB ready\r\n", "m,ACK\r\n"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, p := onAdapterLines(tc.said...)
			_, err := q.Send(context.Background(), poll)
			if errors.Is(err, ErrAdapterRestarted) != tc.restarted {
				t.Fatalf("%v", err)
			}
			if sent := p.out.String(); strings.Contains(sent, "M,1") != tc.restarted || !strings.HasPrefix(sent, "R,12\n") {
				t.Fatalf("sent %q", sent)
			}
		})
	}
}

// FuzzQibixxAnswer: whatever the adapter says to a request, the driver
// returns a reply that is one or an error, never both, and never panics.
func FuzzQibixxAnswer(f *testing.F) {
	for _, s := range [][2]string{{"p,ACK\r\n", ""}, {"p,NACK\n", ""}, {"p,034e20ff\r\n", ""}, {"x,00,1,12,\r\np,00\r\n", ""},
		{"", "m,ACK\r\n"}, {"boot\r\n", "m,NACK\r\n"}, {"p,\r\n", ""}, {"\r\n\r\n", "m,ACK"}} {
		f.Add(s[0], s[1])
	}
	poll, _ := Block(0x12)
	f.Fuzz(func(t *testing.T, said, toStart string) {
		q, _ := onAdapterLines(said, toStart)
		r, err := q.Send(context.Background(), poll)
		if err != nil {
			// The zero Reply reads as an ACK: with an error, nothing else.
			if r.Kind != ReplyACK || r.Data != nil {
				t.Fatalf("%q: a reply %+v with the error %v", said, r, err)
			}
			return
		}
		// A reply is only ever what the adapter said in a "p," line (to
		// the request, or late, while M,1 waited for its answer).
		var want string
		switch r.Kind {
		case ReplyACK:
			want = "p,ACK"
		case ReplyData:
			if len(r.Data) == 0 || len(r.Data) >= MaxBlock {
				t.Fatalf("%q gave %+v", said, r)
			}
			want = "p," + hex.EncodeToString(r.Data)
		default:
			t.Fatalf("%q gave %+v: the adapter never NAKs", said, r)
		}
		if !saidLine(said+"\n"+toStart, want) {
			t.Fatalf("%q then %q gave %+v, which neither said", said, toStart, r)
		}
	})
}

// TestQibixxLateReply: the answer to a request comes after the driver's
// timeout, while it waits for the answer to the M,1 its reboot detection
// sends. The adapter has ACKed it on the bus, so the reader will not say
// it again: it is the request's reply, and no restart is reported.
func TestQibixxLateReply(t *testing.T) {
	vend, _ := Block(0x13, 0x00, 0x00, 0x96, 0x00, 0x01)
	q, p := onAdapterLines("", "p,050096\r\nm,ACK\r\n")
	r, err := q.Send(context.Background(), vend)
	if err != nil || r.Kind != ReplyData || !bytes.Equal(r.Data, []byte{0x05, 0x00, 0x96}) {
		t.Fatalf("reply %+v, %v (sent %q)", r, err, p.out.String())
	}
}

// TestQibixxReadsWhatCameByTheDeadline: a reply buffered in the port when
// the timeout has passed already is read, not taken as silence.
func TestQibixxReadsWhatCameByTheDeadline(t *testing.T) {
	poll, _ := Block(0x12)
	q, p := onAdapterLines("p,ACK\r\n")
	q.Timeout = 0 // the deadline has passed by the first read
	r, err := q.Send(context.Background(), poll)
	if err != nil || r.Kind != ReplyACK || strings.Contains(p.out.String(), "M,1") {
		t.Fatalf("reply %+v, %v (sent %q)", r, err, p.out.String())
	}
}

// saidLine says whether text holds line (hex case-insensitive) as a whole
// line, CR LF or LF.
func saidLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.EqualFold(strings.TrimRight(l, "\r"), line) {
			return true
		}
	}
	return false
}

// TestQibixxRepliesAfterAFailedRestart: a request and the M,1 after it
// both time out; the request's late "p," and M,1's "m,ACK" come with the
// next request's own answer. That answer is the next request's reply, not
// the stale one, and the replies after it stay in step.
func TestQibixxRepliesAfterAFailedRestart(t *testing.T) {
	poll, _ := Block(0x12)
	for _, tc := range []struct {
		name, next string
		resp       bool // F,RESPTIMEOUT sent once master mode shows
	}{
		{"late answer and master mode", "p,050096\r\nm,ACK\r\np,ACK\r\n", true},
		{"late answer only", "p,050096\r\np,ACK\r\n", false},
		{"master mode only", "m,ACK\r\np,ACK\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, p := onAdapterLines("", "", tc.next, "f,ACK\r\n", "p,0A01\r\n")
			if _, err := q.Send(context.Background(), poll); !errors.Is(err, ErrTimeout) {
				t.Fatalf("first request: %v", err)
			}
			r, err := q.Send(context.Background(), poll)
			if err != nil || r.Kind != ReplyACK {
				t.Fatalf("second request: %+v, %v (sent %q)", r, err, p.out.String())
			}
			if !tc.resp {
				p.answers = p.answers[1:] // no F,RESPTIMEOUT to answer
			}
			r, err = q.Send(context.Background(), poll)
			if err != nil || r.Kind != ReplyData || !bytes.Equal(r.Data, []byte{0x0A, 0x01}) {
				t.Fatalf("third request: %+v, %v (sent %q)", r, err, p.out.String())
			}
			if got := strings.Contains(p.out.String(), "F,RESPTIMEOUT"); got != tc.resp {
				t.Fatalf("F,RESPTIMEOUT sent %v (sent %q)", got, p.out.String())
			}
		})
	}
}

// FuzzQibixxAfterFailedRestart: after a request and its M,1 went
// unanswered, whatever the adapter says next, the next reply is one it
// said after that request was sent, and never the stale answer alone.
func FuzzQibixxAfterFailedRestart(f *testing.F) {
	for _, s := range []string{"p,050096\r\nm,ACK\r\np,ACK\r\n", "m,ACK\r\np,ACK\r\n", "p,ACK\r\n", "", "m,NACK\r\nboot\r\n"} {
		f.Add(s)
	}
	poll, _ := Block(0x12)
	f.Fuzz(func(t *testing.T, said string) {
		q, _ := onAdapterLines("", "", said, "m,ACK\r\n")
		if _, err := q.Send(context.Background(), poll); err == nil {
			t.Fatal("an answer out of silence")
		}
		r, err := q.Send(context.Background(), poll)
		if err != nil {
			if r.Kind != ReplyACK || r.Data != nil {
				t.Fatalf("%q: a reply %+v with the error %v", said, r, err)
			}
			return
		}
		want := "p,ACK"
		if r.Kind == ReplyData {
			want = "p," + hex.EncodeToString(r.Data)
		}
		if !saidLine(said, want) {
			t.Fatalf("%q gave %+v, which it did not say", said, r)
		}
		// The first "p," before any "m," is the earlier request's.
		var ps int
		for _, l := range strings.Split(said, "\n") {
			if strings.HasPrefix(l, "p,") {
				ps++
			}
		}
		if ps < 2 && !strings.Contains(said, "m,") {
			t.Fatalf("%q: its only answer %+v was the earlier request's", said, r)
		}
	})
}
