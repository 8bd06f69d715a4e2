package cardapp_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapagent/tapagent/nfc/cardapp"
	"github.com/tapagent/tapagent/nfc/desfire"
	"github.com/tapagent/tapagent/sim/nfcsim"
)

type field struct{ c *nfcsim.Card }

var errGone = errors.New("card left the field")

func (f field) Transceive(_ context.Context, frame []byte) ([]byte, error) {
	if out := f.c.Handle(frame); out != nil {
		return out, nil
	}
	return nil, errGone
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
	return &cardapp.Session{C: desfire.New(field{card}), UID: uid, Keys: k}
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
		if err := s.Charge(ctx, 650, 1); err != nil {
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
	s := &cardapp.Session{C: desfire.New(field{b}), UID: uidA, Keys: k}
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
	if _, err := s.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Charge(ctx, 300, 1); err == nil || errors.Is(err, cardapp.ErrCommitUnknown) {
		t.Fatalf("pulled before the debit: %v", err)
	}
	card.Silent = func(cmd byte) bool { return cmd == 0xC7 }
	card.PutBack()
	s = session(card, k)
	s.Read(ctx)
	if err := s.Charge(ctx, 300, 1); !errors.Is(err, cardapp.ErrCommitUnknown) {
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
