package cardapp_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/sim/nfcsim"
)

type field struct {
	c *nfcsim.Card
	// glitch fails a command once, before the card sees it, as an RF
	// error would; lose passes it and loses the answer.
	glitch, lose func(cmd byte) bool
}

var errGone = errors.New("card left the field")

var errGlitch = errors.New("RF status 02 (CRC)")

func (f field) Transceive(_ context.Context, frame []byte) ([]byte, error) {
	if f.glitch != nil && f.glitch(frame[0]) {
		return nil, errGlitch
	}
	out := f.c.Handle(frame)
	if f.lose != nil && f.lose(frame[0]) {
		return nil, errGone
	}
	if out != nil {
		return out, nil
	}
	return nil, errGone
}

// once is true for the first command with code, then never.
func once(code byte) func(byte) bool {
	done := false
	return func(cmd byte) bool {
		if cmd == code && !done {
			done = true
			return true
		}
		return false
	}
}

var ctx = context.Background()

func aesKey(b byte) desfire.Key {
	return desfire.Key{Type: desfire.AES, Bytes: bytes.Repeat([]byte{b}, 16)}
}

func keys(diversify bool) cardapp.Keys {
	return cardapp.Keys{AID: cardapp.DefaultAID, PICC: desfire.Key{Type: desfire.DES, Bytes: make([]byte, 8)},
		Issuer: aesKey(0xA0), Tap: aesKey(0xA1), Charger: aesKey(0xA2), Diversify: diversify, SystemID: []byte("tapagent")}
}

func session(card *nfcsim.Card, k cardapp.Keys) *cardapp.Session {
	uid, _, _, _ := card.Activation()
	return &cardapp.Session{C: desfire.New(field{c: card}), UID: uid, Keys: k}
}

func TestIssueReadChargeTopUpErase(t *testing.T) {
	for _, div := range []bool{false, true} {
		card := nfcsim.NewCard(11)
		k := keys(div)
		info := cardapp.Info{Type: 1, Name: "Guest 17", Alcohol: true, ServingsLimit: 10, Expires: time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)}
		s := session(card, k)
		if err := s.Format(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Issue(ctx, info, 2000); err != nil {
			t.Fatalf("diversify %v: %v", div, err)
		}
		s = session(card, k)
		got, err := s.Read(ctx)
		if err != nil || got.Info != info || got.Credit != 2000 || got.Servings != 0 || !bytes.Equal(got.UID, card.UID) {
			t.Fatalf("read %+v %v", got, err)
		}
		if err := s.Charge(ctx, got, "1001-1", 650, 1); err != nil {
			t.Fatal(err)
		}
		s = session(card, k)
		if v, err := s.TopUp(ctx, 1000); err != nil || v != 2350 {
			t.Fatalf("top-up %d %v", v, err)
		}
		s = session(card, k)
		got, _ = s.Read(ctx)
		if got.Credit != 2350 || got.Servings != 1 {
			t.Fatalf("after charge and top-up: %+v", got)
		}
		// The tap key cannot top up; the charger's cannot debit a card it was not given.
		s = session(card, cardapp.Keys{AID: k.AID, Charger: k.Tap, Diversify: div, SystemID: k.SystemID})
		if _, err := s.TopUp(ctx, 5); err == nil {
			t.Fatal("the tap key topped up a card")
		}
		s = session(card, k)
		if err := s.Erase(ctx); err != nil {
			t.Fatal(err)
		}
		s = session(card, k)
		if _, err := s.Read(ctx); err == nil || !strings.Contains(err.Error(), "not a tapagent card") {
			t.Fatalf("read after erase: %v", err)
		}
	}
}

// TestDiversifiedKeysAreCardOwn: a card's keys do not open another card
// issued with the same master keys.
func TestDiversifiedKeysAreCardOwn(t *testing.T) {
	k := keys(true)
	a, b := nfcsim.NewCard(21), nfcsim.NewCard(22)
	for _, c := range []*nfcsim.Card{a, b} {
		if err := session(c, k).Issue(ctx, cardapp.Info{Type: 1, Name: "x"}, 100); err != nil {
			t.Fatal(err)
		}
	}
	// A tap that mixes up the UIDs derives a's keys for b.
	uidA, _, _, _ := a.Activation()
	b.Activation()
	s := &cardapp.Session{C: desfire.New(field{c: b}), UID: uidA, Keys: k}
	if _, err := s.Read(ctx); err == nil {
		t.Fatal("card a's diversified key opened card b")
	}
}

