package nfcsim

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tapagent/tapagent/nfc/desfire"
)

// field hands frames to the card the way a reader would; a card that
// stays silent is an RF timeout.
type field struct{ c *Card }

var errGone = errors.New("no answer from the card")

func (f field) Transceive(_ context.Context, frame []byte) ([]byte, error) {
	out := f.c.Handle(frame)
	if out == nil {
		return nil, errGone
	}
	return out, nil
}

var ctx = context.Background()

var (
	piccKey = desfire.Key{Type: desfire.DES, Bytes: make([]byte, 8)}
	appKey0 = desfire.Key{Type: desfire.AES, Bytes: bytes.Repeat([]byte{0x11}, 16)}
	appKey1 = desfire.Key{Type: desfire.AES, Bytes: bytes.Repeat([]byte{0x22}, 16), Version: 1}
	zeroAES = desfire.Key{Type: desfire.AES, Bytes: make([]byte, 16)}
)

const aid = desfire.AID(0xF0A1B2)

// issue makes the application the way the card tool does, with the
// client's own code: every step is also a test of the client.
func issue(t *testing.T, c *desfire.Card) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.SelectApplication(ctx, 0))
	must(c.Authenticate(ctx, 0, piccKey))
	must(c.FormatPICC(ctx))
	must(c.CreateApplication(ctx, aid, 0x0B, 2))
	must(c.SelectApplication(ctx, aid))
	must(c.Authenticate(ctx, 0, zeroAES))
	must(c.ChangeKey(ctx, 1, appKey1, zeroAES)) // another key: XOR form, session stays
	must(c.CreateStdDataFile(ctx, 1, desfire.Plain, desfire.Access{Read: 0xE, Write: 0, ReadWrite: 0, Change: 0}, 32))
	must(c.CreateStdDataFile(ctx, 2, desfire.Enciphered, desfire.Access{Read: 1, Write: 0, ReadWrite: 0, Change: 0}, 100))
	must(c.CreateValueFile(ctx, 3, desfire.MACed, desfire.Access{Read: 1, Write: 1, ReadWrite: 0, Change: 0}, 0, 100000, 0, true))
	must(c.ChangeKey(ctx, 0, appKey0, desfire.Key{})) // its own key: session ends
}

func TestCardLifecycle(t *testing.T) {
	card := NewCard(1)
	c := desfire.New(field{card})
	issue(t, c)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.SelectApplication(ctx, aid))
	must(c.Authenticate(ctx, 0, appKey0))
	long := bytes.Repeat([]byte("tapagent "), 11) // 99 bytes: two frames each way
	must(c.WriteData(ctx, 2, desfire.Enciphered, 0, long))
	must(c.WriteData(ctx, 1, desfire.Plain, 0, []byte("Guest 17")))
	must(c.Credit(ctx, 3, desfire.MACed, 5000))
	must(c.CommitTransaction(ctx))

	// A customer's tap: key 1 reads and debits.
	must(c.SelectApplication(ctx, aid))
	must(c.Authenticate(ctx, 1, appKey1))
	got, err := c.ReadData(ctx, 2, desfire.Enciphered, 0, 99)
	if err != nil || !bytes.Equal(got, long) {
		t.Fatalf("enciphered read: %q %v", got, err)
	}
	if got, err := c.ReadData(ctx, 2, desfire.Enciphered, 0, 0); err != nil || len(got) != 100 {
		t.Fatalf("whole-file enciphered read (length from the padding): %d %v", len(got), err)
	}
	name, err := c.ReadData(ctx, 1, desfire.Plain, 0, 8)
	if err != nil || string(name) != "Guest 17" {
		t.Fatalf("plain read: %q %v", name, err)
	}
	v, err := c.GetValue(ctx, 3, desfire.MACed)
	if err != nil || v != 5000 {
		t.Fatalf("value %d %v", v, err)
	}
	must(c.Debit(ctx, 3, desfire.MACed, 650))
	must(c.CommitTransaction(ctx))
	must(c.Debit(ctx, 3, desfire.MACed, 650))
	must(c.AbortTransaction(ctx))
	if v, _ := card.Value(aid, 3); v != 4350 {
		t.Fatalf("after one committed and one aborted debit: %d", v)
	}
	must(c.LimitedCredit(ctx, 3, desfire.MACed, 650)) // give back the last pour
	must(c.CommitTransaction(ctx))
	if v, _ := card.Value(aid, 3); v != 5000 {
		t.Fatalf("after the limited credit: %d", v)
	}
	if err := c.Credit(ctx, 3, desfire.MACed, 1); err == nil {
		t.Fatal("key 1 may not credit")
	}
	must(c.SelectApplication(ctx, aid))
	must(c.Authenticate(ctx, 1, appKey1))
	uid, err := c.GetCardUID(ctx)
	if err != nil || !bytes.Equal(uid, card.UID) {
		t.Fatalf("GetCardUID % X %v", uid, err)
	}
	v2, err := c.GetVersion(ctx)
	if err != nil || !bytes.Equal(v2.UID, card.UID) {
		t.Fatalf("GetVersion %+v %v", v2, err)
	}
	if err := c.Debit(ctx, 3, desfire.MACed, 100000); err == nil {
		t.Fatal("debit below the lower limit accepted")
	}
}

