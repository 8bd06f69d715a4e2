package desfire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// replay is a card that answers a recorded trace and fails on any frame
// that differs from the recording.
type replay struct {
	t     *testing.T
	steps [][2]string // TX, RX as hex
	i     int
}

func (r *replay) Transceive(_ context.Context, frame []byte) ([]byte, error) {
	r.t.Helper()
	if r.i >= len(r.steps) {
		r.t.Fatalf("unexpected frame % X after the end of the trace", frame)
	}
	st := r.steps[r.i]
	r.i++
	if want := h(st[0]); !bytes.Equal(frame, want) {
		r.t.Fatalf("frame %d:\n sent % X\n want % X", r.i, frame, want)
	}
	return h(st[1]), nil
}

func (r *replay) done() {
	r.t.Helper()
	if r.i != len(r.steps) {
		r.t.Fatalf("trace stopped at frame %d of %d", r.i, len(r.steps))
	}
}

// randoms hands out RndA values in order.
type randoms struct{ vals [][]byte }

func (r *randoms) Read(p []byte) (int, error) {
	if len(r.vals) == 0 {
		return 0, errors.New("no more RndA in the trace")
	}
	n := copy(p, r.vals[0])
	r.vals = r.vals[1:]
	return n, nil
}

func card(t *testing.T, steps [][2]string, rndA ...string) (*Card, *replay) {
	r := &replay{t: t, steps: steps}
	c := New(r)
	rs := &randoms{}
	for _, a := range rndA {
		rs.vals = append(rs.vals, h(a))
	}
	c.Rand = rs
	return c, r
}

func aesKey(s string, v byte) Key { return Key{Type: AES, Bytes: h(s), Version: v} }

var ctx = context.Background()

// TestAESAuthAndChangeKey replays the four authentications and the key
// changes of §3.3 (Elmü's trace, PN532 frames unwrapped).
func TestAESAuthAndChangeKey(t *testing.T) {
	zero := aesKey("00000000000000000000000000000000", 0)
	k1 := aesKey("00102030405060708090A0B0B0A09080", 0x10)
	k2 := aesKey("10182028303840485058606870788088", 0x10)
	c, r := card(t, [][2]string{
		{"AA00", "AF B969FDFE56FD91FC9DE6F6F213B8FD1E"},
		{"AF 36AAD7DF6E436BA08D18613830A70D5AD43E3D3F4A8D47541EEE623A934E4774", "00 800DB680BC146BD121D6578F2D2E2059"},
		{"C400 E9F85E219496C2B58C1090DC3935FAE9E840CF61B383D9531946256B1F110C10", "00"},
		{"AA00", "AF CCC8316C2B2613FE9A189BAC9CC89D03"},
		{"AF C02E061E72E17726489CAEEC997C523758BF863EFE7671C55B4665D06ACCD97B", "00 72ACCC0BDEA482B53185BB5AD0086246"},
		{"C400 2945E3760E60F4A4046BB8A505B31CF559A3A2E05213BC82942CA6AB5DBCECF5", "00"},
		{"AA00", "AF 3E2BE626C05E7798EE518355A751648E"},
		{"AF FABF71BB0DC45B8F31BAEDDFF7F3439652D4094DF12C17EF0C94353E6D7770C8", "00 1CE6C574E24923D404E18B6A240C1B08"},
		{"6400", "00 10 8A8FA36F55CD210D"},
		{"C400 635375E4919F8AF2E9E86B1C1BA55B0C0807EAF484D7A7EF6E0C3084160F5A61", "00"},
		{"AA00", "AF EDDAF0C5D9A7CF42B8808BE2013899A1"},
		{"AF D8105F874E2CA57B76C354A8066B0D7880B0C4EC399DBF253438DB46D75F8F60", "00 459C76B71AB9F1736413F5ACD73E7DF9"},
		{"C401 E7ECCB6BD1CA64BC161A12B1C024F71430337408C8A87EACAB7A1FF18951FCA3", "00 2128D3CD9C9ACFFF"},
	}, "F44B26F5686F3A391CD38EBD10772281", "C2A1E47B96A5589FAAE90C03FE6D00A7", "90F7A201C4DB760538FF8A49EC63DECD", "C2A1E47B96A5589FAAE90C03FE6D00A7")

	steps := []struct {
		key   Key
		sk    string
		after func() error
	}{
		{zero, "F44B26F5C05DDD7110772281C4D066E8", func() error { return c.ChangeKey(ctx, 0, k1, Key{}) }},
		{k1, "C2A1E47B27104712FE6D00A71177A19B", func() error { return c.ChangeKey(ctx, 0, k2, Key{}) }},
		{k2, "90F7A20191036845EC63DECD544B9931", func() error {
			v, err := c.GetKeyVersion(ctx, 0)
			if err == nil && v != 0x10 {
				err = fmt.Errorf("key version %02X", v)
			}
			if err == nil {
				err = c.ChangeKey(ctx, 0, zero, Key{})
			}
			return err
		}},
		{zero, "C2A1E47BD8100044FE6D00A74D7AB17C", func() error { return c.ChangeKey(ctx, 1, k1, zero) }},
	}
	for i, st := range steps {
		if err := c.Authenticate(ctx, 0, st.key); err != nil {
			t.Fatalf("auth #%d: %v", i+1, err)
		}
		if !bytes.Equal(c.sess.skKey.Bytes, h(st.sk)) {
			t.Fatalf("auth #%d: session key %X, want %s", i+1, c.sess.skKey.Bytes, st.sk)
		}
		if err := st.after(); err != nil {
			t.Fatalf("after auth #%d: %v", i+1, err)
		}
	}
	if _, ok := c.Authenticated(); !ok {
		t.Fatal("changing another key must keep the session")
	}
	r.done()
}