// TestTearingBeforeAndAtCommit: pulled before the commit, nothing is
// charged; the commit's answer lost, the card's credit tells.
func TestTearingBeforeAndAtCommit(t *testing.T) {
	k := keys(false)
	card := nfcsim.NewCard(31)
	session(card, k).Issue(ctx, cardapp.Info{Type: 1, Name: "y"}, 1000)

	card.Silent = func(cmd byte) bool { return cmd == 0xDC } // gone before the debit
	s := session(card, k)
	c, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Charge(ctx, c, "1001-2", 300, 1); err == nil || errors.Is(err, cardapp.ErrCommitUnknown) {
		t.Fatalf("pulled before the debit: %v", err)
	}
	card.Silent = func(cmd byte) bool { return cmd == 0xC7 }
	card.PutBack()
	s = session(card, k)
	c, _ = s.Read(ctx)
	if err := s.Charge(ctx, c, "1001-2", 300, 1); !errors.Is(err, cardapp.ErrCommitUnknown) {
		t.Fatalf("pulled at the commit: %v", err)
	}
	card.Silent = nil
	card.PutBack()
	got, _ := session(card, k).Read(ctx)
	if got.Credit != 1000 || got.Servings != 0 {
		t.Fatalf("nothing may be charged: %+v", got)
	}
}

func TestInfoCodec(t *testing.T) {
	i := cardapp.Info{Type: 4, Name: "Anna (staff)", ServingsLimit: 65535, Expires: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)}
	b, err := i.Encode()
	if err != nil || len(b) != 64 {
		t.Fatal(err)
	}
	back, err := cardapp.DecodeInfo(b)
	if err != nil || back != i {
		t.Fatalf("%+v %v", back, err)
	}
	if !i.Expired(time.Date(2030, 1, 3, 0, 0, 1, 0, time.UTC)) || i.Expired(time.Date(2030, 1, 2, 23, 59, 0, 0, time.UTC)) {
		t.Fatal("expiry is the last valid day")
	}
	for _, bad := range []cardapp.Info{{Type: 300}, {ServingsLimit: -1}, {Name: strings.Repeat("x", 33)}} {
		if _, err := bad.Encode(); err == nil {
			t.Errorf("%+v encoded", bad)
		}
	}
	b[0] = 9
	if _, err := cardapp.DecodeInfo(b); err == nil {
		t.Fatal("unknown layout accepted")
	}
}

func TestUIDDecimal(t *testing.T) {
	uid := []byte{0x04, 0x06, 0x3F, 0x72, 0x63, 0x34, 0x80}
	for order, want := range map[string]string{"": "1132769478653056", "big-endian": "1132769478653056", "little-endian": "36086398742103556"} {
		if got, err := cardapp.UIDDecimal(uid, order); err != nil || got != want {
			t.Errorf("%s: %s %v", order, got, err)
		}
	}
	an := []byte{0x04, 0x78, 0x2E, 0x21, 0x80, 0x1D, 0x80}
	if got, _ := cardapp.UIDDecimal(an, "little-endian"); got != "36061233168676868" {
		t.Errorf("AN10922 UID LE %s", got)
	}
	if _, err := cardapp.UIDDecimal(uid, "middle"); err == nil {
		t.Fatal("unknown order accepted")
	}
}

// FuzzDecodeInfo: whatever a card holds, decoding errs or round-trips.
func FuzzDecodeInfo(f *testing.F) {
	b, _ := cardapp.Info{Type: 1, Name: "x", Expires: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}.Encode()
	f.Add(b)
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		i, err := cardapp.DecodeInfo(b)
		if err != nil {
			return
		}
		if _, err := i.Encode(); err != nil && !strings.Contains(err.Error(), "name") {
			t.Fatalf("decoded info does not encode: %v", err)
		}
	})
}

