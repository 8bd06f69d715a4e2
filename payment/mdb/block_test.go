package mdb

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// words parses the shared file's notation: hex bytes, "*" after a byte
// that carries the mode bit.
func words(s string) []Word {
	var out []Word
	for _, f := range strings.Fields(s) {
		mode := strings.HasSuffix(f, "*")
		b, err := hex.DecodeString(strings.TrimSuffix(f, "*"))
		if err != nil || len(b) != 1 {
			panic(f)
		}
		w := Word(b[0])
		if mode {
			w |= ModeBit
		}
		out = append(out, w)
	}
	return out
}

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestVMCBlocks: every VMC block of §3.8 encodes to the bytes on the wire.
func TestVMCBlocks(t *testing.T) {
	tests := []struct {
		addr byte
		data string
		want string
	}{
		{0x10, "", "10* 10"},                              // RESET
		{0x12, "", "12* 12"},                              // POLL
		{0x62, "", "62* 62"},                              // POLL cashless #2
		{0x11, "00 02 00 00 02", "11* 00 02 00 00 02 15"}, // SETUP config
		{0x11, "01 FF FF 00 00", "11* 01 FF FF 00 00 10"}, // SETUP max/min unknown
		{0x14, "01", "14* 01 15"},                         // READER ENABLE
		{0x14, "00", "14* 00 14"},                         // READER DISABLE
		{0x13, "04", "13* 04 17"},                         // SESSION COMPLETE
		{0x13, "00 00 0A 00 06", "13* 00 00 0A 00 06 23"}, // VEND REQUEST 10, item 6
		{0x13, "02 00 06", "13* 02 00 06 1B"},             // VEND SUCCESS
		{0x15, "00 00 0A", "15* 00 00 0A 1F"},             // REVALUE
		{0x13, "01", "13* 01 14"},                         // VEND CANCEL
		{0x13, "03", "13* 03 16"},                         // VEND FAILURE
		{0x11, "00 02 00 00 00", "11* 00 02 00 00 00 13"}, // SETUP config (other firmware)
		{0x34, "FF FF 00 00", "34* FF FF 00 00 32"},       // BILL TYPE
		{0x34, "FF FF FF FF", "34* FF FF FF FF 30"},       //
		{0x34, "00 00 00 00", "34* 00 00 00 00 34"},       //
		{0x35, "00", "35* 00 35"},                         // escrow return
		{0x35, "01", "35* 01 36"},                         // stack
		{0x30, "", "30* 30"},                              // bill RESET
		{0x0C, "00 FF 00 FF", "0C* 00 FF 00 FF 0A"},       // COIN TYPE
		{0x0A, "", "0A* 0A"},                              // TUBE STATUS
		{0x08, "", "08* 08"},                              // coin RESET
		{0x0F, "02 14", "0F* 02 14 25"},                   // payout
		{0x34, "01 2F FF FF", "34* 01 2F FF FF 62"},       // vender packet encoder
		{0x17, "00" + strings.Repeat(" 00", 29), "17* 00" + strings.Repeat(" 00", 29) + " 17"}, // EXPANSION REQUEST ID
	}
	for _, tc := range tests {
		got, err := Block(tc.addr, hx(tc.data)...)
		if err != nil || !reflect.DeepEqual(got, words(tc.want)) {
			t.Errorf("Block(%02X, %s) = %v %v, want %s", tc.addr, tc.data, got, err, tc.want)
		}
	}
	if _, err := Block(0x17, make([]byte, 35)...); err == nil {
		t.Fatal("a 37-byte block was built")
	}
	if Checksum(hx("13 00 00 00 00 01")...) != 0x14 || Checksum(hx("02 00 01 05 02 00 07 01 02 05 14 FF")...) != 0x2C {
		t.Fatal("checksum vectors")
	}
}

