// Package cardapp is tapagent's application on a DESFire card: where a
// customer's or staff member's card keeps its type, name, expiry, alcohol
// permission, servings limit, consumed servings and prepaid credit, which
// key may do what, and the operations a tap and a charger perform on it.
//
// Layout (AES keys, all files in one application, default AID 0x7A7001):
//
//	key 0  issuer   format the application, change keys, delete files
//	key 1  tap      read info and credit, debit credit, count servings
//	key 2  charger  write info, top up credit, reset servings
//
//	file 1  info      standard data, 64 bytes, enciphered; read 1, write 2
//	file 2  credit    value (cents), MACed, 0..10,000,000; read/debit 1,
//	                  credit 2, limited credit (refund of the last debit) 1
//	file 3  servings  value, MACed; read 1, count (credit) 1, reset (debit) 2
//	file 4  last pour backup data, 32 bytes, MACed; read and write 1
//
// File 4 (layout 2; cards issued with layout 1 have none) holds a count
// of the charges made (4 bytes LE, wrapping) and the ids of the last
// pours charged, newest first, each as its length and its bytes, as many
// as fit in the other 28. It is written in the same DESFire transaction as
// the debit and the servings count, and backup files commit atomically
// with value files, so after a lost or torn CommitTransaction the card
// itself says whether the pour was charged, and the count how many
// charges came since (only the tap key writes file 4; the servings
// counter, which staff may reset, cannot tell that).
//
// Info file: [0] layout version (1 or 2), [1] card type (the TTG numbers), [2]
// flags (bit 0 alcohol allowed), [3:5] servings limit (LE, 0 = none), [5:9]
// expiry as YYYYMMDD (LE, 0 = never), [9:41] name (UTF-8, NUL padded).
package cardapp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/tapagent/tapagent/nfc/desfire"
)

// File numbers and sizes.
const (
	FileInfo     = 1
	FileCredit   = 2
	FileServings = 3
	FileLastPour = 4
	infoSize     = 64
	infoUsed     = 9 + nameSize // the bytes a tap reads: 48 enciphered instead of 80
	nameSize     = 32
	lastPourSize = 32
	chargesSize  = 4 // file 4's charge count, in front of the ids
	// MaxCredit is the credit file's upper limit in minor units.
	MaxCredit = 10_000_000
	layoutV1  = 1 // info, credit, servings
	layoutV2  = 2 // and the last-pour backup file
)

// Key numbers.
const (
	KeyIssuer  = 0
	KeyTap     = 1
	KeyCharger = 2
)

// DefaultAID is tapagent's application id.
const DefaultAID desfire.AID = 0x7A7001

// Keys are what a tap or a charger holds. A tap needs Tap only; a charger
// Charger; the issuer tool all of them and the PICC master key.
type Keys struct {
	AID     desfire.AID
	PICC    desfire.Key
	Issuer  desfire.Key
	Tap     desfire.Key
	Charger desfire.Key
	// Diversify derives each card's own keys (AN10922) from these with
	// UID || AID || SystemID, so one card's keys open no other card.
	Diversify bool
	SystemID  []byte
}

// key returns the key to use on this card.
func (k Keys) key(base desfire.Key, uid []byte) (desfire.Key, error) {
	if !k.Diversify {
		return base, nil
	}
	if len(uid) != 7 {
		return desfire.Key{}, fmt.Errorf("cardapp: diversified keys need the 7-byte UID (have %d bytes; random-UID cards need undiversified keys)", len(uid))
	}
	aid := k.AID
	in := append(append(append([]byte{}, uid...), byte(aid), byte(aid>>8), byte(aid>>16)), k.SystemID...)
	return desfire.Diversify(base, in)
}

// Info is the info file.
type Info struct {
	Type          int
	Name          string
	Alcohol       bool
	ServingsLimit int
	// Expires is the last day the card may be used (zero: never).
	Expires time.Time
}