func TestWrappedAPDUsAndWrongKey(t *testing.T) {
	card := NewCard(2)
	c := desfire.New(field{card})
	issue(t, c)
	c.Wrap = true
	if err := c.SelectApplication(ctx, aid); err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(ctx, 1, appKey0); !errors.Is(err, desfire.ErrIntegrity) && err == nil {
		t.Fatal("wrong key accepted")
	}
	if err := c.Authenticate(ctx, 1, appKey1); err != nil {
		t.Fatalf("wrapped auth: %v", err)
	}
	if v, err := c.GetValue(ctx, 3, desfire.MACed); err != nil || v != 0 {
		t.Fatalf("wrapped MACed read: %d %v", v, err)
	}
}

// TestTearing: the card leaves the field before CommitTransaction: the
// debit never happened.
func TestTearing(t *testing.T) {
	card := NewCard(3)
	c := desfire.New(field{card})
	issue(t, c)
	c.SelectApplication(ctx, aid)
	c.Authenticate(ctx, 0, appKey0)
	c.Credit(ctx, 3, desfire.MACed, 1000)
	c.CommitTransaction(ctx)
	card.Silent = func(cmd byte) bool { return cmd == 0xC7 }
	c.SelectApplication(ctx, aid)
	c.Authenticate(ctx, 1, appKey1)
	if err := c.Debit(ctx, 3, desfire.MACed, 650); err != nil {
		t.Fatal(err)
	}
	if err := c.CommitTransaction(ctx); !errors.Is(err, errGone) {
		t.Fatalf("commit to a card that left: %v", err)
	}
	card.Silent = nil
	card.PutBack()
	card.Activation()
	if v, _ := card.Value(aid, 3); v != 1000 {
		t.Fatalf("torn debit changed the value: %d", v)
	}
}

func TestRandomUID(t *testing.T) {
	card := NewCard(4)
	card.RandomUID = true
	uid, atqa, sak, _ := card.Activation()
	if len(uid) != 4 || uid[0] != 0x08 || atqa != [2]byte{3, 0x04} || sak != 0x20 {
		t.Fatalf("activation % X", uid)
	}
	c := desfire.New(field{card})
	issue(t, c)
	c.SelectApplication(ctx, aid)
	c.Authenticate(ctx, 1, appKey1)
	real, err := c.GetCardUID(ctx)
	if err != nil || !bytes.Equal(real, card.UID) || len(real) != 7 {
		t.Fatalf("real UID % X %v", real, err)
	}
}

// TestBackupFileTransaction: a backup data file's write belongs to the
// transaction (DESFire EV1): unseen until CommitTransaction, committed
// with the value file, dropped by AbortTransaction and by a new selection.
func TestBackupFileTransaction(t *testing.T) {
	card := NewCard(11)
	c := desfire.New(field{card})
	issue(t, c)
	c.SelectApplication(ctx, aid)
	c.Authenticate(ctx, 0, appKey0)
	if err := c.CreateBackupDataFile(ctx, 4, desfire.MACed, desfire.Access{Read: 1, Write: 1, ReadWrite: 0, Change: 0}, 8); err != nil {
		t.Fatal(err)
	}
	open := func() {
		t.Helper()
		if err := c.SelectApplication(ctx, aid); err != nil {
			t.Fatal(err)
		}
		if err := c.Authenticate(ctx, 1, appKey1); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []byte {
		t.Helper()
		b, err := c.ReadData(ctx, 4, desfire.MACed, 0, 8)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	zero := make([]byte, 8)
	steps := []struct {
		name string
		end  func() error
		want []byte
	}{
		{"abort", func() error { return c.AbortTransaction(ctx) }, zero},
		{"reselect", func() error { return c.SelectApplication(ctx, aid) }, zero},
		{"commit", func() error { return c.CommitTransaction(ctx) }, []byte("pour-001")},
	}
	for _, st := range steps {
		open()
		if err := c.Debit(ctx, 3, desfire.MACed, 10); err == nil {
			t.Fatalf("%s: debit of an empty value file", st.name)
		}
		open()
		if err := c.WriteData(ctx, 4, desfire.MACed, 0, []byte("pour-001")); err != nil {
			t.Fatal(err)
		}
		if got := read(); !bytes.Equal(got, zero) {
			t.Fatalf("%s: uncommitted write visible: %q", st.name, got)
		}
		if err := st.end(); err != nil {
			t.Fatal(err)
		}
		open()
		if got := read(); !bytes.Equal(got, st.want) {
			t.Fatalf("%s: % X, want % X", st.name, got, st.want)
		}
	}
}

// TestTornCommit: power lost after the commit took effect — the card
// leaves without answering and the change stays; Silent is the other case.
func TestTornCommit(t *testing.T) {
	card := NewCard(12)
	c := desfire.New(field{card})
	issue(t, c)
	c.SelectApplication(ctx, aid)
	c.Authenticate(ctx, 1, appKey1)
	c.LimitedCredit(ctx, 3, desfire.MACed, 0)
	card.SetValue(aid, 3, 500)
	c.SelectApplication(ctx, aid)
	c.Authenticate(ctx, 1, appKey1)
	if err := c.Debit(ctx, 3, desfire.MACed, 40); err != nil {
		t.Fatal(err)
	}
	card.Torn = func(cmd byte) bool { return cmd == 0xC7 }
	if err := c.CommitTransaction(ctx); !errors.Is(err, errGone) {
		t.Fatalf("torn commit answered: %v", err)
	}
	if !card.Gone() {
		t.Fatal("a torn card is still in the field")
	}
	if v, _ := card.Value(aid, 3); v != 460 {
		t.Fatalf("the torn commit took effect: value %d, want 460", v)
	}
}
