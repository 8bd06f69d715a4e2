package cardapp

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tapagent/tapagent/nfc/desfire"
)

// Application key settings: the master key may change keys, files are
// listed and created only with it, the configuration may be changed.
const appKeySettings = 0x0B

// Access rights of the three files (see the package comment).
var (
	infoAccess     = desfire.Access{Read: KeyTap, Write: KeyCharger, ReadWrite: KeyIssuer, Change: KeyIssuer}
	creditAccess   = desfire.Access{Read: KeyTap, Write: KeyTap, ReadWrite: KeyCharger, Change: KeyIssuer}
	servingsAccess = desfire.Access{Read: KeyTap, Write: KeyCharger, ReadWrite: KeyTap, Change: KeyIssuer}
	lastPourAccess = desfire.Access{Read: KeyTap, Write: KeyTap, ReadWrite: KeyIssuer, Change: KeyIssuer}
)

// Format deletes every application on the card (PICC master key).
func (s *Session) Format(ctx context.Context) error {
	if err := s.C.SelectApplication(ctx, 0); err != nil {
		return err
	}
	if err := s.C.Authenticate(ctx, 0, s.Keys.PICC); err != nil {
		return fmt.Errorf("cardapp: PICC master key: %w", err)
	}
	return s.C.FormatPICC(ctx)
}

// Erase removes tapagent's application, leaving others on the card.
func (s *Session) Erase(ctx context.Context) error {
	if err := s.C.SelectApplication(ctx, 0); err != nil {
		return err
	}
	if err := s.C.Authenticate(ctx, 0, s.Keys.PICC); err != nil {
		return fmt.Errorf("cardapp: PICC master key: %w", err)
	}
	return s.C.DeleteApplication(ctx, s.Keys.AID)
}

// Issue creates the application on a card: keys, files, info and the
// starting credit. The application's keys start as AES zero and are set
// last but one, the issuer key last (which ends the session). A random-UID
// card's real UID is read with GetCardUID as soon as the new application's
// issuer key is authenticated, and it is that UID s.UID holds afterwards.
func (s *Session) Issue(ctx context.Context, info Info, credit int64) error {
	raw, err := info.Encode()
	if err != nil {
		return err
	}
	if credit < 0 || credit > MaxCredit {
		return fmt.Errorf("cardapp: starting credit %d out of range", credit)
	}
	keys := map[byte]desfire.Key{}
	for no, base := range map[byte]desfire.Key{KeyIssuer: s.Keys.Issuer, KeyTap: s.Keys.Tap, KeyCharger: s.Keys.Charger} {
		if keys[no], err = s.Keys.key(base, s.UID); err != nil {
			return err
		}
	}
	zero := desfire.Key{Type: desfire.AES, Bytes: make([]byte, 16)}
	steps := []func() error{
		func() error { return s.C.SelectApplication(ctx, 0) },
		func() error { return s.C.Authenticate(ctx, 0, s.Keys.PICC) },
		func() error { return s.C.CreateApplication(ctx, s.Keys.AID, appKeySettings, 3) },
		func() error { return s.C.SelectApplication(ctx, s.Keys.AID) },
		func() error { return s.C.Authenticate(ctx, KeyIssuer, zero) },
		func() error {
			if !RandomUID(s.UID) {
				return nil
			}
			uid, err := s.C.GetCardUID(ctx)
			if err == nil {
				s.UID = uid
			}
			return err
		},
		func() error { return s.C.CreateStdDataFile(ctx, FileInfo, desfire.Enciphered, infoAccess, infoSize) },
		func() error {
			return s.C.CreateValueFile(ctx, FileCredit, desfire.MACed, creditAccess, 0, MaxCredit, int32(credit), true)
		},
		func() error {
			return s.C.CreateValueFile(ctx, FileServings, desfire.MACed, servingsAccess, 0, 1<<30, 0, false)
		},
		func() error {
			return s.C.CreateBackupDataFile(ctx, FileLastPour, desfire.MACed, lastPourAccess, lastPourSize)
		},
		func() error { return s.C.ChangeKey(ctx, KeyTap, keys[KeyTap], zero) },
		func() error { return s.C.ChangeKey(ctx, KeyCharger, keys[KeyCharger], zero) },
		func() error { return s.C.Authenticate(ctx, KeyCharger, keys[KeyCharger]) },
		func() error { return s.C.WriteData(ctx, FileInfo, desfire.Enciphered, 0, raw) },
		func() error { return s.C.SelectApplication(ctx, s.Keys.AID) },
		func() error { return s.C.Authenticate(ctx, KeyIssuer, zero) },
		func() error { return s.C.ChangeKey(ctx, KeyIssuer, keys[KeyIssuer], desfire.Key{}) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("cardapp: issue step %d: %w", i+1, err)
		}
	}
	return nil
}