// TestLastPourDecidesALostCommit: the pour id is written in the
// transaction with the debit, so after a commit whose answer is lost the
// card says whether it was charged: torn after the commit took effect, or
// before; a commit answered normally.
func TestLastPourDecidesALostCommit(t *testing.T) {
	cases := []struct {
		name        string
		torn, quiet bool
		want        []string
		credit      int64
	}{
		{"answered", false, false, []string{"1001-7"}, 700},
		{"torn after the commit", true, false, []string{"1001-7"}, 700},
		{"torn before the commit", false, true, nil, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := keys(true)
			card := nfcsim.NewCard(41)
			if err := session(card, k).Issue(ctx, cardapp.Info{Type: 1, Name: "z"}, 1000); err != nil {
				t.Fatal(err)
			}
			card.Torn = func(cmd byte) bool { return tc.torn && cmd == 0xC7 }
			card.Silent = func(cmd byte) bool { return tc.quiet && cmd == 0xC7 }
			s := session(card, k)
			c, err := s.Read(ctx)
			if err != nil || !c.LastPourFile {
				t.Fatalf("read %+v %v", c, err)
			}
			err = s.Charge(ctx, c, "1001-7", 300, 1)
			if tc.torn || tc.quiet {
				if !errors.Is(err, cardapp.ErrCommitUnknown) {
					t.Fatalf("lost commit: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			card.Torn, card.Silent = nil, nil
			card.PutBack()
			s = session(card, k)
			if err := s.Reopen(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := s.LastPours(ctx)
			if err != nil || !slices.Equal(got.IDs, tc.want) || got.Charges != uint32(len(tc.want)) {
				t.Fatalf("last pour %+v %v, want %q", got, err, tc.want)
			}
			if v, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); int64(v) != tc.credit {
				t.Fatalf("credit %d, want %d", v, tc.credit)
			}
		})
	}
}

// TestRandomUIDCardIdentity: a random-ID card (ATQA 03 04, 4-byte 08...
// anticollision id) is issued and read under its real UID.
func TestRandomUIDCardIdentity(t *testing.T) {
	k := keys(false)
	card := nfcsim.NewCard(42)
	card.RandomUID = true
	s := session(card, k)
	if len(s.UID) != 4 {
		t.Fatalf("anticollision id % X", s.UID)
	}
	if err := s.Issue(ctx, cardapp.Info{Type: 1, Name: "r"}, 500); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.UID, card.UID) {
		t.Fatalf("issued as % X, the card is % X", s.UID, card.UID)
	}
	got, err := session(card, k).Read(ctx)
	if err != nil || !bytes.Equal(got.UID, card.UID) {
		t.Fatalf("read % X %v", got.UID, err)
	}
	// Diversified keys need the UID before authentication: refused clearly.
	card2 := nfcsim.NewCard(43)
	card2.RandomUID = true
	if err := session(card2, keys(true)).Issue(ctx, cardapp.Info{Type: 1, Name: "r"}, 500); err == nil || !strings.Contains(err.Error(), "random-UID") {
		t.Fatalf("diversified random-UID issue: %v", err)
	}
}

// TestSingleGlitchIsRetried: one RF error during authentication or the
// reads costs a retry, not the card.
func TestSingleGlitchIsRetried(t *testing.T) {
	k := keys(true)
	card := nfcsim.NewCard(44)
	if err := session(card, k).Issue(ctx, cardapp.Info{Type: 1, Name: "g"}, 900); err != nil {
		t.Fatal(err)
	}
	for _, code := range []byte{0xAA, 0xAF, 0xBD, 0x6C} {
		uid, _, _, _ := card.Activation()
		s := &cardapp.Session{C: desfire.New(field{c: card, glitch: once(code)}), UID: uid, Keys: k}
		if got, err := s.Read(ctx); err != nil || got.Credit != 900 {
			t.Fatalf("glitch at %02X: %+v %v", code, got, err)
		}
	}
	// Two in a row are the card's failure.
	uid, _, _, _ := card.Activation()
	s := &cardapp.Session{C: desfire.New(field{c: card, glitch: func(cmd byte) bool { return cmd == 0xAA }}), UID: uid, Keys: k}
	if _, err := s.Read(ctx); !errors.Is(err, errGlitch) {
		t.Fatalf("persistent glitch: %v", err)
	}
}

// TestTopUpWithALostCommitAnswer: the card is asked after the lost
// answer: the top-up shows, or it is reported as not done — never sent
// twice.
func TestTopUpWithALostCommitAnswer(t *testing.T) {
	k := keys(false)
	for _, reached := range []bool{true, false} {
		card := nfcsim.NewCard(45)
		if err := session(card, k).Issue(ctx, cardapp.Info{Type: 1, Name: "t"}, 100); err != nil {
			t.Fatal(err)
		}
		uid, _, _, _ := card.Activation()
		f := field{c: card}
		if reached {
			f.lose = once(0xC7)
		} else {
			f.glitch = once(0xC7)
		}
		s := &cardapp.Session{C: desfire.New(f), UID: uid, Keys: k}
		v, err := s.TopUp(ctx, 400)
		switch {
		case reached && (err != nil || v != 500):
			t.Fatalf("reached: %d %v", v, err)
		case !reached && (err == nil || !strings.Contains(err.Error(), "not done")):
			t.Fatalf("not reached: %d %v", v, err)
		}
		want := map[bool]int32{true: 500, false: 100}[reached]
		if got, _ := card.Value(cardapp.DefaultAID, cardapp.FileCredit); got != want {
			t.Fatalf("credit %d, want %d", got, want)
		}
	}
}

// TestLastPoursKeepsTheNewest: each charge counts itself and puts its id
// in front; the oldest fall out when the file is full, the count wraps.
func TestLastPoursKeepsTheNewest(t *testing.T) {
	ids := []string{"1001-15", "1001-14", "2002-9", "1001-13", "1001-12"}
	cases := []struct {
		charges uint32
		ids     []string
	}{{7, ids[:3]}, {0xFFFFFFFF, ids[:1]}, {0, nil}}
	for _, tc := range cases {
		l := cardapp.LastPours{Charges: tc.charges, IDs: ids}
		if tc.ids == nil {
			l.IDs = nil
			if _, err := l.Encode(); err == nil {
				t.Fatal("a file without an id")
			}
			continue
		}
		l.IDs = tc.ids
		b, err := l.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := cardapp.DecodeLastPours(b)
		if err != nil || got.Charges != tc.charges || !slices.Equal(got.IDs, tc.ids) {
			t.Fatalf("%+v %v", got, err)
		}
		if next := got.After("1001-16"); next.Since(tc.charges) != 1 || next.IDs[0] != "1001-16" {
			t.Fatalf("after a charge: %+v, %d since", next, next.Since(tc.charges))
		}
	}
	b, _ := cardapp.LastPours{Charges: 1, IDs: ids}.Encode()
	if got, err := cardapp.DecodeLastPours(b); err != nil || !slices.Equal(got.IDs, ids[:3]) {
		t.Fatalf("full file: %+v %v", got, err)
	}
	if _, err := (cardapp.LastPours{IDs: []string{strings.Repeat("9", 28)}}).Encode(); err == nil {
		t.Fatal("an id longer than the file")
	}
}

// FuzzDecodeLastPours: whatever file 4 holds, decoding errs or
// round-trips.
func FuzzDecodeLastPours(f *testing.F) {
	b, _ := cardapp.LastPours{Charges: 42, IDs: []string{"1001-42", "1001-41"}}.Encode()
	f.Add(b)
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := cardapp.DecodeLastPours(b)
		if err != nil || len(l.IDs) == 0 {
			return
		}
		back, err := l.Encode()
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%+v: % X %v", l, back, err)
		}
	})
}