// TestPeripheralReplies: every reply of §3.8 decodes, ACK/NAK alone, and a
// bad checksum is named.
func TestPeripheralReplies(t *testing.T) {
	tests := []struct {
		wire string
		kind ReplyKind
		data string
	}{
		{"00*", ReplyACK, ""},
		{"FF*", ReplyNAK, ""},
		{"00 00*", ReplyData, "00"},
		{"01 01 16 43 01 02 2D 05 90*", ReplyData, "01 01 16 43 01 02 2D 05"},
		{"09 53 42 54 31 31 31 31 31 31 31 31 31 31 31 31 53 42 54 56 45 4E 44 49 4E 47 30 30 01 01 94*", ReplyData,
			"09 53 42 54 31 31 31 31 31 31 31 31 31 31 31 31 53 42 54 56 45 4E 44 49 4E 47 30 30 01 01"},
		{"03 4E 20 FF 70*", ReplyData, "03 4E 20 FF"},
		{"04 04*", ReplyData, "04"},
		{"07 07*", ReplyData, "07"},
		{"05 00 0A 0F*", ReplyData, "05 00 0A"},
		{"01 02 FF FF 01 02 78 09 85*", ReplyData, "01 02 FF FF 01 02 78 09"},
		{"03 4E 20 FF FF FF FF 00 00 00 6D*", ReplyData, "03 4E 20 FF FF FF FF 00 00 00"},
		{"03 00 C8 CB*", ReplyData, "03 00 C8"},
		{"0D 0D*", ReplyData, "0D"},
		{"0E 0E*", ReplyData, "0E"},
		{"06 06*", ReplyData, "06"},
		{"06 0A 07 04 1B*", ReplyData, "06 0A 07 04"},
	}
	for _, tc := range tests {
		r, rest, err := ParseReply(append(words(tc.wire), 0x12))
		if err != nil || r.Kind != tc.kind || !bytes.Equal(r.Data, hx(tc.data)) || len(rest) != 1 {
			t.Errorf("%s: %+v %v %v", tc.wire, r, rest, err)
		}
	}
	var ce *ChecksumError
	if _, _, err := ParseReply(words("05 00 0A 0E*")); !errors.As(err, &ce) || ce.Received != 0x0E || ce.Actual != 0x0F {
		t.Fatalf("bad checksum: %v", err)
	}
	if _, _, err := ParseReply(words("05 00 0A")); !errors.Is(err, ErrNoTerminator) {
		t.Fatalf("no terminator: %v", err)
	}
	if _, _, err := ParseReply(words("42*")); err == nil {
		t.Fatal("42* taken as ACK or NAK")
	}
}

// TestParmrk: the five receive vectors of §3.8.4, fed whole and a byte at
// a time.
func TestParmrk(t *testing.T) {
	tests := []struct {
		raw  string
		kind ReplyKind
		data string
		err  error
	}{
		{"ff 00 00", ReplyACK, "", nil},
		{"02 16 41 ff 00 59", ReplyData, "02 16 41", nil},
		{"73 ff ff 04 ff 00 76", ReplyData, "73 FF 04", nil},
		{"0b ff 00 01", 0, "", &ChecksumError{Received: 0x01, Actual: 0x0b}},
		{"0b", 0, "", ErrNoTerminator},
	}
	for _, tc := range tests {
		for _, chunk := range []int{100, 1} {
			var p Parmrk
			var ws []Word
			raw := hx(tc.raw)
			for i := 0; i < len(raw); i += chunk {
				ws = append(ws, p.Feed(raw[i:min(i+chunk, len(raw))])...)
			}
			r, _, err := ParseReply(ws)
			if tc.err != nil {
				var ce *ChecksumError
				if errors.As(tc.err, &ce) {
					var got *ChecksumError
					if !errors.As(err, &got) || *got != *ce {
						t.Errorf("%s: %v, want %v", tc.raw, err, tc.err)
					}
				} else if !errors.Is(err, tc.err) {
					t.Errorf("%s: %v, want %v", tc.raw, err, tc.err)
				}
				continue
			}
			if err != nil || r.Kind != tc.kind || !bytes.Equal(r.Data, hx(tc.data)) {
				t.Errorf("%s (chunks of %d): %+v %v", tc.raw, chunk, r, err)
			}
		}
	}
}