// TopUp adds amount to the credit with the charger key and returns the new
// credit. The credit is read first, so a commit whose answer is lost is
// decided on the card (one more session) rather than guessed or sent
// again: the top-up either shows on the card or it is reported as not
// done.
func (s *Session) TopUp(ctx context.Context, amount int64) (int64, error) {
	if amount <= 0 || amount > MaxCredit {
		return 0, fmt.Errorf("cardapp: top-up %d out of range", amount)
	}
	if err := s.open(ctx, KeyCharger, s.Keys.Charger); err != nil {
		return 0, err
	}
	// GetValue is allowed to the file's read, write and read-write keys.
	before, err := s.C.GetValue(ctx, FileCredit, desfire.MACed)
	if err != nil {
		return 0, fmt.Errorf("cardapp: credit before the top-up: %w", err)
	}
	if int64(before)+amount > MaxCredit {
		return 0, fmt.Errorf("cardapp: top-up %d over the card's limit (credit %d, at most %d)", amount, before, MaxCredit)
	}
	if err := s.C.Credit(ctx, FileCredit, desfire.MACed, int32(amount)); err != nil {
		return 0, fmt.Errorf("cardapp: credit: %w", err)
	}
	commitErr := s.C.CommitTransaction(ctx)
	var ce *desfire.CardError
	if errors.As(commitErr, &ce) {
		return 0, fmt.Errorf("cardapp: commit refused: %w", commitErr)
	}
	if commitErr != nil {
		if err := s.open(ctx, KeyCharger, s.Keys.Charger); err != nil {
			return 0, fmt.Errorf("%w: the card cannot be asked (%v): read it before topping up again", ErrCommitUnknown, err)
		}
	}
	v, err := s.C.GetValue(ctx, FileCredit, desfire.MACed)
	switch {
	case err != nil:
		return 0, fmt.Errorf("cardapp: credit after top-up: %w", err)
	case commitErr != nil && int64(v) == int64(before):
		return 0, fmt.Errorf("cardapp: top-up not done (the commit never took effect; credit still %d): %w", v, commitErr)
	case commitErr != nil && int64(v) != int64(before)+amount:
		return 0, fmt.Errorf("%w: credit went from %d to %d: read the card", ErrCommitUnknown, before, v)
	}
	return int64(v), nil
}

// Upgrade gives a card of the first layout the last-pour file (file 4,
// empty: no charge counted yet) and marks its info layout 2, with the
// application's master key (issuer). It reports whether the card
// changed: a card that has file 4 already is left as it is, and an
// upgrade torn between its two steps is finished by running it again.
// Credit, servings, info and keys are untouched.
func (s *Session) Upgrade(ctx context.Context) (bool, error) {
	if err := s.open(ctx, KeyIssuer, s.Keys.Issuer); err != nil {
		return false, err
	}
	raw, err := s.C.ReadData(ctx, FileInfo, desfire.Enciphered, 0, infoSize)
	if err != nil {
		return false, fmt.Errorf("cardapp: info: %w", err)
	}
	if _, err := DecodeInfo(raw); err != nil {
		return false, err
	}
	if raw[0] == layoutV2 {
		return false, nil
	}
	files, err := s.C.GetFileIDs(ctx)
	if err != nil {
		return false, fmt.Errorf("cardapp: files: %w", err)
	}
	// File 4 first: a card whose info says layout 2 must have it.
	if !slices.Contains(files, FileLastPour) {
		if err := s.C.CreateBackupDataFile(ctx, FileLastPour, desfire.MACed, lastPourAccess, lastPourSize); err != nil {
			return false, fmt.Errorf("cardapp: last-pour file: %w", err)
		}
	}
	raw[0] = layoutV2
	if err := s.C.WriteData(ctx, FileInfo, desfire.Enciphered, 0, raw); err != nil {
		return false, fmt.Errorf("cardapp: info layout: %w", err)
	}
	return true, nil
}