// TestUpgradeAddsTheLastPourFile: a first-layout card gets an empty file
// 4 and layout 2, keeps its credit and servings, and is charged with its
// pour id in file 4 from then on; a card upgraded already, or half
// upgraded (file 4 there, info still layout 1), is handled too.
func TestUpgradeAddsTheLastPourFile(t *testing.T) {
	cases := []struct {
		name     string
		keepFile bool // the torn upgrade: file 4 made, the info not yet
	}{{"first layout", false}, {"upgrade torn before the info", true}}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := keys(true)
			card := nfcsim.NewCard(uint64(70 + i))
			if err := session(card, k).Issue(ctx, cardapp.Info{Type: 1, Name: "old"}, 1000); err != nil {
				t.Fatal(err)
			}
			app := card.Apps[cardapp.DefaultAID]
			if !tc.keepFile {
				delete(app.Files, cardapp.FileLastPour)
			}
			app.Files[cardapp.FileInfo].Data[0] = 1
			card.SetValue(cardapp.DefaultAID, cardapp.FileServings, 3)
			s := session(card, k)
			if c, err := s.Read(ctx); err != nil || c.LastPourFile {
				t.Fatalf("before: %+v %v", c, err)
			}
			if changed, err := session(card, k).Upgrade(ctx); err != nil || !changed {
				t.Fatalf("upgrade: %v %v", changed, err)
			}
			s = session(card, k)
			c, err := s.Read(ctx)
			if err != nil || !c.LastPourFile || c.Credit != 1000 || c.Servings != 3 || c.Info.Name != "old" {
				t.Fatalf("after: %+v %v", c, err)
			}
			if err := s.Charge(ctx, c, "1001-9", 250, 1); err != nil {
				t.Fatal(err)
			}
			s = session(card, k)
			if err := s.Reopen(ctx); err != nil {
				t.Fatal(err)
			}
			if l, err := s.LastPours(ctx); err != nil || l.Charges != 1 || !slices.Equal(l.IDs, []string{"1001-9"}) {
				t.Fatalf("file 4 after a charge: %+v %v", l, err)
			}
			if changed, err := session(card, k).Upgrade(ctx); err != nil || changed {
				t.Fatalf("second upgrade: %v %v", changed, err)
			}
		})
	}
}