// TestPollMessages: the cashless messages of §3.8, multi-message replies
// in order, and the PAX trailing FF.
func TestPollMessages(t *testing.T) {
	l1 := Context{Level: 1}
	msgs, warn := ParsePoll(hx("01 01 16 43 01 02 2D 05"), l1)
	if len(warn) != 0 || !reflect.DeepEqual(msgs, []Msg{ReaderConfig{Level: 1, Currency: 0x1643, Scale: 1, Decimals: 2, MaxResponse: 45 * time.Second, Options: 5}}) {
		t.Fatalf("reader config %#v %v", msgs, warn)
	}
	msgs, warn = ParsePoll(hx("03 4E 20 FF"), l1)
	if len(msgs) != 1 || msgs[0] != (BeginSession{Funds: 20000}) || len(warn) != 1 {
		t.Fatalf("PAX begin session with trailing FF: %#v %v", msgs, warn)
	}
	msgs, _ = ParsePoll(hx("06 0A 07 04"), l1)
	if !reflect.DeepEqual(msgs, []Msg{Simple(RspVendDenied), Malfunction{Error: 7}, Simple(RspSessionCancel)}) {
		t.Fatalf("multi-message: %#v", msgs)
	}
	msgs, _ = ParsePoll(hx("03 4E 20 FF FF FF FF 00 00 00"), Context{Level: 2})
	if msgs[0] != (BeginSession{Funds: 20000, MediaID: 0xFFFFFFFF}) {
		t.Fatalf("L2 begin session %#v", msgs)
	}
	msgs, _ = ParsePoll(hx("09 54 42 44 30 30 30 30 30 30 30 30 32 31 32 35 55 4E 4B 4E 4F 57 4E 20 20 20 20 20 01 00"), l1)
	if id := msgs[0].(PeripheralID); id.Manufacturer != "TBD" || id.Serial != "000000002125" || id.Software != 0x0100 {
		t.Fatalf("peripheral id %#v", id)
	}
	msgs, _ = ParsePoll(hx("05 00 0A"), l1)
	if msgs[0] != (VendApproved{Amount: 10}) {
		t.Fatalf("approved %#v", msgs)
	}
	if msgs, _ := ParsePoll(hx("05 00 00 00 0A"), Context{Level: 3, Expanded: true}); msgs[0] != (VendApproved{Amount: 10}) {
		t.Fatalf("expanded approved %#v", msgs)
	}
	if msgs, _ := ParsePoll(hx("0B 03"), Context{Level: 2}); msgs[0] != (OutOfSequence{State: 3}) {
		t.Fatalf("out of sequence %#v", msgs)
	}
	if _, warn := ParsePoll(hx("03 4E"), l1); len(warn) != 1 {
		t.Fatal("a short message must be a warning")
	}
	if _, warn := ParsePoll(hx("77"), l1); len(warn) != 1 {
		t.Fatal("an unknown message must be a warning")
	}
}

// TestScaling: §3.5 and 3.9 item 14.
func TestScaling(t *testing.T) {
	if a := Amount(7, 5, 2, 2); a != 35 { // P=7, X=5, Y=2 → 0.35
		t.Fatalf("amount %d", a)
	}
	if p, err := Price(35, 5, 2, 2, false); err != nil || p != 7 {
		t.Fatalf("price %d %v", p, err)
	}
	if _, err := Price(36, 5, 2, 2, false); err == nil {
		t.Fatal("0.36 is not a multiple of 0.05")
	}
	if _, err := Price(700000, 1, 2, 2, false); err == nil {
		t.Fatal("700000 fits 16 bits")
	}
	if p, err := Price(700000, 1, 2, 2, true); err != nil || p != 700000 {
		t.Fatalf("expanded %d %v", p, err)
	}
	if p, _ := Price(650, 1, 0, 2, false); p != 0 {
		// 6.50 in a currency shown without decimals: not whole units.
		t.Fatalf("whole units %d", p)
	}
	if p, err := Price(600, 1, 0, 2, false); err != nil || p != 6 {
		t.Fatalf("whole units %d %v", p, err)
	}
}

// FuzzReply: any words decode into a reply or an error, never a panic,
// and whatever decodes also survives the poll parser at every level.
func FuzzReply(f *testing.F) {
	f.Add(hx("0100"))
	f.Add(hx("03004e0020ff0170"))
	f.Add(hx("0600 0a00 0700 0400 1b01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ws := make([]Word, len(b)/2)
		for i := range ws {
			ws[i] = Word(b[2*i])<<8&ModeBit | Word(b[2*i+1])
		}
		r, _, err := ParseReply(ws)
		if err != nil || r.Kind != ReplyData {
			return
		}
		for _, c := range []Context{{Level: 1}, {Level: 2, DisplayCells: 32}, {Level: 3, Expanded: true, VMCLevel3: true}} {
			ParsePoll(r.Data, c)
		}
		var p Parmrk
		p.Feed(b)
	})
}

// FuzzQibixxLine: any line from the adapter is a reply or an error.
func FuzzQibixxLine(f *testing.F) {
	for _, s := range []string{"p,ACK", "p,NACK", "p,034E20FF", "p,", "p,ZZ", "m,ACK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := parseQibixx(line)
		if err == nil && r.Kind == ReplyData && (len(r.Data) == 0 || len(r.Data) >= MaxBlock) {
			t.Fatalf("%q gave %+v", line, r)
		}
	})
}