// TestPlainCommandsCMACChain replays §3.4: eighteen commands and answers
// in an AES session, each CMAC becoming the next IV; the card's MACs on
// the wire are the first 8 bytes of the listed values.
func TestPlainCommandsCMACChain(t *testing.T) {
	seq := func(from, to int) string {
		var b []byte
		for i := from; i <= to; i++ {
			b = append(b, byte(i))
		}
		return fmt.Sprintf("%X", b)
	}
	c, r := card(t, [][2]string{
		{"AA01", "AF B351CB2465D4F33AC627FD6E87A168F2"},
		{"AF 044B6CAC343A0865895149649CA8DDE1F5AC4EC67BD208900AF02F049E05F0B0", "00 A2EE144B1012FBEB7B2F11132D95A454"},
		{"CD 05 00 1100 500000", "00 A75316AD1596B953"},
		{"6F", "00 05 2D5FF67FFEC9D2D3"},
		{"F5 05", "00 00 00 1100 500000 2AAC7517024E09DC"},
		{"3D 05 000000 340000" + seq(0x00, 0x33), "00 765C9DAA50ECB62F"},
		{"3D 05 340000 1C0000" + seq(0x34, 0x4F), "00 3E0AED986B8B0F37"},
		{"BD 05 000000 300000", "00" + seq(0x00, 0x2F) + "4C65F1F842262BAC"},
		{"BD 05 300000 200000", "00" + seq(0x30, 0x4F) + "F02205CF913C03C9"},
		{"DF 05", "00 1BEF0D32B6D1D7F9"},
		{"6F", "00 FC194EA93E3EF8E7"},
	}, "40E7D27174CBA675E8EFBAB99C530E3D")
	if err := c.Authenticate(ctx, 1, aesKey("10182028303840485058606870788088", 0)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.sess.skKey.Bytes, h("40E7D271626FFBD49C530E3D304F5B17")) {
		t.Fatalf("session key %X", c.sess.skKey.Bytes)
	}
	if err := c.CreateStdDataFile(ctx, 5, Plain, Access{ReadWrite: 1, Change: 1}, 0x50); err != nil {
		t.Fatal(err)
	}
	ids, err := c.GetFileIDs(ctx)
	if err != nil || !bytes.Equal(ids, []byte{5}) {
		t.Fatalf("file ids % X %v", ids, err)
	}
	fs, err := c.GetFileSettings(ctx, 5)
	if err != nil || fs.Size != 0x50 || fs.Access.ReadWrite != 1 || fs.Comm != Plain {
		t.Fatalf("settings %+v %v", fs, err)
	}
	if err := c.WriteData(ctx, 5, Plain, 0, h(seq(0, 0x33))); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteData(ctx, 5, Plain, 0x34, h(seq(0x34, 0x4F))); err != nil {
		t.Fatal(err)
	}
	for _, rd := range [][2]int{{0, 0x30}, {0x30, 0x20}} {
		d, err := c.ReadData(ctx, 5, Plain, rd[0], rd[1])
		if err != nil || !bytes.Equal(d, h(seq(rd[0], rd[0]+rd[1]-1))) {
			t.Fatalf("read %v: % X %v", rd, d, err)
		}
	}
	if err := c.DeleteFile(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if ids, err := c.GetFileIDs(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("file ids after delete % X %v", ids, err)
	}
	r.done()
}

// TestISOAuth2K3DESAndMultiFrameMAC replays §3.5: ISO authentication with
// a DES key run as 2K3DES, then GetVersion over three frames, its 3DES
// CMAC over all of them.
func TestISOAuth2K3DESAndMultiFrameMAC(t *testing.T) {
	c, r := card(t, [][2]string{
		{"1A00", "AF 5D994CE085F24089"},
		{"AF 21D0AD5F2FD97454A746CC80567F1B1C", "00 913C6DED84221C41"},
		{"60", "AF 04010101001A05"},
		{"AF", "AF 04010101041A05"},
		{"AF", "00 04063F72633480BA4519E3204913 CDC810BAFA401759"},
	}, "849B36C5F8BF4A09")
	if err := c.Authenticate(ctx, 0, Key{Type: TDES2, Bytes: make([]byte, 16)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.sess.skKey.Bytes, h("849B36C54FD1B759849B36C54FD1B759")) {
		t.Fatalf("session key %X", c.sess.skKey.Bytes)
	}
	v, err := c.GetVersion(ctx)
	if err != nil || !bytes.Equal(v.UID, h("04063F72633480")) || v.Hardware[0] != 0x04 {
		t.Fatalf("version %+v %v", v, err)
	}
	r.done()
}

// TestISOAuth3K3DES replays §3.6 (16-byte randoms, IV from the last 8
// bytes of E(RndB)).
func TestISOAuth3K3DES(t *testing.T) {
	c, r := card(t, [][2]string{
		{"1A00", "AF BC1C570BC948156187132364E4DCE176"},
		{"AF DDDC9A77597F03A40C7FAA362F45A8EADBE46A115D98198CBF36A6E51B39D87C", "00 7244D935ED9A1306CD8C841A7C1DE39A"},
	}, "36C5F8BF4A09AC239E8DA0C73251D4AB")
	if err := c.Authenticate(ctx, 0, Key{Type: TDES3, Bytes: make([]byte, 24)}); err != nil {
		t.Fatal(err)
	}
	sk := append([]byte{}, c.sess.skKey.Bytes...)
	for i := range sk {
		sk[i] &^= 1 // the vector prints the key with its parity (version) bits cleared
	}
	if !bytes.Equal(sk, h("36C4F8BE306E6C76AC229E8CF824BA303250D4AA643656A2")) {
		t.Fatalf("session key %X", sk)
	}
	r.done()
}

// TestLegacyAuth replays §3.7 (native 0x0A, DES key 0, RndA = 0).
func TestLegacyAuth(t *testing.T) {
	c, r := card(t, [][2]string{
		{"0A00", "AF A48300FB5E29FD78"},
		{"AF 8CA64DE9C1B123A7EDBFCE53486B6D00", "00 8CA64DE9C1B123A7"},
	}, "0000000000000000")
	if err := c.Authenticate(ctx, 0, Key{Type: DES, Bytes: make([]byte, 8)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.sess.skKey.Bytes, h("000000003BA4A29C")) || !c.sess.legacy {
		t.Fatalf("session key %X", c.sess.skKey.Bytes)
	}
	if _, err := c.GetValue(ctx, 1, MACed); err == nil {
		t.Fatal("MACed access in a legacy session must be refused, not sent unprotected")
	}
	r.done()
}

// TestWrongKeyAndTamperedAnswers: a card that does not hold the key, a
// forged MAC and an error status all end the session with a clear error.
func TestWrongKeyAndTamperedAnswers(t *testing.T) {
	// The card answers auth #1's E(RndB) but a RndA' made with another key.
	c, _ := card(t, [][2]string{
		{"AA00", "AF B969FDFE56FD91FC9DE6F6F213B8FD1E"},
		{"AF 36AAD7DF6E436BA08D18613830A70D5AD43E3D3F4A8D47541EEE623A934E4774", "00 00000000000000000000000000000000"},
	}, "F44B26F5686F3A391CD38EBD10772281")
	if err := c.Authenticate(ctx, 0, aesKey("00000000000000000000000000000000", 0)); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, ok := c.Authenticated(); ok {
		t.Fatal("session left open")
	}
	c, _ = card(t, [][2]string{
		{"AA01", "AF B351CB2465D4F33AC627FD6E87A168F2"},
		{"AF 044B6CAC343A0865895149649CA8DDE1F5AC4EC67BD208900AF02F049E05F0B0", "00 A2EE144B1012FBEB7B2F11132D95A454"},
		{"6F", "00 05 2D5FF67FFEC9D2D4"},
	}, "40E7D27174CBA675E8EFBAB99C530E3D")
	c.Authenticate(ctx, 1, aesKey("10182028303840485058606870788088", 0))
	if _, err := c.GetFileIDs(ctx); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("forged MAC: %v", err)
	}
	if _, ok := c.Authenticated(); ok {
		t.Fatal("session kept after a bad MAC")
	}
	c, _ = card(t, [][2]string{{"AA05", "40"}})
	var ce *CardError
	if err := c.Authenticate(ctx, 5, aesKey("00000000000000000000000000000000", 0)); !errors.As(err, &ce) || ce.Status != StatusNoSuchKey {
		t.Fatalf("no such key: %v", err)
	}
}

// TestISOWrapping: the same command as an ISO 7816-4 APDU.
func TestISOWrapping(t *testing.T) {
	c, r := card(t, [][2]string{
		{"905A00000316AE0000", "9100"},
		{"906A000000", "563412 9100"},
		{"90AA0000010000", "B969FDFE56FD91FC9DE6F6F213B8FD1E 91AF"},
	})
	c.Wrap = true
	if err := c.SelectApplication(ctx, 0x00AE16); err != nil {
		t.Fatal(err)
	}
	ids, err := c.GetApplicationIDs(ctx)
	if err != nil || len(ids) != 1 || ids[0] != 0x123456 {
		t.Fatalf("aids %v %v", ids, err)
	}
	if st, d, err := c.frame(ctx, 0xAA, []byte{0}); err != nil || st != 0xAF || len(d) != 16 {
		t.Fatalf("wrapped frame: %02X % X %v", st, d, err)
	}
	r.done()
}
