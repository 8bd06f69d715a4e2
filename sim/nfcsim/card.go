// Package nfcsim simulates the card side of a tap: DESFire EV1 cards
// (applications, keys, files, value files with transactions, EV1 secure
// messaging) and a PN532 that speaks real frames over a serial line, so
// the agent's reader code runs unchanged against it.
package nfcsim

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"math/rand/v2"
	"sync"

	"github.com/tapagent/tapagent/nfc/desfire"
)

// File is a standard data file, a backup data file or a value file on a
// simulated card.
type File struct {
	Type   byte // desfire.StdDataFile, desfire.BackupDataFile or desfire.ValueFile
	Comm   desfire.Comm
	Access desfire.Access
	Data   []byte
	// Value files.
	Value, Lower, Upper int32
	LimitedCredit       int32
	LimitedEnabled      bool

	pending int32  // uncommitted credit minus debit
	shadow  []byte // a backup file's uncommitted contents
	dirty   bool
}

// App is an application with AES keys.
type App struct {
	KeySettings byte
	Keys        []desfire.Key
	Files       map[byte]*File
}

// Card is a DESFire EV1 card. Its fields are the card's memory; use the
// methods while it is in a reader's field.
type Card struct {
	mu sync.Mutex
	// UID is the 7-byte UID; with RandomUID the anticollision shows a new
	// 4-byte random ID (08 ...) on every activation instead.
	UID       []byte
	RandomUID bool
	PICCKey   desfire.Key
	Apps      map[desfire.AID]*App
	// Silent, when it returns true for a command code, makes the card
	// leave the field just before that command: it never answers again
	// until it is put back (PutBack).
	Silent func(cmd byte) bool
	// Torn, when it returns true for a command code, cuts the card's power
	// after the command took effect and before its answer: the card
	// leaves the field without answering (a torn commit that did commit;
	// Silent is the one that did not).
	Torn func(cmd byte) bool

	gone bool
	rng  *rand.Rand
	sel  desfire.AID
	auth *cardSession
	cont *continuation
	log  []byte // command codes received, for tests
}

type cardSession struct {
	keyNo  byte
	key    desfire.Key
	sk     cipher.Block
	iv     []byte
	legacy bool
	// During authentication.
	step int
	code byte
	rndB []byte
	ebB  []byte
}

// continuation holds a multi-frame exchange: a long answer being sent, or
// a long command being collected.
type continuation struct {
	out   []byte // answer still to send (status comes last)
	split int    // size of the next answer frame when not maxOut
	in    []byte // command so far
	need  int    // total command length wanted
}

// NewCard returns a blank card (PICC master key DES zero, no
// applications) with a UID drawn from seed.
func NewCard(seed uint64) *Card {
	r := rand.New(rand.NewPCG(seed, seed^0x5DEECE66D))
	uid := make([]byte, 7)
	for i := range uid {
		uid[i] = byte(r.Uint32())
	}
	uid[0] = 0x04 // NXP
	return &Card{UID: uid, PICCKey: desfire.Key{Type: desfire.DES, Bytes: make([]byte, 8)},
		Apps: map[desfire.AID]*App{}, rng: r}
}

// Activation is what the card shows on InListPassiveTarget.
func (c *Card) Activation() (uid []byte, atqa [2]byte, sak byte, ats []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetSession()
	uid, atqa = c.UID, [2]byte{0x03, 0x44}
	if c.RandomUID {
		// A single-size UID: ATQA bits 7-8 are 00 (ISO 14443-3 §6.3.2).
		uid, atqa = []byte{0x08, byte(c.rng.Uint32()), byte(c.rng.Uint32()), byte(c.rng.Uint32())}, [2]byte{0x03, 0x04}
	}
	return uid, atqa, 0x20, []byte{0x06, 0x75, 0x77, 0x81, 0x02, 0x80}
}

// Gone reports whether the card has left the field.
func (c *Card) Gone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

// PutBack returns a card that left the field.
func (c *Card) PutBack() {
	c.mu.Lock()
	c.gone = false
	c.mu.Unlock()
}

// Commands returns the command codes the card has received.
func (c *Card) Commands() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte{}, c.log...)
}

// Value reads a value file's committed value (for tests and the bench).
func (c *Card) Value(aid desfire.AID, file byte) (int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.Apps[aid]
	if !ok || a.Files[file] == nil {
		return 0, false
	}
	return a.Files[file].Value, true
}

// Data reads a data file's committed contents (for tests).
func (c *Card) Data(aid desfire.AID, file byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.Apps[aid]
	if !ok || a.Files[file] == nil {
		return nil, false
	}
	return append([]byte{}, a.Files[file].Data...), true
}

// SetValue overwrites a value file's committed value, as another
// terminal (a charger) would have left it.
func (c *Card) SetValue(aid desfire.AID, file byte, v int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.Apps[aid]; ok && a.Files[file] != nil {
		a.Files[file].Value = v
	}
}

// resetSession is what deselection and a new activation do: the session
// and any uncommitted transaction are gone.
func (c *Card) resetSession() {
	c.auth, c.cont, c.sel = nil, nil, 0
	c.abort()
}

func (c *Card) abort() {
	for _, a := range c.Apps {
		for _, f := range a.Files {
			f.pending, f.shadow, f.dirty = 0, nil, false
		}
	}
}

// Handle answers one frame (native, or an ISO 7816-4 APDU with CLA 90);
// nil means the card did not answer (it left the field).
func (c *Card) Handle(frame []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || len(frame) == 0 {
		return nil
	}
	wrapped := len(frame) >= 5 && frame[0] == 0x90 && frame[2] == 0 && frame[3] == 0
	native := frame
	if wrapped {
		native = []byte{frame[1]}
		if len(frame) > 5 {
			native = append(native, frame[5:5+int(frame[4])]...)
		}
	}
	if c.Silent != nil && c.Silent(native[0]) {
		c.gone = true
		c.resetSession()
		return nil
	}
	c.log = append(c.log, native[0])
	out := c.dispatch(native)
	if c.Torn != nil && c.Torn(native[0]) {
		c.gone = true
		c.resetSession()
		return nil
	}
	if wrapped {
		return append(append([]byte{}, out[1:]...), 0x91, out[0])
	}
	return out
}

func status(s byte, data ...byte) []byte { return append([]byte{s}, data...) }

// fail ends the session, as a real card does on any error.
func (c *Card) fail(s byte) []byte {
	c.auth, c.cont = nil, nil
	return status(s)
}

// maxOut is the most answer data per frame.
const maxOut = 59

// send answers data, in several frames when long.
func (c *Card) send(data []byte) []byte {
	if len(data) <= maxOut {
		return status(desfire.StatusOK, data...)
	}
	c.cont = &continuation{out: data[maxOut:]}
	return status(desfire.StatusAdditionalFrame, data[:maxOut]...)
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func (c *Card) random(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(c.rng.Uint32())
	}
	return b
}

func rotl(b []byte) []byte { return append(append([]byte{}, b[1:]...), b[0]) }

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// AddApp writes an application straight into the card's memory, as a
// card issued elsewhere would arrive: keys (AES) and files.
func (c *Card) AddApp(aid desfire.AID, keySettings byte, keys []desfire.Key, files map[byte]*File) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fs := map[byte]*File{}
	for no, f := range files {
		cp := *f
		cp.Data = append([]byte{}, f.Data...)
		fs[no] = &cp
	}
	c.Apps[aid] = &App{KeySettings: keySettings, Keys: append([]desfire.Key{}, keys...), Files: fs}
}