// Encode lays the info out in the file's 64 bytes.
func (i Info) Encode() ([]byte, error) {
	if i.Type < 0 || i.Type > 255 {
		return nil, fmt.Errorf("cardapp: card type %d out of range", i.Type)
	}
	if i.ServingsLimit < 0 || i.ServingsLimit > 0xFFFF {
		return nil, fmt.Errorf("cardapp: servings limit %d out of range", i.ServingsLimit)
	}
	if len(i.Name) > nameSize || strings.ContainsRune(i.Name, 0) {
		return nil, fmt.Errorf("cardapp: name longer than %d bytes or with NUL", nameSize)
	}
	b := make([]byte, infoSize)
	b[0], b[1] = layoutV2, byte(i.Type)
	if i.Alcohol {
		b[2] |= 1
	}
	binary.LittleEndian.PutUint16(b[3:], uint16(i.ServingsLimit))
	if !i.Expires.IsZero() {
		y, m, d := i.Expires.Date()
		binary.LittleEndian.PutUint32(b[5:], uint32(y*10000+int(m)*100+d))
	}
	copy(b[9:], i.Name)
	return b, nil
}

// DecodeInfo reads the info file; anything it cannot trust is an error.
func DecodeInfo(b []byte) (Info, error) {
	if len(b) < 9+nameSize {
		return Info{}, fmt.Errorf("cardapp: info of %d bytes", len(b))
	}
	if b[0] != layoutV1 && b[0] != layoutV2 {
		return Info{}, fmt.Errorf("cardapp: info layout %d is not one this agent knows", b[0])
	}
	i := Info{Type: int(b[1]), Alcohol: b[2]&1 != 0, ServingsLimit: int(binary.LittleEndian.Uint16(b[3:]))}
	if e := binary.LittleEndian.Uint32(b[5:]); e != 0 {
		y, m, d := int(e/10000), time.Month(e/100%100), int(e%100)
		if m < 1 || m > 12 || d < 1 || d > 31 {
			return Info{}, fmt.Errorf("cardapp: expiry %d is not a date", e)
		}
		i.Expires = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	i.Name = strings.TrimRight(string(b[9:9+nameSize]), "\x00")
	return i, nil
}

// Expired reports whether the card's last day is before now's date.
func (i Info) Expired(now time.Time) bool {
	if i.Expires.IsZero() {
		return false
	}
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return today.After(i.Expires)
}

// Card is what a tap reads.
type Card struct {
	UID      []byte
	Info     Info
	Credit   int64
	Servings int64
	// ServingsRead: Servings was read (ReadFor may skip it).
	ServingsRead bool
	// LastPourFile: the card has file 4 (layout 2), so a lost commit is
	// decided by the pour id it holds rather than by the counters.
	LastPourFile bool
	// Last is file 4 when LastRead (ReadFor does not read it; a charge
	// does, before it is sent).
	Last     LastPours
	LastRead bool
}

// LastPours is file 4: how many charges the card took (a wrapping count:
// differences are taken modulo 2³²) and the ids of the newest, newest
// first.
type LastPours struct {
	Charges uint32
	IDs     []string
}

// After is file 4 once pourID is charged: one more charge, its id in front.
func (l LastPours) After(pourID string) LastPours {
	return LastPours{Charges: l.Charges + 1, IDs: append([]string{pourID}, l.IDs...)}
}

// Since is how many charges the card took after the count was before.
func (l LastPours) Since(before uint32) uint32 { return l.Charges - before }

// Encode lays file 4 out: the charge count, then the pour ids, newest
// first, each as its length and its bytes, as many as fit in the 32
// bytes (the oldest are dropped), zero padding after.
func (l LastPours) Encode() ([]byte, error) {
	if len(l.IDs) == 0 {
		return nil, errors.New("cardapp: no pour id for the last-pour file")
	}
	b := binary.LittleEndian.AppendUint32(make([]byte, 0, lastPourSize), l.Charges)
	for i, id := range l.IDs {
		if id == "" || len(id) > lastPourSize-chargesSize-1 || strings.ContainsRune(id, 0) {
			return nil, fmt.Errorf("cardapp: pour id %q does not fit the last-pour file", id)
		}
		if len(b)+1+len(id) > lastPourSize {
			if i == 0 {
				return nil, fmt.Errorf("cardapp: pour id %q does not fit the last-pour file", id)
			}
			break
		}
		b = append(append(b, byte(len(id))), id...)
	}
	return append(b, make([]byte, lastPourSize-len(b))...), nil
}

// DecodeLastPours reads file 4: the charge count and the ids of the
// last pours charged, newest first; none on a card that never poured.
func DecodeLastPours(b []byte) (LastPours, error) {
	if len(b) != lastPourSize {
		return LastPours{}, fmt.Errorf("cardapp: last-pour file of %d bytes", len(b))
	}
	l := LastPours{Charges: binary.LittleEndian.Uint32(b)}
	i := chargesSize
	for i < len(b) && b[i] != 0 {
		n := int(b[i])
		if i+1+n > len(b) {
			return LastPours{}, fmt.Errorf("cardapp: last-pour entry of %d bytes at %d overruns the file", n, i)
		}
		id := string(b[i+1 : i+1+n])
		if strings.ContainsRune(id, 0) {
			return LastPours{}, errors.New("cardapp: last-pour id with NUL")
		}
		l.IDs = append(l.IDs, id)
		i += 1 + n
	}
	for _, c := range b[i:] {
		if c != 0 {
			return LastPours{}, errors.New("cardapp: last-pour file has bytes after its ids")
		}
	}
	return l, nil
}

// UIDDecimal prints a UID as a decimal number, as TTG expects, in the
// given byte order ("big-endian", the default, or "little-endian").
func UIDDecimal(uid []byte, order string) (string, error) {
	b := append([]byte{}, uid...)
	switch order {
	case "", "big-endian":
	case "little-endian":
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	default:
		return "", fmt.Errorf("cardapp: UID byte order %q is not big-endian or little-endian", order)
	}
	return new(big.Int).SetBytes(b).String(), nil
}

// Session is an open card: selected application and a key's session.
type Session struct {
	C    *desfire.Card
	UID  []byte
	Keys Keys
}

// open selects the application and authenticates with base (diversified
// for this card when configured). A random-UID card's real UID is read
// once authenticated.
func (s *Session) open(ctx context.Context, keyNo byte, base desfire.Key) error {
	if err := s.C.SelectApplication(ctx, s.Keys.AID); err != nil {
		return fmt.Errorf("cardapp: not a tapagent card: %w", err)
	}
	k, err := s.Keys.key(base, s.UID)
	if err != nil {
		return err
	}
	if err := s.C.Authenticate(ctx, keyNo, k); err != nil {
		return fmt.Errorf("cardapp: key %d: %w", keyNo, err)
	}
	if RandomUID(s.UID) {
		uid, err := s.C.GetCardUID(ctx)
		if err != nil {
			return fmt.Errorf("cardapp: real UID of a random-UID card: %w", err)
		}
		s.UID = uid
	}
	return nil
}

// RandomUID reports whether an anticollision UID is a random ID (4 bytes
// starting 08, ISO 14443-3): the card's identity is then GetCardUID's.
func RandomUID(uid []byte) bool { return len(uid) == 4 && uid[0] == 0x08 }

// Transient tells an error worth one more try on a card that may still
// be there (an RF glitch, a CRC error, a lost answer) from the card's own
// refusals and failed integrity checks, which a retry would not change.
func Transient(err error) bool {
	var ce *desfire.CardError
	return err != nil && !errors.As(err, &ce) && !errors.Is(err, desfire.ErrIntegrity) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Read is a tap's read: info, credit and consumed servings, with the tap
// key; the session stays open for Charge.
func (s *Session) Read(ctx context.Context) (Card, error) { return s.ReadFor(ctx, true) }

// ReadFor is Read that may skip the servings counter (one round trip) when
// the caller needs it only for a card with a servings limit; the counter is
// then read only if the card has one. A single glitch (RF or CRC error,
// lost answer) while authenticating or reading is retried once from the
// selection: none of these commands changes the card.
func (s *Session) ReadFor(ctx context.Context, servings bool) (Card, error) {
	c, err := s.read(ctx, servings)
	if Transient(err) {
		c, err = s.read(ctx, servings)
	}
	return c, err
}

func (s *Session) read(ctx context.Context, servings bool) (Card, error) {
	if err := s.open(ctx, KeyTap, s.Keys.Tap); err != nil {
		return Card{}, err
	}
	raw, err := s.C.ReadData(ctx, FileInfo, desfire.Enciphered, 0, infoUsed)
	if err != nil {
		return Card{}, fmt.Errorf("cardapp: info: %w", err)
	}
	info, err := DecodeInfo(raw)
	if err != nil {
		return Card{}, err
	}
	credit, err := s.C.GetValue(ctx, FileCredit, desfire.MACed)
	if err != nil {
		return Card{}, fmt.Errorf("cardapp: credit: %w", err)
	}
	c := Card{UID: s.UID, Info: info, Credit: int64(credit), LastPourFile: raw[0] == layoutV2}
	if servings || info.ServingsLimit > 0 {
		if c.Servings, err = s.Servings(ctx); err != nil {
			return Card{}, err
		}
		c.ServingsRead = true
	}
	return c, nil
}

// Servings reads the consumed-servings counter in the open session.
func (s *Session) Servings(ctx context.Context) (int64, error) {
	n, err := s.C.GetValue(ctx, FileServings, desfire.MACed)
	if err != nil {
		return 0, fmt.Errorf("cardapp: servings: %w", err)
	}
	return int64(n), nil
}

// Credit reads the credit in the open session (a tap's presence check).
func (s *Session) Credit(ctx context.Context) (int64, error) {
	v, err := s.C.GetValue(ctx, FileCredit, desfire.MACed)
	if err != nil {
		return 0, fmt.Errorf("cardapp: credit: %w", err)
	}
	return int64(v), nil
}

// LastPours reads file 4 (the charge count and the ids of the last pours
// charged, newest first) in the open session.
func (s *Session) LastPours(ctx context.Context) (LastPours, error) {
	raw, err := s.C.ReadData(ctx, FileLastPour, desfire.MACed, 0, lastPourSize)
	if err != nil {
		return LastPours{}, fmt.Errorf("cardapp: last pours: %w", err)
	}
	return DecodeLastPours(raw)
}

// Reopen opens a new tap session on the same card after the old one ended
// (any error ends a DESFire session, and with it any uncommitted change):
// one more try after a single glitch.
func (s *Session) Reopen(ctx context.Context) error {
	err := s.open(ctx, KeyTap, s.Keys.Tap)
	if Transient(err) {
		err = s.open(ctx, KeyTap, s.Keys.Tap)
	}
	return err
}

// ErrCommitUnknown is a CommitTransaction whose answer never came: the
// card may or may not have taken the debit. The next read of the card's
// credit tells which.
var ErrCommitUnknown = errors.New("cardapp: commit sent, answer lost")

// Charge debits amount, counts servings and, on a card with the
// last-pour file, counts the charge there and adds pourID in front of the
// ids, all in one card transaction, in the session Read opened. File 4 is
// taken from c when c.LastRead (the caller journaled its count), else
// read. No command is ever sent twice.
// Before the commit is sent a failure means nothing was charged (the
// uncommitted changes die with the session); after, ErrCommitUnknown: the
// card decides (Reopen, then LastPours or the counters).
func (s *Session) Charge(ctx context.Context, c Card, pourID string, amount, servings int64) error {
	if amount < 0 || amount > MaxCredit || servings < 0 || servings > 0xFFFF {
		return fmt.Errorf("cardapp: charge %d / %d servings out of range", amount, servings)
	}
	if amount == 0 && servings == 0 {
		return nil
	}
	var last []byte
	if c.LastPourFile {
		l, err := c.Last, error(nil)
		if !c.LastRead {
			if l, err = s.LastPours(ctx); err != nil {
				return err
			}
		}
		if last, err = l.After(pourID).Encode(); err != nil {
			return err
		}
	}
	if amount > 0 {
		if err := s.C.Debit(ctx, FileCredit, desfire.MACed, int32(amount)); err != nil {
			return fmt.Errorf("cardapp: debit: %w", err)
		}
	}
	if servings > 0 {
		if err := s.C.Credit(ctx, FileServings, desfire.MACed, int32(servings)); err != nil {
			return fmt.Errorf("cardapp: servings: %w", err)
		}
	}
	if last != nil {
		if err := s.C.WriteData(ctx, FileLastPour, desfire.MACed, 0, last); err != nil {
			return fmt.Errorf("cardapp: last pour: %w", err)
		}
	}
	if err := s.C.CommitTransaction(ctx); err != nil {
		var ce *desfire.CardError
		if errors.As(err, &ce) {
			return fmt.Errorf("cardapp: commit refused: %w", err)
		}
		return fmt.Errorf("%w: %w", ErrCommitUnknown, err)
	}
	return nil
}
