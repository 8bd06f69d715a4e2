package mdb

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// trace is a bus that replays a recorded session: it fails the test on any
// block or answer that differs from the recording.
type trace struct {
	t     *testing.T
	steps []step
	i     int
}

type step struct {
	vmc, reader string // wire notation; reader "" means a timeout
	answer      string // the VMC's ACK after a data reply ("00"), or ""
}

func (tr *trace) next() step {
	tr.t.Helper()
	if tr.i >= len(tr.steps) {
		tr.t.Fatalf("the VMC went on after the end of the trace")
	}
	s := tr.steps[tr.i]
	tr.i++
	return s
}

func (tr *trace) Send(_ context.Context, block []Word) (Reply, error) {
	tr.t.Helper()
	s := tr.steps[tr.i]
	if !reflect.DeepEqual(block, words(s.vmc)) {
		tr.t.Fatalf("step %d: VMC sent %v, trace has %s", tr.i+1, block, s.vmc)
	}
	if s.answer == "" {
		tr.i++
	}
	if s.reader == "" {
		return Reply{}, ErrTimeout
	}
	r, _, err := ParseReply(words(s.reader))
	return r, err
}

func (tr *trace) Answer(code byte) error {
	tr.t.Helper()
	s := tr.next()
	if s.answer == "" || words(s.answer)[0] != Word(code) {
		tr.t.Fatalf("step %d: VMC answered %02X, trace has %q", tr.i, code, s.answer)
	}
	return nil
}

// TestPowerUpAndVendTrace replays the Necta Kikko Max ↔ PAX D200 trace of
// §3.8.1 byte for byte: power-up, a card with the PAX trailing FF, a
// cancelled session, and a vend.
func TestPowerUpAndVendTrace(t *testing.T) {
	expID := "17* 00" + strings.Repeat(" 00", 29) + " 17"
	tr := &trace{t: t, steps: []step{
		{"10* 10", "", ""}, // RESET lost once: retried
		{"10* 10", "00*", ""},
		{"12* 12", "00 00*", "00"},
		{"11* 00 02 00 00 02 15", "00*", ""},
		{"12* 12", "00*", ""}, // nothing yet: poll again
		{"12* 12", "01 01 16 43 01 02 2D 05 90*", "00"},
		{"11* 01 FF FF 00 00 10", "00*", ""},
		{expID, "00*", ""},
		{"12* 12", "09 53 42 54 31 31 31 31 31 31 31 31 31 31 31 31 53 42 54 56 45 4E 44 49 4E 47 30 30 01 01 94*", "00"},
		{"14* 01 15", "00*", ""},
		{"12* 12", "03 4E 20 FF 70*", "00"},
		{"12* 12", "04 04*", "00"},
		{"13* 04 17", "00*", ""},
		{"12* 12", "07 07*", "00"},
		{"12* 12", "03 4E 20 FF 70*", "00"},
		{"13* 00 00 0A 00 06 23", "00*", ""},
		{"12* 12", "05 00 0A 0F*", "00"},
		{"13* 02 00 06 1B", "00*", ""},
		{"13* 04 17", "00*", ""},
		{"12* 12", "07 07*", "00"},
	}}
	m := &Master{T: tr, Addr: Cashless1, ID: Identity{Level: 2, DisplayType: 2, MaxPrice: 0xFFFF}}
	ctx := context.Background()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if m.State != Enabled || m.Config.Currency != 0x1643 || m.Config.Decimals != 2 || m.Periph.Manufacturer != "SBT" || m.Periph.Model != "SBTVENDING00" {
		t.Fatalf("after init: %s %+v %+v", m.State, m.Config, m.Periph)
	}
	poll := func(want Msg) {
		t.Helper()
		msgs, err := m.PollOnce(ctx)
		if err != nil || len(msgs) != 1 || msgs[0] != want {
			t.Fatalf("poll: %#v %v, want %#v", msgs, err, want)
		}
	}
	poll(BeginSession{Funds: 20000})
	if m.State != SessionIdle || len(m.Warnings) != 1 {
		t.Fatalf("state %s, warnings %v", m.State, m.Warnings)
	}
	poll(Simple(RspSessionCancel))
	if err := m.SessionComplete(ctx); err != nil {
		t.Fatal(err)
	}
	poll(Simple(RspEndSession))
	poll(BeginSession{Funds: 20000})
	if err := m.VendRequest(ctx, 10, 6); err != nil {
		t.Fatal(err)
	}
	poll(VendApproved{Amount: 10})
	if err := m.VendSuccess(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if err := m.SessionComplete(ctx); err != nil {
		t.Fatal(err)
	}
	poll(Simple(RspEndSession))
	if m.State != Enabled || tr.i != len(tr.steps) {
		t.Fatalf("state %s, trace at %d of %d", m.State, tr.i, len(tr.steps))
	}
}

// immediate answers every command with END SESSION in its response.
type immediate struct{}

func (immediate) Send(context.Context, []Word) (Reply, error) {
	return Reply{Kind: ReplyData, Data: []byte{RspEndSession}}, nil
}
func (immediate) Answer(byte) error { return nil }

// TestInboxIsBounded: immediate replies nobody reads are bounded; the
// newest are kept and the loss is a warning.
func TestInboxIsBounded(t *testing.T) {
	m := &Master{T: immediate{}, Addr: Cashless1}
	for i := 0; i < maxInbox+5; i++ {
		if err := m.ReaderCancel(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := m.PollOnce(context.Background())
	if err != nil || len(msgs) != maxInbox || len(m.Warnings) != 5 {
		t.Fatalf("%d messages, %v, warnings %q", len(msgs), err, m.Warnings)
	}
	if m.Queued() {
		t.Fatal("messages left after PollOnce")
	}
}
